//! Agents, their built-in FAQ brain, and channels (which number an agent answers on).

use std::time::Duration;

use app::{
    accounts::{Me, Role},
    agents::{
        port::{AgentInput, BrainInput, TemplateChoice},
        AgentDetail, AgentSummary, AgentTemplate, BrainKind, BrainView, ChannelOption, ChannelRow, ChatLine, FaqEntry,
        TemplateOption, TryReply,
    },
    connectors::Provider,
    AppError,
};

pub mod channels;
mod port;
pub mod rest;
pub mod templates;
pub mod whatsapp;

pub use crate::brain::MAX_REPLY_CHARS;

use crate::{
    brain::{Brain, Faq, Hook, Mind, OpenAi, TurnInput},
    connectors,
    egress::Egress,
    error::{is_unique_violation, Result},
    new_id, now_ms,
    state::AppState,
};

/// The organization's agents for its admins; their own for agent owners.
pub async fn list(state: &AppState, me: &Me) -> Result<Vec<AgentSummary>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.name, (SELECT COUNT(*) FROM channels ch WHERE ch.agent_id = a.id) FROM agents a \
         WHERE a.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3) ORDER BY a.name",
    )
    .bind(&me.org_id)
    .bind(me.role.as_str())
    .bind(&me.user_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(|(id, name, channels)| AgentSummary { id, name, channels }).collect())
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

