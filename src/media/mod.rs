//! Media guests send. The webhook records each `MediaUrl{N}` with its message; this worker
//! downloads the files from Twilio (with the connector's credentials, to Twilio's host only,
//! 25 MB at most) into the data folder, retrying what may succeed later. The backoffice shows
//! them through `/media/{id}`, to signed-in users of the organization that owns them.
//!
//! Files live in the data folder or in the database ([`Store`]): with several instances on one
//! PostgreSQL database, in the database, so that whichever instance takes a request serves it.

use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_sessions::{Session, SessionManagerLayer};

pub mod store;

pub use store::{Store, StoreKind};

use crate::{accounts::sessions::DbSessionStore, connectors, now_ms, state::AppState, twilio::MediaError};

/// The largest file a guest may send that Switchboard keeps.
pub const MAX_INBOUND_BYTES: u64 = 25 * 1024 * 1024;
/// The largest file Switchboard sends: WhatsApp's limit for media.
pub const MAX_OUTBOUND_BYTES: usize = 16 * 1024 * 1024;
/// How long a link to an outbound file stays valid (Twilio fetches it while sending).
const LINK_TTL_SECS: i64 = 2 * 60 * 60;

/// Tries before a download that keeps failing for a passing reason is given up.
const MAX_ATTEMPTS: i64 = 6;

struct Claim {
    id: String,
    connector_id: String,
    url: String,
    attempts: i64,
}

pub async fn run(state: AppState) {
    // On shutdown the worker leaves between jobs; a job it holds is finished first.
    let mut errors = crate::state::ClaimErrors::new("media downloads");
    while !state.workers.stopping() {
        let claimed = claim(&state).await;
        if claimed.is_ok() {
            errors.cleared();
        }
        match claimed {
            Ok(Some(claim)) => {
                let _held = state.held.hold("media", &claim.id);
                if let Err(e) = download(&state, &claim).await {
                    tracing::error!(media_id = %claim.id, error = %e, "recording a media download failed");
                }
            }
            Ok(None) => {
                let _ = tokio::time::timeout(state.tuning.idle_poll, state.wake.media.notified()).await;
            }
            Err(e) => errors.failed(&e, state.tuning.idle_poll).await,
        }
    }
}

async fn claim(state: &AppState) -> sqlx::Result<Option<Claim>> {
    let mut tx = state.db.begin_write().await?;
    // Read once the write lock is held: a lease counted from before a wait for it could run out
    // as soon as it is written.
    let now = now_ms();
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "UPDATE media SET lease_until = $1, attempts = attempts + 1, lease_owner = $3 \
         WHERE id = (SELECT id FROM media WHERE state = 'pending' AND run_at <= $2 \
                     AND (lease_until IS NULL OR lease_until < $2) ORDER BY run_at LIMIT 1) \
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING id, (SELECT connector_id FROM messages WHERE messages.id = media.message_id), url, attempts",
    )
    .bind(now + state.tuning.lease.as_millis() as i64)
    .bind(now)
    .bind(&*state.instance_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(id, connector_id, url, attempts)| Claim { id, connector_id, url, attempts }))
}

