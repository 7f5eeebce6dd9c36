//! Agents, their built-in FAQ brain, and channels (which number an agent answers on).

use std::time::Duration;

use app::{
    accounts::{Me, Role},
    agents::{
        port::{AgentInput, BrainInput, TemplateChoice},
        AgentDetail, AgentSummary, BrainKind, BrainView, ChannelOption, ChannelRow, ChatLine, FaqEntry, ImageInput,
        TemplateOption, TryReply,
    },
    connectors::Provider,
    AppError,
};

pub mod channels;
mod port;
pub mod rest;
pub mod senses;
mod store;
pub mod templates;
pub mod whatsapp;

pub use crate::brain::MAX_REPLY_CHARS;

use crate::{
    brain::{Brain, Faq, GuestMessage, Hook, Mind, OpenAi, TurnInput},
    connectors,
    egress::Egress,
    error::Result,
    new_id, now_ms,
    state::AppState,
};

/// The organization's agents for its admins; their own for agent owners.
pub async fn list(state: &AppState, me: &Me) -> Result<Vec<AgentSummary>> {
    let owner = (me.role != Role::OrgAdmin).then_some(me.user_id.as_str());
    Ok(store::summaries(&state.db.pool, &me.org_id, owner).await?)
}

/// An agent's settings after validation; secrets still in clear, to be sealed.
struct Valid {
    name: String,
    description: String,
    instructions: String,
    welcome: Option<String>,
    fallback: String,
    faq: Vec<FaqEntry>,
    brain: BrainKind,
    url: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
    timeout_secs: Option<i64>,
}

fn text_within(field: &str, value: &str, max: usize, what: &str) -> std::result::Result<String, AppError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(AppError::invalid(field, format!("{what} is at most {max} characters.")));
    }
    Ok(value.to_string())
}

/// A URL Switchboard will call: http(s), with a host, and not an internal address the
/// operator has not allowed (names are checked again at every connection).
fn web_url(field: &str, value: &str, egress: &Egress) -> std::result::Result<String, AppError> {
    let value = value.trim();
    match url::Url::parse(value) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host_str().is_some() => {
            match egress.check_url(&u) {
                Ok(()) => Ok(value.to_string()),
                Err(why) => Err(AppError::invalid(field, format!("Switchboard will not call this URL: {why}."))),
            }
        }
        _ => Err(AppError::invalid(field, "Enter a full http:// or https:// URL.")),
    }
}

/// Where a URL sends to (scheme, host and port): an API key typed for one is not sent to another.
fn url_host(url: &str) -> Option<String> {
    Some(url::Url::parse(url).ok()?.origin().ascii_serialization())
}

/// Names are used in API paths: letters, digits, dots, hyphens and underscores.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 80
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn validate(input: AgentInput, egress: &Egress) -> std::result::Result<Valid, AppError> {
    let name = input.name.trim().to_string();
    if !valid_name(&name) {
        return Err(AppError::invalid(
            "name",
            "Give the agent a name of 1 to 80 letters, digits, dots, hyphens or underscores (it is used in API paths).",
        ));
    }
    let fallback = input.fallback_reply.trim().to_string();
    if fallback.is_empty() || fallback.chars().count() > 1600 {
        return Err(AppError::invalid("fallback_reply", "Write a fallback reply of 1 to 1,600 characters."));
    }
    if input.faq.len() > 500 {
        return Err(AppError::invalid("faq", "An agent holds at most 500 questions and answers."));
    }
    // An answer may end with its options in brackets ("[Spa; Pool]"): checked as WhatsApp shows them.
    for (i, entry) in input.faq.iter().enumerate() {
        crate::brain::choices::from_faq_answer(&entry.answer)
            .map_err(|why| AppError::invalid("faq", format!("Line {}: the options in brackets: {why}.", i + 1)))?;
    }
    let welcome = text_within("welcome_message", &input.welcome_message, 1600, "The welcome message")?;
    let mut v = Valid {
        name,
        description: text_within("description", &input.description, 500, "The description")?,
        instructions: text_within("instructions", &input.instructions, 8000, "The instructions")?,
        welcome: (!welcome.is_empty()).then_some(welcome),
        fallback,
        faq: input.faq,
        brain: BrainKind::Faq,
        url: None,
        model: None,
        api_key: None,
        timeout_secs: None,
    };
    match input.brain {
        BrainInput::Faq => {}
        BrainInput::OpenAi { base_url, model, api_key, timeout_secs } => {
            v.brain = BrainKind::OpenAi;
            v.url = Some(web_url("brain_url", &base_url, egress)?);
            let model = model.trim();
            if model.is_empty() || model.len() > 200 {
                return Err(AppError::invalid("llm_model", "Name the model, e.g. gpt-4o-mini."));
            }
            v.model = Some(model.to_string());
            v.api_key = api_key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
            if v.api_key.as_ref().is_some_and(|k| k.len() > 1000) {
                return Err(AppError::invalid("llm_api_key", "That API key is too long."));
            }
            v.timeout_secs = timeout_secs.map(|t| t as i64);
        }
        BrainInput::Hook { url, timeout_secs } => {
            v.brain = BrainKind::Hook;
            v.url = Some(web_url("brain_url", &url, egress)?);
            v.timeout_secs = timeout_secs.map(|t| t as i64);
        }
    }
    Ok(v)
}

