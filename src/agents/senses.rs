//! What an agent perceives of the files guests send: voice notes transcribed through an
//! OpenAI-compatible `/audio/transcriptions` API (its key sealed like the brain's, and only ever
//! sent to the host it was typed for), and photos shown to an OpenAI-compatible model, as a
//! signed link or inline.

use app::agents::{port::SensesInput, Senses};

use super::*;

/// The agent's senses as its page shows them.
pub(super) async fn of(state: &AppState, agent_id: &str) -> Result<Senses> {
    let row = store::senses(&state.db.pool, agent_id).await?;
    Ok(Senses {
        transcription_key_set: row.transcribe_key_set(),
        transcription_url: row.transcribe_url,
        transcription_model: row.transcribe_model,
        images: ImageInput::parse(&row.image_input).unwrap_or_default(),
    })
}

/// Saves what the agent perceives of guests' files. An empty URL turns transcription off (and
/// drops its key); an empty key keeps the stored one while the URL's host stays the same.
pub async fn set_senses(state: &AppState, me: &Me, agent_id: &str, input: SensesInput) -> Result<AgentDetail> {
    let (name, _) = require_agent(state, me, agent_id).await?;
    let stored = store::senses(&state.db.pool, agent_id).await?;
    let (url, model, key) = match input.transcription_url.trim() {
        "" => (None, None, None),
        url => {
            let url = web_url("transcription_url", url, state.outbound.policy())?;
            let model = input.transcription_model.trim();
            if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
                return Err(
                    AppError::invalid("transcription_model", "Name the transcription model, e.g. whisper-1.").into()
                );
            }
            let key = input.transcription_key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
            if key.as_ref().is_some_and(|k| k.len() > 1000) {
                return Err(AppError::invalid("transcription_key", "That API key is too long.").into());
            }
            if key.is_none() {
                if !stored.transcribe_key_set() {
                    return Err(
                        AppError::invalid("transcription_key", "Enter the API key of the transcription API.").into()
                    );
                }
                if stored.transcribe_url.as_deref().and_then(url_host) != url_host(&url) {
                    return Err(AppError::invalid(
                        "transcription_key",
                        "The base URL now points at another host: enter the API key again (a stored key is only sent \
                         to the host it was typed for).",
                    )
                    .into());
                }
            }
            (Some(url), Some(model.to_string()), key.map(|k| state.secrets.seal(&k, agent_id)))
        }
    };
    let images = input.images.as_str();
    let new_key = key.is_some();
    store::set_senses(&state.db.pool, agent_id, url.as_deref(), model.as_deref(), key, images).await?;
    if new_key {
        let detail = "A new key for the transcription API.";
        crate::audit::record_now(state, me, crate::audit::Action::AgentKeyChanged, &name, detail).await?;
    }
    tracing::info!(agent_id, transcribes = url.is_some(), images, "agent's senses saved");
    detail(state, me, agent_id).await
}
