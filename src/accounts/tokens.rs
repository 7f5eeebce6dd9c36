//! Personal API tokens: created and revoked in the backoffice, shown once, stored as their
//! SHA-256. A token acts as its user, with that user's role and organization.

use app::{
    accounts::{ApiTokenRow, Me, NewApiToken},
    time::utc_minutes,
    AppError,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;

use crate::{accounts, crypto::digest, error::Result, new_id, now_ms, state::AppState};

/// Every token starts so, which makes a leaked one easy to recognize (and to search for).
pub const PREFIX: &str = "sbt_";

pub async fn list(state: &AppState, me: &Me) -> Result<Vec<ApiTokenRow>> {
    let rows: Vec<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(&me.user_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, prefix, created, used)| ApiTokenRow {
            id,
            name,
            prefix,
            created: utc_minutes(created),
            last_used: used.map(utc_minutes),
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
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&me.user_id)
    .bind(name)
    .bind(digest(&token))
    .bind(&prefix)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    tracing::info!(token_id = %id, user_id = %me.user_id, "API token created");
    let row = ApiTokenRow { id, name: name.to_string(), prefix, created: utc_minutes(now), last_used: None };
    Ok(NewApiToken { token, row })
}

pub async fn revoke(state: &AppState, me: &Me, id: &str) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(&me.user_id)
        .execute(&state.db.pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound("Token".into()).into());
    }
    tracing::info!(token_id = id, "API token revoked");
    Ok(())
}

/// The user a bearer token stands for, if it is one of ours and not revoked. Marks it used (at
/// most once a minute, so reads do not become writes).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Option<Me>> {
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let row: Option<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1")
            .bind(digest(token))
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((id, user_id, last_used)) = row else { return Ok(None) };
    let now = now_ms();
    if last_used.is_none_or(|t| now - t > 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&id)
            .execute(&state.db.pool)
            .await?;
    }
    accounts::user(&state.db, &user_id).await
}
