//! The rows of privacy: what an organization holds of a guest (found by their addresses, on
//! WhatsApp and SMS), its deletion, the `/forget` requests and the organization's choice.

use app::privacy::Forgotten;
use sqlx::{AnyConnection, AnyPool};

/// The organization's conversations with a guest, by any of their addresses.
const CONVERSATIONS: &str = "SELECT cv.id FROM conversations cv JOIN numbers n ON n.id = cv.number_id \
     JOIN connectors c ON c.id = n.connector_id WHERE c.org_id = $1 AND cv.guest_address IN ($2, $3)";

/// Conversations and messages the organization holds of a guest.
pub(super) async fn held(db: &AnyPool, org_id: &str, addresses: &[String; 2]) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(&format!(
        "SELECT COUNT(DISTINCT cv.id), COUNT(m.id) FROM conversations cv \
         LEFT JOIN messages m ON m.conversation_id = cv.id WHERE cv.id IN ({CONVERSATIONS})"
    ))
    .bind(org_id)
    .bind(&addresses[0])
    .bind(&addresses[1])
    .fetch_one(db)
    .await
}

/// The guest's conversation, with its organization's id and the guest's address.
pub(super) async fn guest_of(db: &AnyPool, conversation_id: &str) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as(
        "SELECT c.org_id, cv.guest_address FROM conversations cv JOIN numbers n ON n.id = cv.number_id \
         JOIN connectors c ON c.id = n.connector_id WHERE cv.id = $1",
    )
    .bind(conversation_id)
    .fetch_optional(db)
    .await
}

/// Every identity the organization's conversations tie to the guest at `addresses`: a guest
/// WhatsApp knows by a user id may have written from a phone number and as the user id, in one
/// conversation. Each as its two spellings (with and without `whatsapp:`), the given one first.
pub(super) async fn identities(
    tx: &mut AnyConnection,
    org_id: &str,
    addresses: &[String; 2],
) -> sqlx::Result<Vec<[String; 2]>> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT cv.guest_address, cv.guest_user_id FROM conversations cv JOIN numbers n ON n.id = cv.number_id \
         JOIN connectors c ON c.id = n.connector_id WHERE c.org_id = $1 \
         AND (cv.guest_address IN ($2, $3) OR cv.guest_user_id IN ($2, $3))",
    )
    .bind(org_id)
    .bind(&addresses[0])
    .bind(&addresses[1])
    .fetch_all(&mut *tx)
    .await?;
    let mut found = vec![addresses.clone()];
    for address in rows.into_iter().flat_map(|(address, user)| std::iter::once(address).chain(user)) {
        let spelled = super::addresses(&address);
        if !found.contains(&spelled) {
            found.push(spelled);
        }
    }
    Ok(found)
}

/// `q` with the organization as `$1` and the guest's two addresses as `$2` and `$3`.
fn bound<'q>(
    q: &'q str,
    org_id: &str,
    addresses: &[String; 2],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(q).bind(org_id.to_string()).bind(addresses[0].clone()).bind(addresses[1].clone())
}

/// Deletes what the organization holds of a guest: their conversations (with their messages,
/// media, execution records, turns and queued replies, by the schema's cascades; the search
/// indexes by their triggers), verified emails, login codes, access requests and the shared-list
/// entries those requests added. Returns what went, the conversations' ids and the media files'
/// ids (to remove from the data folder once this commits).
pub(super) async fn forget(
    tx: &mut AnyConnection,
    org_id: &str,
    addresses: &[String; 2],
) -> sqlx::Result<(Forgotten, Vec<String>, Vec<String>)> {
    let conversations: Vec<(String,)> =
        sqlx::query_as(CONVERSATIONS).bind(org_id).bind(&addresses[0]).bind(&addresses[1]).fetch_all(&mut *tx).await?;
    let conversations: Vec<String> = conversations.into_iter().map(|(id,)| id).collect();
    let (messages,): (i64,) =
        sqlx::query_as(&format!("SELECT COUNT(*) FROM messages WHERE conversation_id IN ({CONVERSATIONS})"))
            .bind(org_id)
            .bind(&addresses[0])
            .bind(&addresses[1])
            .fetch_one(&mut *tx)
            .await?;
    let media: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT md.id FROM media md JOIN messages m ON m.id = md.message_id WHERE m.conversation_id IN ({CONVERSATIONS})"
    ))
    .bind(org_id)
    .bind(&addresses[0])
    .bind(&addresses[1])
    .fetch_all(&mut *tx)
    .await?;
    let media: Vec<String> = media.into_iter().map(|(id,)| id).collect();
    // The shared-list entries the guest's approved email requests added.
    bound(
        "DELETE FROM shared_emails WHERE EXISTS (SELECT 1 FROM access_requests ar JOIN agents a ON a.id = ar.agent_id \
         WHERE a.org_id = $1 AND ar.guest_address IN ($2, $3) AND ar.kind = 'email' AND ar.state = 'approved' \
         AND ar.agent_id = shared_emails.agent_id AND ar.subject = shared_emails.email)",
        org_id,
        addresses,
    )
    .execute(&mut *tx)
    .await?;
    let access_requests = bound(
        "DELETE FROM access_requests WHERE guest_address IN ($2, $3) \
         AND agent_id IN (SELECT id FROM agents WHERE org_id = $1)",
        org_id,
        addresses,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let emails =
        bound("DELETE FROM guest_identities WHERE org_id = $1 AND guest_address IN ($2, $3)", org_id, addresses)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let login_codes =
        bound("DELETE FROM login_codes WHERE org_id = $1 AND guest_address IN ($2, $3)", org_id, addresses)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let delete = format!("DELETE FROM conversations WHERE id IN ({CONVERSATIONS})");
    bound(&delete, org_id, addresses).execute(&mut *tx).await?;
    bound(
        "UPDATE forget_requests SET guest_address = '', state = 'done', done_at = $4 \
         WHERE org_id = $1 AND guest_address IN ($2, $3) AND state IN ('pending', 'approved')",
        org_id,
        addresses,
    )
    .bind(crate::now_ms())
    .execute(&mut *tx)
    .await?;
    let forgotten = Forgotten {
        conversations: conversations.len() as i64,
        messages,
        media: media.len() as i64,
        emails: emails as i64,
        access_requests: access_requests as i64,
        login_codes: login_codes as i64,
    };
    Ok((forgotten, conversations, media))
}

