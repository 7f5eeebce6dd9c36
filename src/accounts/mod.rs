//! Organizations and backoffice users: first-run setup, passwords, roles.

pub mod logins;
mod port;
pub mod sessions;
pub mod tokens;

use app::{
    accounts::{Me, Role, UserRow},
    AppError,
};
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::{db::Db, error::Result, new_id, now_ms};

pub const MIN_PASSWORD_LEN: usize = 10;

pub async fn needs_setup(db: &Db) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM installation").fetch_one(&db.pool).await?;
    Ok(n == 0)
}

fn validate_email(email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !email.contains(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(AppError::invalid("email", "Enter a valid email address."))
    }
}

async fn hash_password(password: String) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::invalid("password", format!("Use at least {MIN_PASSWORD_LEN} characters.")).into());
    }
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(anyhow::Error::from)?
    .map_err(|e| anyhow::anyhow!("hashing a password: {e}").into())
}

/// A new setup token: 128 random bits, URL-safe.
pub fn new_setup_token() -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("sbsetup_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Records `token` as one that may create the first organization (its hash only). Called at
/// start while no organization exists; every instance adds its own, and setup deletes them all.
pub async fn allow_setup_token(db: &Db, token: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(crate::crypto::digest(token))
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Creates the organization and its first admin, for whoever holds a setup token Switchboard
/// printed at start. Refused once setup has happened.
pub async fn setup(db: &Db, setup_token: &str, org_name: &str, email: &str, password: String) -> Result<Me> {
    let token = setup_token.trim();
    let known: Option<(String,)> = if token.is_empty() || token.len() > 200 {
        None
    } else {
        sqlx::query_as("SELECT token_hash FROM setup_tokens WHERE token_hash = $1")
            .bind(crate::crypto::digest(token))
            .fetch_optional(&db.pool)
            .await?
    };
    if known.is_none() {
        if !needs_setup(db).await? {
            return Err(AppError::Conflict("Switchboard is already set up. Log in instead.".into()).into());
        }
        return Err(AppError::invalid(
            "setup_token",
            "Enter the setup token Switchboard printed in its log when it started (scripts/run.sh shows it too).",
        )
        .into());
    }
    new_organization(db, org_name, email, password, true).await
}

/// Creates another organization with its first admin (the operator's CLI command): each
/// organization sees only its own connectors, agents and users.
pub async fn create_organization(db: &Db, org_name: &str, email: &str, password: String) -> Result<Me> {
    new_organization(db, org_name, email, password, false).await
}

async fn new_organization(db: &Db, org_name: &str, email: &str, password: String, first_run: bool) -> Result<Me> {
    let org_name = org_name.trim();
    if org_name.is_empty() || org_name.chars().count() > 80 {
        return Err(AppError::invalid("org_name", "Give the organization a name of 1 to 80 characters.").into());
    }
    let email = validate_email(email)?;
    let hash = hash_password(password).await?;
    let now = now_ms();
    let (org_id, user_id) = (new_id(), new_id());
    let mut tx = db.begin_write().await?;
    let claimed = sqlx::query("INSERT INTO installation (id, created_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if first_run && claimed.rows_affected() == 0 {
        return Err(AppError::Conflict("Switchboard is already set up. Log in instead.".into()).into());
    }
    // The tokens have done their work; none may create another first organization.
    sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&org_id)
        .bind(org_name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    insert_user(&mut tx, &user_id, &org_id, &email, &hash, Role::OrgAdmin, now).await?;
    tx.commit().await?;
    tracing::info!(org_id, user_id, "organization set up");
    Ok(Me { user_id, org_id, org_name: org_name.to_string(), email, role: Role::OrgAdmin })
}

async fn insert_user(
    tx: &mut crate::db::WriteTx,
    user_id: &str,
    org_id: &str,
    email: &str,
    hash: &str,
    role: Role,
    now: i64,
) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, org_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(email)
    .bind(hash)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await;
    match inserted {
        Err(e) if crate::error::is_unique_violation(&e, "users_email_key", "users.email") => {
            Err(AppError::invalid("email", "A user with this email already exists.").into())
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// The organization's users, for its admins.
pub async fn list_users(db: &Db, me: &Me) -> Result<Vec<UserRow>> {
    require_admin(me)?;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, email, role FROM users WHERE org_id = $1 ORDER BY email")
            .bind(&me.org_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, role)| Some(UserRow { is_me: id == me.user_id, id, email, role: Role::parse(&role)? }))
        .collect())
}

/// An admin adds a user with a first password (to be handed over in person).
pub async fn add_user(db: &Db, me: &Me, email: &str, role: Role, password: String) -> Result<UserRow> {
    require_admin(me)?;
    let email = validate_email(email)?;
    let hash = hash_password(password).await?;
    let id = new_id();
    let mut tx = db.begin_write().await?;
    insert_user(&mut tx, &id, &me.org_id, &email, &hash, role, now_ms()).await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, role = role.as_str(), "user added");
    Ok(UserRow { id, email, role, is_me: false })
}

/// Removes a user of the organization (never oneself, so an organization keeps an admin).
/// Their agents stay, without an owner; their sessions end at their next request.
pub async fn remove_user(db: &Db, me: &Me, user_id: &str) -> Result<()> {
    require_admin(me)?;
    if user_id == me.user_id {
        return Err(AppError::Conflict("You cannot remove yourself.".into()).into());
    }
    let removed = sqlx::query("DELETE FROM users WHERE id = $1 AND org_id = $2")
        .bind(user_id)
        .bind(&me.org_id)
        .execute(&db.pool)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound("User".into()).into());
    }
    tracing::info!(user_id, "user removed");
    Ok(())
}

/// Checks a login. Failures count against the account and the client's address
/// ([`crate::logins`]); past the limit, or while every password check is busy, the answer is
/// [`AppError::RateLimited`] with when to try again.
pub async fn authenticate(
    db: &Db,
    logins: &crate::accounts::logins::Logins,
    email: &str,
    password: String,
    client: Option<std::net::IpAddr>,
) -> Result<Me> {
    let wrong = || AppError::invalid("email", "Wrong email or password.");
    let email = email.trim().to_lowercase();
    if email.len() > 254 || password.len() > 1024 {
        return Err(wrong().into());
    }
    let _permit =
        logins.admit(&email, client).map_err(|crate::accounts::logins::Wait(wait)| AppError::RateLimited {
            message: format!("Too many login attempts. Try again in {}.", crate::in_words(wait)),
            retry_after_secs: wait.as_secs().max(1),
        })?;
    let row: Option<(String, String)> = sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&db.pool)
        .await?;
    // Verify against a fixed hash when the user is unknown, so timing does not reveal who exists.
    let (user_id, stored) = row.unwrap_or_else(|| (String::new(), DUMMY_HASH.to_string()));
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .map_err(anyhow::Error::from)?;
    if !ok || user_id.is_empty() {
        logins.failed(&email, client);
        return Err(wrong().into());
    }
    logins.succeeded(&email);
    user(db, &user_id).await?.ok_or_else(|| wrong().into())
}

const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Xj3mUu9Ar6o0nN3dCxoTtAb6vJx0mXKQXo8yqJm5d3A";

pub async fn user(db: &Db, user_id: &str) -> Result<Option<Me>> {
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT u.id, u.org_id, o.name, u.email, u.role FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(|(user_id, org_id, org_name, email, role)| {
        Some(Me { user_id, org_id, org_name, email, role: Role::parse(&role)? })
    }))
}

/// Refuses anyone but an organization admin.
pub fn require_admin(me: &Me) -> Result<(), AppError> {
    if me.role == Role::OrgAdmin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
