//! The login codes guests ask for with `/login`: one row per code, tied to the message that
//! asked for it (so a retried turn sends no second email) and to the message that used it.

use sqlx::{AnyConnection, AnyPool};

/// The code a message asked for, if it was handled before (a retried turn).
#[derive(sqlx::FromRow)]
pub(in crate::access) struct Earlier {
    pub(in crate::access) id: String,
    pub(in crate::access) state: String,
}

pub(in crate::access) async fn code_for_message(db: &AnyPool, message_id: &str) -> sqlx::Result<Option<Earlier>> {
    sqlx::query_as("SELECT id, state FROM login_codes WHERE message_id = $1").bind(message_id).fetch_optional(db).await
}

/// What a count of recent codes is limited by.
#[derive(Debug, Clone, Copy)]
pub(in crate::access) enum Asker<'a> {
    /// Every code of the organization.
    Organization,
    /// The codes one number asked for.
    Number(&'a str),
    /// The codes sent to one address.
    Email(&'a str),
}

/// How many codes the organization created after `since`, for one asker.
pub(in crate::access) async fn codes_since(
    db: &AnyPool,
    org_id: &str,
    asker: Asker<'_>,
    since: i64,
) -> sqlx::Result<i64> {
    let (clause, value) = match asker {
        Asker::Organization => ("", None),
        Asker::Number(n) => (" AND guest_address = $3", Some(n)),
        Asker::Email(e) => (" AND email = $3", Some(e)),
    };
    let sql = format!("SELECT COUNT(*) FROM login_codes WHERE org_id = $1 AND created_at > $2{clause}");
    let mut q = sqlx::query_as::<_, (i64,)>(&sql).bind(org_id).bind(since);
    if let Some(v) = value {
        q = q.bind(v);
    }
    Ok(q.fetch_one(db).await?.0)
}

/// A code about to be sent: created `unsent` (its hash comes with the code), and the number's
/// earlier open code replaced (only the newest works).
pub(in crate::access) struct NewCode<'a> {
    pub(in crate::access) id: &'a str,
    pub(in crate::access) org_id: &'a str,
    pub(in crate::access) guest_address: &'a str,
    pub(in crate::access) email: &'a str,
    pub(in crate::access) message_id: &'a str,
    pub(in crate::access) expires_at: i64,
}

pub(in crate::access) async fn create_code(tx: &mut AnyConnection, c: NewCode<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE login_codes SET state = 'replaced' WHERE org_id = $1 AND guest_address = $2 AND state = 'open'",
    )
    .bind(c.org_id)
    .bind(c.guest_address)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO login_codes (id, org_id, guest_address, email, code_hash, message_id, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, '', $5, 'unsent', $6, $7)",
    )
    .bind(c.id)
    .bind(c.org_id)
    .bind(c.guest_address)
    .bind(c.email)
    .bind(c.message_id)
    .bind(now)
    .bind(c.expires_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Stores the (keyed) hash of the code about to be emailed, and when it expires.
pub(in crate::access) async fn set_code_hash(
    tx: &mut AnyConnection,
    id: &str,
    hash: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE login_codes SET code_hash = $1, expires_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(expires_at)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// The email went out: the code may be used.
pub(in crate::access) async fn mark_sent(tx: &mut AnyConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE login_codes SET state = 'open' WHERE id = $1 AND state = 'unsent'")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// The address a message verified, if it did (a retried turn).
pub(in crate::access) async fn verified_by(db: &AnyPool, message_id: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT email FROM login_codes WHERE consumed_by = $1")
        .bind(message_id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(email,)| email))
}

/// The number's newest code that is open or spent.
#[derive(sqlx::FromRow)]
pub(in crate::access) struct Latest {
    pub(in crate::access) id: String,
    pub(in crate::access) email: String,
    pub(in crate::access) code_hash: String,
    pub(in crate::access) state: String,
    pub(in crate::access) attempts: i64,
    pub(in crate::access) expires_at: i64,
}

pub(in crate::access) async fn latest_code(
    db: &AnyPool,
    org_id: &str,
    guest_address: &str,
) -> sqlx::Result<Option<Latest>> {
    sqlx::query_as(
        "SELECT id, email, code_hash, state, attempts, expires_at FROM login_codes \
         WHERE org_id = $1 AND guest_address = $2 AND state IN ('open', 'spent') ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(org_id)
    .bind(guest_address)
    .fetch_optional(db)
    .await
}

/// Counts a wrong try; the code is spent after `max`.
pub(in crate::access) async fn wrong_try(tx: &mut AnyConnection, id: &str, max: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE login_codes SET attempts = attempts + 1, state = CASE WHEN attempts + 1 >= $1 THEN 'spent' ELSE state END \
         WHERE id = $2",
    )
    .bind(max)
    .bind(id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Uses an open code for the message; false when it is no longer open.
pub(in crate::access) async fn use_code(tx: &mut AnyConnection, id: &str, message_id: &str) -> sqlx::Result<bool> {
    let used = sqlx::query("UPDATE login_codes SET state = 'used', consumed_by = $1 WHERE id = $2 AND state = 'open'")
        .bind(message_id)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(used.rows_affected() > 0)
}