async fn write_faq(tx: &mut crate::db::WriteTx, agent_id: &str, faq: &[FaqEntry]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM faq_entries WHERE agent_id = $1").bind(agent_id).execute(&mut **tx).await?;
    for (position, entry) in faq.iter().enumerate() {
        sqlx::query("INSERT INTO faq_entries (agent_id, position, question, answer) VALUES ($1, $2, $3, $4)")
            .bind(agent_id)
            .bind(position as i64)
            .bind(&entry.question)
            .bind(&entry.answer)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn create(state: &AppState, me: &Me, input: AgentInput) -> Result<AgentDetail> {
    let v = validate(input, state.outbound.policy())?;
    if v.brain == BrainKind::OpenAi && v.api_key.is_none() {
        return Err(AppError::invalid("llm_api_key", "Enter the API key of the model API.").into());
    }
    let id = new_id();
    let hook_secret = (v.brain == BrainKind::Hook).then(new_hook_secret);
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO agents (id, org_id, name, description, instructions, welcome_message, fallback_reply, brain, \
         brain_url, llm_model, llm_api_key_enc, hook_secret_enc, brain_timeout_secs, owner_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(&me.org_id)
    .bind(&v.name)
    .bind(&v.description)
    .bind(&v.instructions)
    .bind(&v.welcome)
    .bind(&v.fallback)
    .bind(v.brain.as_str())
    .bind(&v.url)
    .bind(&v.model)
    .bind(v.api_key.as_deref().map(|k| state.secrets.seal(k, &id)))
    .bind(hook_secret.as_deref().map(|k| state.secrets.seal(k, &id)))
    .bind(v.timeout_secs)
    .bind(&me.user_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e, "agents_org_name_key", "agents.org_id") => return Err(name_taken().into()),
        other => other?,
    };
    write_faq(&mut tx, &id, &v.faq).await?;
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
    let (key_stored, secret_stored, stored_url): (i64, i64, Option<String>) = sqlx::query_as(
        "SELECT CASE WHEN llm_api_key_enc IS NULL THEN 0 ELSE 1 END, \
         CASE WHEN hook_secret_enc IS NULL THEN 0 ELSE 1 END, brain_url FROM agents WHERE id = $1",
    )
    .bind(agent_id)
    .fetch_one(&state.db.pool)
    .await?;
    if v.brain == BrainKind::OpenAi && v.api_key.is_none() {
        if key_stored == 0 {
            return Err(AppError::invalid("llm_api_key", "Enter the API key of the model API.").into());
        }
        if stored_url.as_deref().and_then(url_host) != v.url.as_deref().and_then(url_host) {
            return Err(AppError::invalid(
                "llm_api_key",
                "The base URL now points at another host: enter the API key again (a stored key is only sent \
                 to the host it was typed for).",
            )
            .into());
        }
    }
    let new_secret = (v.brain == BrainKind::Hook && secret_stored == 0).then(new_hook_secret);
    let mut tx = state.db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE agents SET name = $1, description = $2, instructions = $3, welcome_message = $4, fallback_reply = $5, \
         brain = $6, brain_url = $7, llm_model = $8, brain_timeout_secs = $9, \
         llm_api_key_enc = CASE WHEN $6 <> 'openai' THEN NULL WHEN $10 IS NOT NULL THEN $10 ELSE llm_api_key_enc END, \
         hook_secret_enc = CASE WHEN $6 <> 'hook' THEN NULL WHEN $11 IS NOT NULL THEN $11 ELSE hook_secret_enc END, \
         mind_revision = mind_revision + 1 WHERE id = $12 AND org_id = $13",
    )
    .bind(&v.name)
    .bind(&v.description)
    .bind(&v.instructions)
    .bind(&v.welcome)
    .bind(&v.fallback)
    .bind(v.brain.as_str())
    .bind(&v.url)
    .bind(&v.model)
    .bind(v.timeout_secs)
    .bind(v.api_key.as_deref().map(|k| state.secrets.seal(k, agent_id)))
    .bind(new_secret.as_deref().map(|k| state.secrets.seal(k, agent_id)))
    .bind(agent_id)
    .bind(&me.org_id)
    .execute(&mut *tx)
    .await;
    match updated {
        Err(e) if is_unique_violation(&e, "agents_org_name_key", "agents.org_id") => return Err(name_taken().into()),
        other => other?,
    };
    write_faq(&mut tx, agent_id, &v.faq).await?;
    tx.commit().await?;
    tracing::info!(agent_id, brain = v.brain.as_str(), "agent updated");
    Ok(AgentDetail { new_hook_secret: new_secret, ..detail(state, me, agent_id).await? })
}

/// Deletes the agent and its channels; the numbers stay active and its conversations stay,
/// without an agent.
pub async fn delete(state: &AppState, me: &Me, agent_id: &str) -> Result<()> {
    require_agent(state, me, agent_id).await?;
    sqlx::query("DELETE FROM agents WHERE id = $1 AND org_id = $2")
        .bind(agent_id)
        .bind(&me.org_id)
        .execute(&state.db.pool)
        .await?;
    state.hooks.clear();
    tracing::info!(agent_id, "agent deleted");
    Ok(())
}

/// A new signing secret for the HTTP hook brain; the old one stops being used at once.
pub async fn regenerate_hook_secret(state: &AppState, me: &Me, agent_id: &str) -> Result<String> {
    require_agent(state, me, agent_id).await?;
    let secret = new_hook_secret();
    let updated = sqlx::query(
        "UPDATE agents SET hook_secret_enc = $1, mind_revision = mind_revision + 1 WHERE id = $2 AND brain = 'hook'",
    )
    .bind(state.secrets.seal(&secret, agent_id))
    .bind(agent_id)
    .execute(&state.db.pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(AppError::Conflict("Only an agent with the HTTP hook brain has a signing secret.".into()).into());
    }
    Ok(secret)
}

type MindRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<i64>,
    i64,
);

pub async fn mind(state: &AppState, agent_id: &str) -> Result<Mind> {
    Ok(mind_at(state, agent_id).await?.1)
}

/// The agent's mind and the revision it was read at.
pub(crate) async fn mind_at(state: &AppState, agent_id: &str) -> Result<(i64, Mind)> {
    let (name, instructions, fallback, welcome, brain, url, model, api_key, hook_secret, timeout, revision): MindRow =
        sqlx::query_as(
            "SELECT name, instructions, fallback_reply, welcome_message, brain, brain_url, llm_model, llm_api_key_enc, \
             hook_secret_enc, brain_timeout_secs, mind_revision FROM agents WHERE id = $1",
        )
        .bind(agent_id)
        .fetch_one(&state.db.pool)
        .await?;
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
    Ok((revision, Mind { brain, kind, name, instructions, fallback, welcome, timeout, calls_out }))
}

