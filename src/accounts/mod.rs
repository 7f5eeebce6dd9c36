//! Organizations and backoffice users: first-run setup, passwords, roles.

pub mod logins;
mod port;
pub mod sessions;
mod store;
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
    Ok(!store::installed(&db.pool).await?)
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
    Ok(store::allow_setup_token(&db.pool, &crate::crypto::digest(token), now_ms()).await?)
}

/// Creates the organization and its first admin, for whoever holds a setup token Switchboard
/// printed at start. Refused once setup has happened.
pub async fn setup(db: &Db, setup_token: &str, org_name: &str, email: &str, password: String) -> Result<Me> {
    let token = setup_token.trim();
    let known = !token.is_empty()
        && token.len() <= 200
        && store::setup_token_known(&db.pool, &crate::crypto::digest(token)).await?;
    if !known {
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
    // Claiming also deletes the setup tokens: none may create another first organization.
    if !store::claim_installation(&mut tx, now).await? && first_run {
        return Err(AppError::Conflict("Switchboard is already set up. Log in instead.".into()).into());
    }
    store::insert_organization(&mut tx, &org_id, org_name, now).await?;
    insert_user(&mut tx, &user_id, &org_id, &email, &hash, Role::OrgAdmin, now).await?;
    tx.commit().await?;
    tracing::info!(org_id, user_id, "organization set up");
    Ok(Me { user_id, org_id, org_name: org_name.to_string(), email, role: Role::OrgAdmin, token: None })
}

async fn insert_user(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    org_id: &str,
    email: &str,
    hash: &str,
    role: Role,
    now: i64,
) -> Result<()> {
    let user = store::NewUser { id: user_id, org_id, email, password_hash: hash, role };
    match store::insert_user(tx, user, now).await {
        Err(e) if store::is_email_taken(&e) => {
            Err(AppError::invalid("email", "A user with this email already exists.").into())
        }
        other => other.map_err(Into::into),
    }
}

/// The organization's users, for its admins.
pub async fn list_users(db: &Db, me: &Me) -> Result<Vec<UserRow>> {
    require_admin(me)?;
    Ok(store::users(&db.pool, &me.org_id)
        .await?
        .into_iter()
        .filter_map(|u| {
            Some(UserRow { is_me: u.id == me.user_id, role: Role::parse(&u.role)?, id: u.id, email: u.email })
        })
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
    let actor = crate::audit::actor(me);
    crate::audit::record(&mut tx, &me.org_id, &actor, crate::audit::Action::UserAdded, &email, role.label()).await?;
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
    let email: Option<(String,)> = sqlx::query_as("SELECT email FROM users WHERE id = $1 AND org_id = $2")
        .bind(user_id)
        .bind(&me.org_id)
        .fetch_optional(&db.pool)
        .await?;
    if !store::delete_user(&db.pool, &me.org_id, user_id).await? {
        return Err(AppError::NotFound("User".into()).into());
    }
    tracing::info!(user_id, "user removed");
    let email = email.map(|(e,)| e).unwrap_or_default();
    crate::audit::record_on(db, me, crate::audit::Action::UserRemoved, &email, "").await?;
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
    let row = store::login(&db.pool, &email).await?;
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
    Ok(store::me(&db.pool, user_id).await?)
}

/// Refuses anyone but an organization admin.
pub fn require_admin(me: &Me) -> Result<(), AppError> {
    if me.role == Role::OrgAdmin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