async fn download(state: &AppState, claim: &Claim) -> anyhow::Result<()> {
    let creds = connectors::account::credentials(state, &claim.connector_id).await?;
    let outcome = match state.twilio.download_media(&creds, &claim.url, MAX_INBOUND_BYTES).await {
        Ok(media) => Ok(media),
        Err(e @ (MediaError::NotTwilio | MediaError::TooLarge)) => Err((e.to_string(), false)),
        Err(e) => Err((e.to_string(), e.retryable())),
    };
    let outcome = match outcome {
        Ok(media) => match state.media.write_file(&claim.id, &media.bytes).await {
            Ok(()) => Ok(media),
            Err(e) => Err((format!("could not save the file: {e}"), true)),
        },
        Err(e) => Err(e),
    };
    let mut tx = state.db.begin_write().await?;
    match outcome {
        Ok(media) => {
            let stored = sqlx::query(
                "UPDATE media SET state = 'stored', size = $1, content_type = COALESCE($2, content_type), error = NULL, \
                 lease_until = NULL WHERE id = $3 AND attempts = $4",
            )
            .bind(media.bytes.len() as i64)
            .bind(&media.content_type)
            .bind(&claim.id)
            .bind(claim.attempts)
            .execute(&mut *tx)
            .await?;
            if stored.rows_affected() == 0 {
                // Its message went meanwhile (a guest forgotten, a retention period, a connector
                // deleted), or another worker took the item over: the file written is nobody's.
                tx.rollback().await?;
                if !media_row_exists(state, &claim.id).await? {
                    state.media.discard(std::slice::from_ref(&claim.id)).await;
                }
                tracing::info!(media_id = %claim.id, "media downloaded for a message that is gone; file removed");
                return Ok(());
            }
            state.media.insert(&mut tx, &claim.id, &media.bytes).await?;
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
    // A turn waiting for this file (to give it to the brain) goes now that it is settled.
    let settled = sqlx::query(
        "UPDATE turns SET run_at = $1 WHERE state = 'pending' AND run_at > $1 AND conversation_id = \
         (SELECT m.conversation_id FROM media md JOIN messages m ON m.id = md.message_id \
          WHERE md.id = $2 AND md.state <> 'pending')",
    )
    .bind(now_ms())
    .bind(&claim.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if settled.rows_affected() > 0 {
        state.wake_turns().await;
    }
    Ok(())
}

/// Whether the media item's row still exists (then another worker's later claim of it owns the file).
async fn media_row_exists(state: &AppState, id: &str) -> sqlx::Result<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM media WHERE id = $1").bind(id).fetch_one(&state.db.pool).await?;
    Ok(n > 0)
}

/// A file's name. Twilio passes on none of the name a guest's file had (its webhook and its Media
/// resource give only the type and the address), so a file is named by its Media SID, the last
/// part of Twilio's address (`ME…`), or else its place in the message (`file-1`), and an
/// extension for its type: `ME0123….pdf`. The same name for the brain, the inbox and a download.
pub fn file_name(twilio_url: &str, content_type: &str, position: i64) -> String {
    let last = twilio_url.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let sid = last.len() == 34 && last.starts_with("ME") && last.chars().all(|c| c.is_ascii_alphanumeric());
    let stem = if sid { last.to_string() } else { format!("file-{}", position + 1) };
    format!("{stem}.{}", extension(content_type))
}

/// The usual extension of a type WhatsApp and MMS carry, `bin` for any other.
fn extension(content_type: &str) -> &'static str {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/pdf" => "pdf",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "m4a",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "video/quicktime" => "mov",
        "video/webm" | "audio/webm" => "webm",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/vcard" | "text/x-vcard" => "vcf",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/zip" => "zip",
        _ => "bin",
    }
}

/// A file for Twilio to fetch and send: its signed link, valid for a while.
pub fn outbound_link(state: &AppState, media_id: &str) -> String {
    let expires = now_ms() / 1000 + LINK_TTL_SECS;
    let signature = state.secrets.sign_link(&format!("{media_id}.{expires}"));
    format!("{}/media/out/{media_id}?expires={expires}&signature={signature}", state.public_url)
}

/// A file a guest sent, for the agent's brain to fetch (the customer's hook, a model): its
/// signed link, valid for a while. Signed apart from outbound links, so neither opens the other.
pub fn inbound_link(state: &AppState, media_id: &str) -> String {
    let expires = now_ms() / 1000 + LINK_TTL_SECS;
    let signature = state.secrets.sign_link(&format!("in.{media_id}.{expires}"));
    format!("{}/media/in/{media_id}?expires={expires}&signature={signature}", state.public_url)
}

