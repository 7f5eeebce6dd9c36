//! The accounts' rows: the installation claim and setup tokens, organizations, users, and
//! personal API tokens (stored as their SHA-256). Every query of this feature but the sessions'
//! (their own store, [`super::sessions`]) is here.

use app::accounts::{Me, Role};
use sqlx::{AnyConnection, AnyPool};

// ---- first-run setup ----

pub(super) async fn installed(db: &AnyPool) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM installation").fetch_one(db).await?;
    Ok(n > 0)
}

/// Records a setup token's hash; recording it twice changes nothing.
pub(super) async fn allow_setup_token(db: &AnyPool, token_hash: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(token_hash)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub(super) async fn setup_token_known(db: &AnyPool, token_hash: &str) -> sqlx::Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT token_hash FROM setup_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    Ok(row.is_some())
}

/// Claims the installation (the one row that says the first organization exists); false when it
/// was claimed already. The setup tokens have done their work then, and go.
pub(super) async fn claim_installation(tx: &mut AnyConnection, now: i64) -> sqlx::Result<bool> {
    let claimed = sqlx::query("INSERT INTO installation (id, created_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await?;
    Ok(claimed.rows_affected() > 0)
}

pub(super) async fn insert_organization(tx: &mut AnyConnection, id: &str, name: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}

// ---- users ----

/// A new user; the password already hashed.
pub(super) struct NewUser<'a> {
    pub(super) id: &'a str,
    pub(super) org_id: &'a str,
    pub(super) email: &'a str,
    pub(super) password_hash: &'a str,
    pub(super) role: Role,
}

/// The unique-constraint violation a taken email gives (PostgreSQL names the constraint,
/// SQLite its column).
pub(super) fn is_email_taken(e: &sqlx::Error) -> bool {
    crate::error::is_unique_violation(e, "users_email_key", "users.email")
}

pub(super) async fn insert_user(tx: &mut AnyConnection, u: NewUser<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (id, org_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(u.id)
    .bind(u.org_id)
    .bind(u.email)
    .bind(u.password_hash)
    .bind(u.role.as_str())
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// A user of the organization, as its Users page lists them.
#[derive(sqlx::FromRow)]
pub(super) struct UserDbRow {
    pub(super) id: String,
    pub(super) email: String,
    pub(super) role: String,
}

pub(super) async fn users(db: &AnyPool, org_id: &str) -> sqlx::Result<Vec<UserDbRow>> {
    sqlx::query_as("SELECT id, email, role FROM users WHERE org_id = $1 ORDER BY email")
        .bind(org_id)
        .fetch_all(db)
        .await
}

/// Deletes a user of the organization; false when there is none.
pub(super) async fn delete_user(db: &AnyPool, org_id: &str, user_id: &str) -> sqlx::Result<bool> {
    let removed =
        sqlx::query("DELETE FROM users WHERE id = $1 AND org_id = $2").bind(user_id).bind(org_id).execute(db).await?;
    Ok(removed.rows_affected() > 0)
}

/// The user with this email and their password hash, if there is one.
pub(super) async fn login(db: &AnyPool, email: &str) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1").bind(email).fetch_optional(db).await
}

#[derive(sqlx::FromRow)]
struct MeRow {
    user_id: String,
    org_id: String,
    org_name: String,
    email: String,
    role: String,
}

/// The signed-in user, with their organization (none if the user or their role is gone).
pub(super) async fn me(db: &AnyPool, user_id: &str) -> sqlx::Result<Option<Me>> {
    let row: Option<MeRow> = sqlx::query_as(
        "SELECT u.id AS user_id, u.org_id AS org_id, o.name AS org_name, u.email AS email, u.role AS role \
         FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|r| {
        Some(Me {
            role: Role::parse(&r.role)?,
            user_id: r.user_id,
            org_id: r.org_id,
            org_name: r.org_name,
            email: r.email,
            token: None,
        })
    }))
}

// ---- API tokens ----

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) prefix: String,
    pub(super) created_at: i64,
    pub(super) last_used_at: Option<i64>,
}

/// The user's tokens, oldest first.
pub(super) async fn tokens(db: &AnyPool, user_id: &str) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// A new token: its hash and the first characters shown to tell tokens apart.
pub(super) struct NewToken<'a> {
    pub(super) id: &'a str,
    pub(super) user_id: &'a str,
    pub(super) name: &'a str,
    pub(super) token_hash: &'a str,
    pub(super) prefix: &'a str,
}

pub(super) async fn insert_token(db: &AnyPool, t: NewToken<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.id)
    .bind(t.user_id)
    .bind(t.name)
    .bind(t.token_hash)
    .bind(t.prefix)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes one of the user's tokens; false when they have no such token.
pub(super) async fn delete_token(db: &AnyPool, user_id: &str, id: &str) -> sqlx::Result<bool> {
    let deleted =
        sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2").bind(id).bind(user_id).execute(db).await?;
    Ok(deleted.rows_affected() > 0)
}

/// The token with this hash: its id, its user, and when it was last used.
#[derive(sqlx::FromRow)]
pub(super) struct Bearer {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) name: String,
    pub(super) last_used_at: Option<i64>,
}

pub(super) async fn bearer(db: &AnyPool, token_hash: &str) -> sqlx::Result<Option<Bearer>> {
    sqlx::query_as("SELECT id, user_id, name, last_used_at FROM api_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

pub(super) async fn token_used(db: &AnyPool, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2").bind(now).bind(id).execute(db).await?;
    Ok(())
}