/// "Try the agent": the chat so far, typed in the backoffice; the guest's lines since the
/// agent's last answer are this turn.
pub async fn try_agent(state: &AppState, me: &Me, agent_id: &str, chat: Vec<ChatLine>) -> Result<TryReply> {
    require_agent(state, me, agent_id).await?;
    if chat.len() > 60 || chat.iter().any(|l| l.text.chars().count() > 1600) {
        return Err(AppError::invalid("chat", "Keep the chat to 60 lines of at most 1,600 characters.").into());
    }
    let split = chat.iter().rposition(|l| !l.from_guest).map_or(0, |i| i + 1);
    let messages: Vec<String> =
        chat[split..].iter().map(|l| l.text.trim().to_string()).filter(|t| !t.is_empty()).collect();
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
    Ok(TryReply { reply, note, latency_ms: started.elapsed().as_millis() as u64 })
}

/// The id of the agent called `name`, if `me` may manage it (the API names agents).
pub async fn id_by_name(state: &AppState, me: &Me, name: &str) -> Result<String> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM agents WHERE org_id = $1 AND name = $2")
        .bind(&me.org_id)
        .bind(name)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some((id,)) = row else { return Err(AppError::NotFound("Agent".into()).into()) };
    require_agent(state, me, &id).await?;
    Ok(id)
}

/// The agent's name and fallback reply, if `me` may manage it: an organization admin any agent
/// of the organization, an agent owner only their own. Anyone else is told it does not exist.
pub async fn require_agent(state: &AppState, me: &Me, agent_id: &str) -> Result<(String, String)> {
    let row: Option<(String, String, Option<String>)> =
        sqlx::query_as("SELECT name, fallback_reply, owner_id FROM agents WHERE id = $1 AND org_id = $2")
            .bind(agent_id)
            .bind(&me.org_id)
            .fetch_optional(&state.db.pool)
            .await?;
    match row {
        Some((name, fallback, owner)) if me.role == Role::OrgAdmin || owner.as_deref() == Some(&me.user_id) => {
            Ok((name, fallback))
        }
        _ => Err(AppError::NotFound("Agent".into()).into()),
    }
}

pub async fn faq(state: &AppState, agent_id: &str) -> Result<Vec<FaqEntry>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT question, answer FROM faq_entries WHERE agent_id = $1 ORDER BY position")
            .bind(agent_id)
            .fetch_all(&state.db.pool)
            .await?;
    Ok(rows.into_iter().map(|(question, answer)| FaqEntry { question, answer }).collect())
}

type DetailRow =
    (String, String, String, Option<String>, String, Option<String>, Option<String>, i64, i64, Option<i64>);

pub async fn detail(state: &AppState, me: &Me, agent_id: &str) -> Result<AgentDetail> {
    let (fallback_reply, description, instructions, welcome_message, brain, url, model, key_set, secret_set, timeout): DetailRow =
        sqlx::query_as(
            "SELECT fallback_reply, description, instructions, welcome_message, brain, brain_url, llm_model, \
             CASE WHEN llm_api_key_enc IS NULL THEN 0 ELSE 1 END, CASE WHEN hook_secret_enc IS NULL THEN 0 ELSE 1 END, \
             brain_timeout_secs FROM agents WHERE id = $1 AND org_id = $2",
        )
        .bind(agent_id)
        .bind(&me.org_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| AppError::NotFound("Agent".into()))?;
    let (name, _) = require_agent(state, me, agent_id).await?;
    let template: Option<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.id, c.name, a.template_sid, COALESCE(a.template_name, ''), a.template_variables FROM agents a \
         JOIN connectors c ON c.id = a.template_connector_id WHERE a.id = $1 AND a.template_sid IS NOT NULL",
    )
    .bind(agent_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(AgentDetail {
        id: agent_id.to_string(),
        name,
        description,
        instructions,
        welcome_message,
        brain: BrainView {
            kind: BrainKind::parse(&brain).unwrap_or(BrainKind::Faq),
            url,
            model,
            api_key_set: key_set != 0,
            hook_secret_set: secret_set != 0,
            timeout_secs: timeout.map(|t| t as u64),
        },
        new_hook_secret: None,
        fallback_reply,
        faq: faq(state, agent_id).await?,
        template: template.map(|(connector_id, connector_name, sid, name, variables)| AgentTemplate {
            connector_id,
            connector_name,
            sid,
            name,
            variables: variables.unwrap_or_default(),
        }),
    })
}
