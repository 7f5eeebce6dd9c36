//! What an agent perceives of the files guests send: voice notes transcribed through an
//! OpenAI-compatible `/audio/transcriptions` API (its key sealed like the brain's, and only ever
//! sent to the host it was typed for) — the agent's own, or else its organization's — and photos
//! shown to an OpenAI-compatible model, as a signed link or inline.

use app::agents::{
    port::{SensesInput, TranscriptionInput},
    Senses, Transcription,
};

use super::*;

/// The agent's senses as its page shows them.
pub(super) async fn of(state: &AppState, me: &Me, agent_id: &str) -> Result<Senses> {
    let row = store::senses(&state.db.pool, agent_id).await?;
    Ok(Senses {
        transcription_key_set: row.transcription.key_set(),
        transcription_off: row.transcribe_off(),
        transcription_url: row.transcription.transcribe_url,
        transcription_model: row.transcription.transcribe_model,
        images: ImageInput::parse(&row.image_input).unwrap_or_default(),
        organization: organization(state, me).await?,
    })
}

/// What a transcription API's form gives, checked: its URL (none: off), model, and a new key
/// sealed under `aad`. An empty key keeps the stored one, only while the URL's host stays the one
/// it was typed for.
struct Checked {
    url: Option<String>,
    model: Option<String>,
    key: Option<Vec<u8>>,
}

fn check(
    state: &AppState,
    (url, model, key): (&str, &str, Option<String>),
    stored: (Option<&str>, bool),
    aad: &str,
) -> Result<Checked> {
    let url = match url.trim() {
        "" => return Ok(Checked { url: None, model: None, key: None }),
        url => web_url("transcription_url", url, state.outbound.policy())?,
    };
    let model = model.trim();
    if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
        return Err(AppError::invalid("transcription_model", "Name the transcription model, e.g. whisper-1.").into());
    }
    let key = key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    if key.as_ref().is_some_and(|k| k.len() > 1000) {
        return Err(AppError::invalid("transcription_key", "That API key is too long.").into());
    }
    if key.is_none() {
        let (stored_url, stored_key) = stored;
        if !stored_key {
            return Err(AppError::invalid("transcription_key", "Enter the API key of the transcription API.").into());
        }
        if stored_url.and_then(url_host) != url_host(&url) {
            return Err(AppError::invalid(
                "transcription_key",
                "The base URL now points at another host: enter the API key again (a stored key is only sent to \
                 the host it was typed for).",
            )
            .into());
        }
    }
    Ok(Checked { url: Some(url), model: Some(model.to_string()), key: key.map(|k| state.secrets.seal(&k, aad)) })
}

/// What a save answers when the settings changed since they were read (another admin's save).
fn changed_meanwhile() -> crate::error::Error {
    AppError::Conflict("The transcription API was changed meanwhile: reload the page and save again.".into()).into()
}

/// Saves what the agent perceives of guests' files. An empty URL drops its own transcription API
/// (and its key): the organization's, if any, is used, unless `transcription_off` says the
/// agent's guests' voice notes are never transcribed.
pub async fn set_senses(state: &AppState, me: &Me, agent_id: &str, input: SensesInput) -> Result<AgentDetail> {
    let (name, _) = require_agent(state, me, agent_id).await?;
    let stored = store::senses(&state.db.pool, agent_id).await?.transcription;
    let form = (input.transcription_url.as_str(), input.transcription_model.as_str(), input.transcription_key);
    let kept = (stored.transcribe_url.as_deref(), stored.key_set());
    let Checked { url, model, key } = check(state, form, kept, agent_id)?;
    let images = input.images.as_str();
    let new_key = key.is_some();
    let off = input.transcription_off;
    let api = (url.as_deref(), model.as_deref(), key);
    if !store::set_senses(&state.db.pool, agent_id, api, stored.transcribe_url.as_deref(), off, images).await? {
        return Err(changed_meanwhile());
    }
    if new_key {
        let detail = "A new key for the transcription API.";
        crate::audit::record_now(state, me, crate::audit::Action::AgentKeyChanged, &name, detail).await?;
    }
    tracing::info!(agent_id, own_transcription = url.is_some(), off, images, "agent's senses saved");
    detail(state, me, agent_id).await
}

/// The organization's transcription API.
pub async fn organization(state: &AppState, me: &Me) -> Result<Transcription> {
    let row = store::org_transcription(&state.db.pool, &me.org_id).await?;
    Ok(Transcription {
        key_set: row.key_set(),
        url: row.transcribe_url,
        model: row.transcribe_model,
        editable: me.role == Role::OrgAdmin,
    })
}

/// Sets the organization's transcription API (admins): every agent without its own uses it from
/// its next turn. An empty URL turns it off and drops its key.
pub async fn set_organization(state: &AppState, me: &Me, input: TranscriptionInput) -> Result<Transcription> {
    crate::accounts::require_admin(me)?;
    let stored = store::org_transcription(&state.db.pool, &me.org_id).await?;
    let kept = (stored.transcribe_url.as_deref(), stored.key_set());
    let form = (input.url.as_str(), input.model.as_str(), input.key);
    let Checked { url, model, key } = check(state, form, kept, &me.org_id)?;
    let detail = match (&url, &model) {
        (Some(url), Some(model)) => format!(
            "{model} at {}{}",
            url_host(url).unwrap_or_default(),
            if key.is_some() { ", with a new key" } else { "" }
        ),
        _ => "Off: only agents with their own transcribe voice notes.".to_string(),
    };
    let transcribes = url.is_some();
    let mut tx = state.db.begin_write().await?;
    let api = (url.as_deref(), model.as_deref(), key);
    if !store::set_org_transcription(&mut tx, &me.org_id, api, stored.transcribe_url.as_deref()).await? {
        return Err(changed_meanwhile());
    }
    let (actor, action) = (crate::audit::actor(me), crate::audit::Action::TranscriptionChanged);
    crate::audit::record(&mut tx, &me.org_id, &actor, action, &me.org_name, &detail).await?;
    tx.commit().await?;
    tracing::info!(org_id = %me.org_id, transcribes, "organization's transcription API saved");
    organization(state, me).await
}