/// A new signing secret for the HTTP hook brain.
fn new_hook_secret() -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("sbhs_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn name_taken() -> AppError {
    AppError::invalid("name", "An agent with this name already exists in your organization.")
}

impl Valid {
    /// The row to save, with the new key and secret sealed for agent `id`.
    fn fields<'a>(&'a self, state: &AppState, id: &str, hook_secret: Option<&str>) -> store::Fields<'a> {
        store::Fields {
            name: &self.name,
            description: &self.description,
            instructions: &self.instructions,
            welcome: self.welcome.as_deref(),
            fallback: &self.fallback,
            brain: self.brain,
            url: self.url.as_deref(),
            model: self.model.as_deref(),
            timeout_secs: self.timeout_secs,
            api_key: self.api_key.as_deref().map(|k| state.secrets.seal(k, id)),
            hook_secret: hook_secret.map(|k| state.secrets.seal(k, id)),
        }
    }
}

pub async fn create(state: &AppState, me: &Me, input: AgentInput) -> Result<AgentDetail> {
    let v = validate(input, state.outbound.policy())?;
    if v.brain == BrainKind::OpenAi && v.api_key.is_none() {
        return Err(AppError::invalid("llm_api_key", "Enter the API key of the model API.").into());
    }
    let id = new_id();
    let hook_secret = (v.brain == BrainKind::Hook).then(new_hook_secret);
    let mut tx = state.db.begin_write().await?;
    let fields = v.fields(state, &id, hook_secret.as_deref());
    match store::insert(&mut tx, &id, &me.org_id, &me.user_id, fields, now_ms()).await {
        Err(e) if store::is_name_taken(&e) => return Err(name_taken().into()),
        other => other?,
    };
    store::write_faq(&mut tx, &id, &v.faq).await?;
    let (actor, action) = (crate::audit::actor(me), crate::audit::Action::AgentCreated);
    let brain = format!("Brain: {}.", v.brain.as_str());
    crate::audit::record(&mut tx, &me.org_id, &actor, action, &v.name, &brain).await?;
    tx.commit().await?;
    tracing::info!(agent_id = %id, brain = v.brain.as_str(), "agent created");
    Ok(AgentDetail { new_hook_secret: hook_secret, ..detail(state, me, &id).await? })
}

/// Saves an edit in one transaction. An empty API key keeps the stored one; a brain left
/// behind takes its secret with it; switching to the hook creates its signing secret (returned
/// once).
pub async fn update(state: &AppState, me: &Me, agent_id: &str, input: AgentInput) -> Result<AgentDetail> {
    require_agent(state, me, agent_id).await?;
    let v = validate(input, state.outbound.policy())?;
    let stored = store::stored_secrets(&state.db.pool, agent_id).await?;
    if v.brain == BrainKind::OpenAi && v.api_key.is_none() {
        if !stored.api_key() {
            return Err(AppError::invalid("llm_api_key", "Enter the API key of the model API.").into());
        }
        if stored.brain_url.as_deref().and_then(url_host) != v.url.as_deref().and_then(url_host) {
            return Err(AppError::invalid(
                "llm_api_key",
                "The base URL now points at another host: enter the API key again (a stored key is only sent \
                 to the host it was typed for).",
            )
            .into());
        }
    }
    let new_secret = (v.brain == BrainKind::Hook && !stored.hook_secret()).then(new_hook_secret);
    let mut tx = state.db.begin_write().await?;
    match store::update(&mut tx, agent_id, &me.org_id, v.fields(state, agent_id, new_secret.as_deref())).await {
        Err(e) if store::is_name_taken(&e) => return Err(name_taken().into()),
        other => other?,
    };
    store::write_faq(&mut tx, agent_id, &v.faq).await?;
    if v.brain == BrainKind::OpenAi && v.api_key.is_some() {
        let (actor, action) = (crate::audit::actor(me), crate::audit::Action::AgentKeyChanged);
        crate::audit::record(&mut tx, &me.org_id, &actor, action, &v.name, "A new key for the model API.").await?;
    }
    tx.commit().await?;
    tracing::info!(agent_id, brain = v.brain.as_str(), "agent updated");
    Ok(AgentDetail { new_hook_secret: new_secret, ..detail(state, me, agent_id).await? })
}