pub(super) async fn mode(db: &AnyPool, org_id: &str) -> sqlx::Result<String> {
    let (mode,): (String,) =
        sqlx::query_as("SELECT forget_requests FROM organizations WHERE id = $1").bind(org_id).fetch_one(db).await?;
    Ok(mode)
}

pub(super) async fn set_mode(tx: &mut AnyConnection, org_id: &str, mode: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE organizations SET forget_requests = $1 WHERE id = $2")
        .bind(mode)
        .bind(org_id)
        .execute(tx)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct Request {
    pub(super) id: String,
    pub(super) guest_address: String,
    pub(super) created_at: i64,
}

/// The organization's requests in `state`, oldest first.
pub(super) async fn requests(db: &AnyPool, org_id: &str, state: &str) -> sqlx::Result<Vec<Request>> {
    sqlx::query_as(
        "SELECT id, guest_address, created_at FROM forget_requests WHERE org_id = $1 AND state = $2 ORDER BY id",
    )
    .bind(org_id)
    .bind(state)
    .fetch_all(db)
    .await
}

/// Approved requests not yet carried out: id, organization, address, since when.
pub(super) async fn approved(db: &AnyPool) -> sqlx::Result<Vec<(String, String, String, i64)>> {
    sqlx::query_as(
        "SELECT id, org_id, guest_address, COALESCE(decided_at, created_at) FROM forget_requests \
         WHERE state = 'approved' ORDER BY id LIMIT 100",
    )
    .fetch_all(db)
    .await
}

pub(super) async fn request(db: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT guest_address, state FROM forget_requests WHERE org_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Records a guest's request (in `state`: pending or approved), unless one is open already;
/// returns whether it was new.
pub(super) async fn add_request(
    tx: &mut AnyConnection,
    org_id: &str,
    address: &str,
    state: &str,
) -> sqlx::Result<bool> {
    let (open,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM forget_requests WHERE org_id = $1 AND guest_address = $2 AND state IN ('pending', 'approved')",
    )
    .bind(org_id)
    .bind(address)
    .fetch_one(&mut *tx)
    .await?;
    if open > 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO forget_requests (id, org_id, guest_address, state, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(crate::new_id())
    .bind(org_id)
    .bind(address)
    .bind(state)
    .bind(crate::now_ms())
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// Approves a pending request, or declines it (its address emptied). False when it was not pending.
pub(super) async fn decide(tx: &mut AnyConnection, id: &str, approve: bool, by: &str) -> sqlx::Result<bool> {
    let sql = if approve {
        "UPDATE forget_requests SET state = 'approved', decided_at = $1, decided_by = $2 WHERE id = $3 AND state = 'pending'"
    } else {
        "UPDATE forget_requests SET state = 'declined', guest_address = '', decided_at = $1, decided_by = $2 \
         WHERE id = $3 AND state = 'pending'"
    };
    let changed = sqlx::query(sql).bind(crate::now_ms()).bind(by).bind(id).execute(tx).await?;
    Ok(changed.rows_affected() > 0)
}

/// Takes an approved request for carrying out (in the erasure's transaction): false when another
/// worker or instance took it first.
pub(super) async fn claim(tx: &mut AnyConnection, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE forget_requests SET state = 'done', guest_address = '', done_at = $1 WHERE id = $2 AND state = 'approved'",
    )
    .bind(crate::now_ms())
    .bind(id)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether Switchboard has answered the guest since `since` (the reply to their `/forget` is
/// queued in the turn after the request is recorded; a staff reply meanwhile does not count).
pub(super) async fn answered_since(
    db: &AnyPool,
    org_id: &str,
    addresses: &[String; 2],
    since: i64,
) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND origin = 'switchboard' AND created_at >= $4 \
         AND conversation_id IN ({CONVERSATIONS})"
    ))
    .bind(org_id)
    .bind(&addresses[0])
    .bind(&addresses[1])
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// Whether replies to the guest are still waiting to go out (an approved request waits for them:
/// the reply that says the guest will be forgotten goes first).
pub(super) async fn replies_waiting(db: &AnyPool, org_id: &str, addresses: &[String; 2]) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND conversation_id IN ({CONVERSATIONS})"
    ))
    .bind(org_id)
    .bind(&addresses[0])
    .bind(&addresses[1])
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}
