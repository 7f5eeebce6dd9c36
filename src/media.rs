//! Media guests send. The webhook records each `MediaUrl{N}` with its message; this worker
//! downloads the files from Twilio (with the connector's credentials, to Twilio's host only,
//! 25 MB at most) into the data folder, retrying what may succeed later. The backoffice shows
//! them through `/media/{id}`, to signed-in users of the organization that owns them.

use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_sessions::{Session, SessionManagerLayer};

use crate::{connectors, now_ms, sessions::DbSessionStore, state::AppState, twilio::MediaError};

/// The largest file a guest may send that Switchboard keeps.
pub const MAX_INBOUND_BYTES: u64 = 25 * 1024 * 1024;
/// Tries before a download that keeps failing for a passing reason is given up.
const MAX_ATTEMPTS: i64 = 6;

struct Claim {
    id: String,
    connector_id: String,
    url: String,
    attempts: i64,
}

pub async fn run(state: AppState) {
    loop {
        match claim(&state).await {
            Ok(Some(claim)) => {
                if let Err(e) = download(&state, &claim).await {
                    tracing::error!(media_id = %claim.id, error = %e, "recording a media download failed");
                }
            }
            Ok(None) => {
                let _ = tokio::time::timeout(state.tuning.idle_poll, state.wake.media.notified()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot claim media downloads");
                tokio::time::sleep(state.tuning.idle_poll).await;
            }
        }
    }
}

async fn claim(state: &AppState) -> sqlx::Result<Option<Claim>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "UPDATE media SET lease_until = $1, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM media WHERE state = 'pending' AND run_at <= $2 \
                     AND (lease_until IS NULL OR lease_until < $2) ORDER BY run_at LIMIT 1) \
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING id, (SELECT connector_id FROM messages WHERE messages.id = media.message_id), url, attempts",
    )
    .bind(now + state.tuning.lease.as_millis() as i64)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(id, connector_id, url, attempts)| Claim { id, connector_id, url, attempts }))
}

async fn download(state: &AppState, claim: &Claim) -> anyhow::Result<()> {
    let creds = connectors::credentials(state, &claim.connector_id).await?;
    let outcome = match state.twilio.download_media(&creds, &claim.url, MAX_INBOUND_BYTES).await {
        Ok(media) => {
            let path = state.media_dir.join(&claim.id);
            let written = async {
                tokio::fs::create_dir_all(&state.media_dir).await?;
                let partial = path.with_extension("partial");
                tokio::fs::write(&partial, &media.bytes).await?;
                tokio::fs::rename(&partial, &path).await
            }
            .await;
            match written {
                Ok(()) => Ok(media),
                Err(e) => Err((format!("could not save the file: {e}"), true)),
            }
        }
        Err(e @ (MediaError::NotTwilio | MediaError::TooLarge)) => Err((e.to_string(), false)),
        Err(e) => Err((e.to_string(), e.retryable())),
    };
    let mut tx = state.db.begin_write().await?;
    match outcome {
        Ok(media) => {
            sqlx::query(
                "UPDATE media SET state = 'stored', size = $1, content_type = COALESCE($2, content_type), error = NULL, \
                 lease_until = NULL WHERE id = $3 AND attempts = $4",
            )
            .bind(media.bytes.len() as i64)
            .bind(media.content_type)
            .bind(&claim.id)
            .bind(claim.attempts)
            .execute(&mut *tx)
            .await?;
            tracing::info!(media_id = %claim.id, size = media.bytes.len(), "media stored");
        }
        Err((error, retry)) if retry && claim.attempts < MAX_ATTEMPTS => {
            let delay = state.tuning.retry_base * 2u32.pow(claim.attempts.clamp(0, 10) as u32);
            sqlx::query("UPDATE media SET run_at = $1, error = $2, lease_until = NULL WHERE id = $3 AND attempts = $4")
                .bind(now_ms() + delay.min(Duration::from_secs(600)).as_millis() as i64)
                .bind(&error)
                .bind(&claim.id)
                .bind(claim.attempts)
                .execute(&mut *tx)
                .await?;
            tracing::warn!(media_id = %claim.id, %error, "media download failed; will retry");
        }
        Err((error, _)) => {
            sqlx::query(
                "UPDATE media SET state = 'failed', error = $1, lease_until = NULL WHERE id = $2 AND attempts = $3",
            )
            .bind(&error)
            .bind(&claim.id)
            .bind(claim.attempts)
            .execute(&mut *tx)
            .await?;
            tracing::warn!(media_id = %claim.id, %error, "media not downloaded");
        }
    }
    tx.commit().await?;
    Ok(())
}

pub fn router(state: AppState, sessions: SessionManagerLayer<DbSessionStore>) -> Router {
    Router::new().route("/media/{id}", get(file)).with_state(state).layer(sessions)
}

/// A stored file, to a signed-in user of the organization whose connector received it. Guests
/// choose what they send, so nothing is served as active content: images, audio and video are
/// shown inline under a sandboxing policy, anything else is a download.
async fn file(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    use app::ports::Backoffice;
    let user_id: Option<String> = session.get(app::api::ssr::USER_KEY).await.ok().flatten();
    let me = match user_id {
        Some(user_id) => state.user(&user_id).await.ok().flatten(),
        None => None,
    };
    let Some(me) = me else { return StatusCode::UNAUTHORIZED.into_response() };
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT md.content_type, md.state FROM media md JOIN messages m ON m.id = md.message_id \
         JOIN connectors c ON c.id = m.connector_id WHERE md.id = $1 AND c.org_id = $2",
    )
    .bind(&id)
    .bind(&me.org_id)
    .fetch_optional(&state.db.pool)
    .await
    .unwrap_or(None);
    let Some((content_type, media_state)) = row else { return StatusCode::NOT_FOUND.into_response() };
    if media_state != "stored" {
        return (StatusCode::NOT_FOUND, "not downloaded").into_response();
    }
    let Ok(bytes) = tokio::fs::read(state.media_dir.join(&id)).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let inline = ["image/", "audio/", "video/"].iter().any(|p| content_type.starts_with(p));
    let disposition = if inline { "inline" } else { "attachment" };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition.to_string()),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        bytes,
    )
        .into_response()
}