/// Deletes the agent and its channels; the numbers stay active and its conversations stay,
/// without an agent.
pub async fn delete(state: &AppState, me: &Me, agent_id: &str) -> Result<()> {
    let (name, _) = require_agent(state, me, agent_id).await?;
    let (db, org, actor, name) = (&state.db, &me.org_id, &crate::audit::actor(me), &name);
    crate::db::retrying(|| async move {
        let mut tx = db.begin_write().await?;
        store::delete(&mut tx, agent_id, org).await?;
        crate::audit::record(&mut tx, org, actor, crate::audit::Action::AgentDeleted, name, "").await?;
        tx.commit().await
    })
    .await?;
    state.hooks.clear();
    tracing::info!(agent_id, "agent deleted");
    Ok(())
}

/// A new signing secret for the HTTP hook brain; the old one stops being used at once.
pub async fn regenerate_hook_secret(state: &AppState, me: &Me, agent_id: &str) -> Result<String> {
    let (name, _) = require_agent(state, me, agent_id).await?;
    let secret = new_hook_secret();
    if !store::set_hook_secret(&state.db.pool, agent_id, state.secrets.seal(&secret, agent_id)).await? {
        return Err(AppError::Conflict("Only an agent with the HTTP hook brain has a signing secret.".into()).into());
    }
    let detail = "The old secret no longer signs the hook's requests.";
    crate::audit::record_now(state, me, crate::audit::Action::HookSecretRegenerated, &name, detail).await?;
    Ok(secret)
}

pub async fn mind(state: &AppState, agent_id: &str) -> Result<Mind> {
    Ok(mind_at(state, agent_id).await?.1)
}

/// The agent's mind and the revision it was read at.
pub(crate) async fn mind_at(state: &AppState, agent_id: &str) -> Result<(i64, Mind)> {
    let store::MindRow {
        name,
        instructions,
        fallback_reply: fallback,
        welcome_message: welcome,
        brain,
        brain_url: url,
        llm_model: model,
        llm_api_key_enc: api_key,
        hook_secret_enc: hook_secret,
        brain_timeout_secs: timeout,
        mind_revision: revision,
        transcribe_url,
        transcribe_model,
        transcribe_key_enc,
        transcribe_off,
        image_input,
    } = store::mind(&state.db.pool, agent_id).await?;
    let images = ImageInput::parse(&image_input).unwrap_or_default();
    let timeout = timeout.map_or(state.tuning.brain_timeout, |s| Duration::from_secs(s.clamp(1, 120) as u64));
    let which = BrainKind::parse(&brain).unwrap_or(BrainKind::Faq);
    let kind = match which {
        BrainKind::OpenAi => {
            format!("OpenAI-compatible: {} at {}", model.as_deref().unwrap_or(""), url.as_deref().unwrap_or(""))
        }
        BrainKind::Hook => format!("HTTP hook: {}", url.as_deref().unwrap_or("")),
        BrainKind::Faq => "Built-in FAQ".to_string(),
    };
    let brain: Box<dyn Brain> = match which {
        BrainKind::OpenAi => Box::new(OpenAi {
            http: state.outbound.clone(),
            base_url: url.unwrap_or_default(),
            model: model.unwrap_or_default(),
            api_key: state.secrets.open(&api_key.unwrap_or_default(), agent_id)?,
            timeout,
            images: images != ImageInput::Off,
        }),
        BrainKind::Hook => Box::new(Hook {
            http: state.outbound.clone(),
            url: url.unwrap_or_default(),
            secret: state.secrets.open(&hook_secret.unwrap_or_default(), agent_id)?,
            timeout,
        }),
        BrainKind::Faq => Box::new(Faq { entries: faq(state, agent_id).await?, fallback: fallback.clone() }),
    };
    let calls_out = which != BrainKind::Faq;
    // The agent's own transcription API, or else its organization's, unless it never transcribes
    // (then no key is opened, nor the organization's read).
    let hearing = match (transcribe_off != 0, transcribe_url, transcribe_model, transcribe_key_enc) {
        (true, ..) => None,
        (false, Some(url), Some(model), Some(key)) => Some((url, model, state.secrets.open(&key, agent_id)?)),
        (false, ..) => match store::agent_org_transcription(&state.db.pool, agent_id).await? {
            (org_id, Some(url), Some(model), Some(key)) => Some((url, model, state.secrets.open(&key, &org_id)?)),
            _ => None,
        },
    }
    .map(|(base_url, model, api_key)| crate::brain::hearing::Transcriber {
        http: state.outbound.clone(),
        base_url,
        model,
        api_key,
        timeout: state.tuning.brain_timeout,
    });
    let images_inline = which == BrainKind::OpenAi && images == ImageInput::Inline;
    Ok((
        revision,
        Mind { brain, kind, name, instructions, fallback, welcome, timeout, calls_out, hearing, images_inline },
    ))
}