/// A file to send with a message.
pub struct OutboundFile {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Queues a message with a file (or without) to the guest of a conversation: the message, the
/// file and its place in the conversation's outbox, in one transaction, and the conversation's
/// latest activity, as an agent's reply is (`pipeline::outbox::queue_statements`); the sender
/// takes it from there under the same rules as the agent's replies. One file per message, 16 MB
/// at most.
pub async fn queue_outbound(
    state: &AppState,
    conversation_id: &str,
    body: &str,
    file: Option<OutboundFile>,
) -> crate::error::Result<String> {
    use app::AppError;
    if body.trim().is_empty() && file.is_none() {
        return Err(AppError::invalid("body", "Write a message or attach a file.").into());
    }
    if body.chars().count() > 1600 {
        return Err(AppError::invalid("body", "At most 1,600 characters.").into());
    }
    if let Some(f) = &file {
        if f.bytes.len() > MAX_OUTBOUND_BYTES {
            return Err(AppError::invalid("file", "Files can be at most 16 MB.").into());
        }
        if f.bytes.is_empty() || !f.content_type.contains('/') {
            return Err(AppError::invalid("file", "The file is empty or of no known type.").into());
        }
    }
    let (message_id, media_id) = (crate::new_id(), crate::new_id());
    if let Some(f) = &file {
        state.media.write_file(&media_id, &f.bytes).await.map_err(anyhow::Error::from)?;
    }
    let stored = async {
        let mut tx = state.db.begin_write().await?;
        // The time is taken once the write turn is held: the file's writing (up to 16 MB) must not
        // date the message, and the conversation's last activity, before writes made meanwhile.
        let now = now_ms();
        let row: Option<(i64, String)> = sqlx::query_as(
            "UPDATE conversations SET out_seq = out_seq + 1, last_activity_at = $2, state = 'live', ended_at = NULL \
             WHERE id = $1 RETURNING out_seq, (SELECT connector_id FROM numbers WHERE numbers.id = conversations.number_id)",
        )
        .bind(conversation_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((seq, connector_id)) = row else { return Ok(false) };
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
             VALUES ($1, $2, $3, 'outbound', $4, 'pending', $5)",
        )
        .bind(&message_id)
        .bind(conversation_id)
        .bind(&connector_id)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(f) = &file {
            sqlx::query(
                "INSERT INTO media (id, message_id, position, url, content_type, state, size, run_at, created_at) \
                 VALUES ($1, $2, 0, '', $3, 'stored', $4, $5, $5)",
            )
            .bind(&media_id)
            .bind(&message_id)
            .bind(&f.content_type)
            .bind(f.bytes.len() as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            state.media.insert(&mut tx, &media_id, &f.bytes).await?;
        }
        sqlx::query(
            "INSERT INTO outbox (message_id, conversation_id, seq, state, run_at, created_at) \
             VALUES ($1, $2, $3, 'pending', $4, $4)",
        )
        .bind(&message_id)
        .bind(conversation_id)
        .bind(seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(true)
    }
    .await;
    match stored {
        Ok(true) => {
            state.wake_sends().await;
            Ok(message_id)
        }
        outcome => {
            if file.is_some() {
                state.media.discard(std::slice::from_ref(&media_id)).await;
            }
            match outcome {
                Ok(_) => Err(AppError::NotFound("This conversation no longer exists.".into()).into()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

pub fn router(state: AppState, sessions: SessionManagerLayer<DbSessionStore>) -> Router {
    let signed_in = Router::new().route("/media/{id}", get(file)).with_state(state.clone()).layer(sessions);
    Router::new()
        .route("/media/out/{id}", get(outbound_file))
        .route("/media/in/{id}", get(inbound_file))
        .with_state(state)
        .merge(signed_in)
}

#[derive(serde::Deserialize)]
struct Link {
    expires: i64,
    signature: String,
}

/// An outbound file, to whoever holds an unexpired signed link (Twilio, while sending it).
async fn outbound_file(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(link): axum::extract::Query<Link>,
) -> Response {
    match linked(&state, &id, &link, "outbound", &format!("{id}.{}", link.expires)).await {
        Ok((content_type, _, bytes)) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// A guest's file, to whoever holds an unexpired signed link (the agent's brain, during a turn).
async fn inbound_file(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(link): axum::extract::Query<Link>,
) -> Response {
    match linked(&state, &id, &link, "inbound", &format!("in.{id}.{}", link.expires)).await {
        Ok((content_type, name, bytes)) => served(content_type, &name, bytes),
        Err(refused) => refused.into_response(),
    }
}

/// The stored file of a message going `direction` that an unexpired `link` signed as `signed`
/// opens: its type and bytes, or the answer that refuses it.
async fn linked(
    state: &AppState,
    id: &str,
    link: &Link,
    direction: &str,
    signed: &str,
) -> Result<(String, String, Vec<u8>), (StatusCode, &'static str)> {
    if link.expires < now_ms() / 1000 || !state.secrets.verify_link(signed, &link.signature) {
        return Err((StatusCode::FORBIDDEN, "this link is not valid (or no longer)"));
    }
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT md.content_type, md.url, md.position FROM media md JOIN messages m ON m.id = md.message_id \
         WHERE md.id = $1 AND m.direction = $2 AND md.state = 'stored'",
    )
    .bind(id)
    .bind(direction)
    .fetch_optional(&state.db.pool)
    .await
    .unwrap_or(None);
    let Some((content_type, url, position)) = row else { return Err((StatusCode::NOT_FOUND, "no such file")) };
    let name = file_name(&url, &content_type, position);
    match state.media.load(&state.db, id).await {
        Some(bytes) => Ok((content_type, name, bytes)),
        None => Err((StatusCode::NOT_FOUND, "no such file")),
    }
}

/// A guest's file as Switchboard serves it: guests choose what they send, so nothing is served as
/// active content: images, audio and video inline under a sandboxing policy, anything else as a
/// download, under its [`file_name`] (letters, digits, `-` and a dot: nothing to quote).
fn served(content_type: String, name: &str, bytes: Vec<u8>) -> Response {
    let inline = ["image/", "audio/", "video/"].iter().any(|p| content_type.starts_with(p));
    let disposition = format!("{}; filename=\"{name}\"", if inline { "inline" } else { "attachment" });
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// A stored file, to a signed-in user of the organization whose connector received it (an
/// agent owner: only in their agents' conversations), as [`served`].
async fn file(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // Admins see every file of the organization; agent owners those of their agents' conversations.
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT md.content_type, md.state, md.url, md.position FROM media md JOIN messages m ON m.id = md.message_id \
         JOIN connectors c ON c.id = m.connector_id JOIN conversations cv ON cv.id = m.conversation_id \
         LEFT JOIN agents a ON a.id = cv.agent_id \
         WHERE md.id = $1 AND c.org_id = $2 AND ($3 = 'org_admin' OR a.owner_id = $4)",
    )
    .bind(&id)
    .bind(&me.org_id)
    .bind(me.role.as_str())
    .bind(&me.user_id)
    .fetch_optional(&state.db.pool)
    .await
    .unwrap_or(None);
    let Some((content_type, media_state, url, position)) = row else { return StatusCode::NOT_FOUND.into_response() };
    if media_state != "stored" {
        return (StatusCode::NOT_FOUND, "not downloaded").into_response();
    }
    let Some(bytes) = state.media.load(&state.db, &id).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let name = file_name(&url, &content_type, position);
    served(content_type, &name, bytes)
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn a_file_is_named_by_its_media_sid_and_type() {
        let twilio = "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/\
                      MM00000000000000000000000000000000/Media/ME0123456789abcdef0123456789abcdef";
        assert_eq!(file_name(twilio, "application/pdf", 0), "ME0123456789abcdef0123456789abcdef.pdf");
        assert_eq!(file_name(&format!("{twilio}?x=1"), "image/jpeg", 0), "ME0123456789abcdef0123456789abcdef.jpg");
        assert_eq!(
            file_name(twilio, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 0),
            "ME0123456789abcdef0123456789abcdef.docx"
        );
        assert_eq!(file_name(twilio, "Audio/OGG; codecs=opus", 0), "ME0123456789abcdef0123456789abcdef.ogg");
        // Not a Media SID (another address, a shorter or odd last part): its place in the message.
        assert_eq!(file_name("https://example.com/files/report", "application/pdf", 1), "file-2.pdf");
        assert_eq!(file_name("https://example.com/ME\"x.pdf", "text/html", 0), "file-1.bin");
        assert_eq!(file_name("", "application/x-unknown", 2), "file-3.bin");
    }
}
