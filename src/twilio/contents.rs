//! Twilio Content that Switchboard creates to send an agent's choices on WhatsApp (a
//! `twilio/quick-reply` or `twilio/list-picker` whose texts are all variables, given with each
//! message): created once per Twilio account and shape of choices, found again by the SHA-256 of
//! the account and the definition.

use sha2::{Digest, Sha256};

use super::{Credentials, TwilioError};
use crate::{brain::choices::Choices, state::AppState};

/// The Content SID for `choices` in the connector's Twilio account: the one created before for
/// the same account and shape, else a new one (kept for next time).
pub async fn sid_for(
    state: &AppState,
    creds: &Credentials,
    connector_id: &str,
    choices: &Choices,
) -> Result<String, ContentError> {
    let types = choices.content_types();
    // The account is part of the key: a connector's credentials may move to another account.
    let definition = format!("{}\n{types}", creds.account_sid.as_str());
    let hash: String = Sha256::digest(definition.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let known: Option<(String,)> =
        sqlx::query_as("SELECT sid FROM twilio_contents WHERE connector_id = $1 AND hash = $2")
            .bind(connector_id)
            .bind(&hash)
            .fetch_optional(&state.db.pool)
            .await?;
    if let Some((sid,)) = known {
        return Ok(sid);
    }
    let name = format!("switchboard_choices_{}", &hash[..16]);
    // Neutral samples: the texts of the choices that made it may be a guest's (a name, a booking).
    let samples = choices.samples();
    let sid = state.twilio.create_content(creds, &name, &types, &samples).await?;
    // Two senders that created the same definition at once: the first kept stands, both work.
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO twilio_contents (connector_id, hash, sid, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (connector_id, hash) DO NOTHING",
    )
    .bind(connector_id)
    .bind(&hash)
    .bind(&sid)
    .bind(crate::now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(content_sid = %sid, "content for an agent's choices created in Twilio");
    Ok(sid)
}

/// Forgets a content Twilio no longer takes (deleted from the account): the next reply with
/// those choices creates it again.
pub async fn forget(tx: &mut crate::db::WriteTx, connector_id: &str, sid: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM twilio_contents WHERE connector_id = $1 AND sid = $2")
        .bind(connector_id)
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