/// "Try the agent": the chat so far, typed in the backoffice; the guest's lines since the
/// agent's last answer are this turn.
pub async fn try_agent(state: &AppState, me: &Me, agent_id: &str, chat: Vec<ChatLine>) -> Result<TryReply> {
    require_agent(state, me, agent_id).await?;
    if chat.len() > 60 || chat.iter().any(|l| l.text.chars().count() > 1600) {
        return Err(AppError::invalid("chat", "Keep the chat to 60 lines of at most 1,600 characters.").into());
    }
    let split = chat.iter().rposition(|l| !l.from_guest).map_or(0, |i| i + 1);
    let messages: Vec<GuestMessage> =
        chat[split..].iter().map(|l| l.text.trim()).filter(|t| !t.is_empty()).map(GuestMessage::text).collect();
    if messages.is_empty() {
        return Err(AppError::invalid("chat", "Write a message to the agent first.").into());
    }
    let mind = mind(state, agent_id).await?;
    let input = TurnInput {
        agent: mind.name.clone(),
        instructions: mind.instructions.clone(),
        history: chat[..split].to_vec(),
        messages,
        ..TurnInput::default()
    };
    let started = std::time::Instant::now();
    let (reply, note) = mind.answer(&input).await;
    Ok(TryReply { reply: reply.shown(), note, latency_ms: started.elapsed().as_millis() as u64 })
}

/// The id of the agent called `name`, if `me` may manage it (the API names agents).
pub async fn id_by_name(state: &AppState, me: &Me, name: &str) -> Result<String> {
    let Some(id) = store::id_by_name(&state.db.pool, &me.org_id, name).await? else {
        return Err(AppError::NotFound("Agent".into()).into());
    };
    require_agent(state, me, &id).await?;
    Ok(id)
}

/// The agent's name and fallback reply, if `me` may manage it: an organization admin any agent
/// of the organization, an agent owner only their own. Anyone else is told it does not exist.
pub async fn require_agent(state: &AppState, me: &Me, agent_id: &str) -> Result<(String, String)> {
    match store::owner(&state.db.pool, agent_id, &me.org_id).await? {
        Some(a) if may_manage(me, &a) => Ok((a.name, a.fallback_reply)),
        _ => Err(AppError::NotFound("Agent".into()).into()),
    }
}

/// An organization admin manages every agent of the organization, an agent owner their own.
fn may_manage(me: &Me, agent: &store::Owner) -> bool {
    me.role == Role::OrgAdmin || agent.owner_id.as_deref() == Some(&me.user_id)
}

pub async fn faq(state: &AppState, agent_id: &str) -> Result<Vec<FaqEntry>> {
    Ok(store::faq(&state.db.pool, agent_id).await?)
}

pub async fn detail(state: &AppState, me: &Me, agent_id: &str) -> Result<AgentDetail> {
    let row = store::detail(&state.db.pool, agent_id, &me.org_id)
        .await?
        .filter(|r| may_manage(me, &r.owner))
        .ok_or_else(|| AppError::NotFound("Agent".into()))?;
    let (api_key_set, hook_secret_set) = (row.api_key_set(), row.hook_secret_set());
    Ok(AgentDetail {
        id: agent_id.to_string(),
        name: row.owner.name,
        brain: BrainView {
            kind: BrainKind::parse(&row.brain).unwrap_or(BrainKind::Faq),
            api_key_set,
            hook_secret_set,
            url: row.brain_url,
            model: row.llm_model,
            timeout_secs: row.brain_timeout_secs.map(|t| t as u64),
        },
        description: row.description,
        instructions: row.instructions,
        welcome_message: row.welcome_message,
        new_hook_secret: None,
        fallback_reply: row.owner.fallback_reply,
        faq: faq(state, agent_id).await?,
        template: store::template(&state.db.pool, agent_id).await?,
        senses: senses::of(state, me, agent_id).await?,
    })
}
