//! Personal API tokens: created and revoked in the backoffice, shown once, stored as their
//! SHA-256. A token acts as its user, with that user's role and organization.

use app::{
    accounts::{ApiTokenRow, Me, NewApiToken},
    time::utc_minutes,
    AppError,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;

use super::store;
use crate::{accounts, crypto::digest, error::Result, new_id, now_ms, state::AppState};

/// Every token starts so, which makes a leaked one easy to recognize (and to search for).
pub const PREFIX: &str = "sbt_";

pub async fn list(state: &AppState, me: &Me) -> Result<Vec<ApiTokenRow>> {
    Ok(store::tokens(&state.db.pool, &me.user_id)
        .await?
        .into_iter()
        .map(|t| ApiTokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: utc_minutes(t.created_at),
            last_used: t.last_used_at.map(utc_minutes),
        })
        .collect())
}

pub async fn create(state: &AppState, me: &Me, name: &str) -> Result<NewApiToken> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(
            AppError::invalid("name", "Name the token (1 to 80 characters), e.g. after the script using it.").into()
        );
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let (id, now) = (new_id(), now_ms());
    let prefix: String = token.chars().take(PREFIX.len() + 6).collect();
    let hash = digest(&token);
    let new = store::NewToken { id: &id, user_id: &me.user_id, name, token_hash: &hash, prefix: &prefix };
    store::insert_token(&state.db.pool, new, now).await?;
    tracing::info!(token_id = %id, user_id = %me.user_id, "API token created");
    crate::audit::record_now(state, me, crate::audit::Action::TokenCreated, name, "").await?;
    let row = ApiTokenRow { id, name: name.to_string(), prefix, created: utc_minutes(now), last_used: None };
    Ok(NewApiToken { token, row })
}

pub async fn revoke(state: &AppState, me: &Me, id: &str) -> Result<()> {
    let name: Option<(String,)> = sqlx::query_as("SELECT name FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(&me.user_id)
        .fetch_optional(&state.db.pool)
        .await?;
    if !store::delete_token(&state.db.pool, &me.user_id, id).await? {
        return Err(AppError::NotFound("Token".into()).into());
    }
    tracing::info!(token_id = id, "API token revoked");
    let name = name.map(|(n,)| n).unwrap_or_default();
    crate::audit::record_now(state, me, crate::audit::Action::TokenRevoked, &name, "").await?;
    Ok(())
}

/// The user a bearer token stands for, if it is one of ours and not revoked. Marks it used (at
/// most once a minute, so reads do not become writes).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Option<Me>> {
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let Some(bearer) = store::bearer(&state.db.pool, &digest(token)).await? else { return Ok(None) };
    let now = now_ms();
    if bearer.last_used_at.is_none_or(|t| now - t > 60_000) {
        store::token_used(&state.db.pool, &bearer.id, now).await?;
    }
    Ok(accounts::user(&state.db, &bearer.user_id).await?.map(|me| Me { token: Some(bearer.name), ..me }))
}
