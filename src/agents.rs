//! Agents, their built-in FAQ brain, and channels (which number an agent answers on).

use app::{
    model::{
        AgentDetail, AgentSummary, AgentTemplate, ChannelOption, ChannelRow, FaqEntry, Me, Provider, TemplateOption,
    },
    ports::{AgentInput, TemplateChoice},
    AppError,
};

use crate::{
    accounts::require_admin,
    connectors,
    error::{is_unique_violation, Result},
    new_id, now_ms,
    state::AppState,
};

fn provider(s: &str) -> Provider {
    if s == "sms" {
        Provider::Sms
    } else {
        Provider::WhatsApp
    }
}

pub async fn list(state: &AppState, me: &Me) -> Result<Vec<AgentSummary>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.name, (SELECT COUNT(*) FROM channels ch WHERE ch.agent_id = a.id) FROM agents a WHERE a.org_id = $1 ORDER BY a.name",
    )
    .bind(&me.org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(|(id, name, channels)| AgentSummary { id, name, channels }).collect())
}

pub async fn create(state: &AppState, me: &Me, input: AgentInput) -> Result<AgentSummary> {
    require_admin(me)?;
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::invalid("name", "Give the agent a name of 1 to 80 characters.").into());
    }
    let fallback = input.fallback_reply.trim().to_string();
    if fallback.is_empty() || fallback.chars().count() > 1600 {
        return Err(AppError::invalid("fallback_reply", "Write a fallback reply of 1 to 1,600 characters.").into());
    }
    let id = new_id();
    let mut tx = state.db.begin_write().await?;
    let inserted =
        sqlx::query("INSERT INTO agents (id, org_id, name, fallback_reply, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(&me.org_id)
            .bind(&name)
            .bind(&fallback)
            .bind(now_ms())
            .execute(&mut *tx)
            .await;
    match inserted {
        Err(e) if is_unique_violation(&e, "agents_org_name_key", "agents.org_id") => {
            return Err(AppError::invalid("name", "An agent with this name already exists in your organization.").into())
        }
        other => other?,
    };
    for (position, entry) in input.faq.iter().enumerate() {
        sqlx::query("INSERT INTO faq_entries (agent_id, position, question, answer) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(position as i64)
            .bind(&entry.question)
            .bind(&entry.answer)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(AgentSummary { id, name, channels: 0 })
}

async fn require_agent(state: &AppState, me: &Me, agent_id: &str) -> Result<(String, String)> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT name, fallback_reply FROM agents WHERE id = $1 AND org_id = $2")
            .bind(agent_id)
            .bind(&me.org_id)
            .fetch_optional(&state.db.pool)
            .await?;
    row.ok_or_else(|| AppError::NotFound("Agent".into()).into())
}

pub async fn faq(state: &AppState, agent_id: &str) -> Result<Vec<FaqEntry>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT question, answer FROM faq_entries WHERE agent_id = $1 ORDER BY position")
            .bind(agent_id)
            .fetch_all(&state.db.pool)
            .await?;
    Ok(rows.into_iter().map(|(question, answer)| FaqEntry { question, answer }).collect())
}

pub async fn detail(state: &AppState, me: &Me, agent_id: &str) -> Result<AgentDetail> {
    let (name, fallback_reply) = require_agent(state, me, agent_id).await?;
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

/// The connector account's WhatsApp templates, read live from Twilio's Content API.
pub async fn list_templates(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<TemplateOption>> {
    let exists: Option<(String,)> = sqlx::query_as("SELECT state FROM connectors WHERE id = $1 AND org_id = $2")
        .bind(connector_id)
        .bind(&me.org_id)
        .fetch_optional(&state.db.pool)
        .await?;
    match exists {
        None => return Err(AppError::NotFound("Connector".into()).into()),
        Some((s,)) if s != "active" => {
            return Err(AppError::Conflict("Fix this connector's credentials first.".into()).into())
        }
        _ => {}
    }
    let creds = connectors::credentials(state, connector_id).await?;
    let templates = state.twilio.list_templates(&creds).await.map_err(connectors::provider_error)?;
    Ok(templates
        .into_iter()
        .map(|t| TemplateOption {
            sid: t.sid,
            name: t.friendly_name,
            language: t.language,
            body: t.body,
            status: t.whatsapp_status,
        })
        .collect())
}

/// Chooses the approved template the agent sends once a guest's 24-hour window has closed.
pub async fn set_template(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    choice: Option<TemplateChoice>,
) -> Result<AgentDetail> {
    require_admin(me)?;
    require_agent(state, me, agent_id).await?;
    let Some(choice) = choice else {
        sqlx::query(
            "UPDATE agents SET template_connector_id = NULL, template_sid = NULL, template_name = NULL, \
             template_variables = NULL WHERE id = $1",
        )
        .bind(agent_id)
        .execute(&state.db.pool)
        .await?;
        return detail(state, me, agent_id).await;
    };
    let variables = match choice.variables.trim() {
        "" => None,
        text => {
            let parsed: std::collections::BTreeMap<String, String> = serde_json::from_str(text).map_err(|_| {
                AppError::invalid("variables", "Variables are a JSON object of texts, for example {\"1\": \"there\"}.")
            })?;
            Some(serde_json::to_string(&parsed).expect("a map of strings serializes"))
        }
    };
    let templates = list_templates(state, me, &choice.connector_id).await?;
    let Some(template) = templates.into_iter().find(|t| t.sid == choice.sid) else {
        return Err(AppError::invalid("template_sid", "This template is not in the connector's Twilio account.").into());
    };
    if template.status != "approved" {
        return Err(AppError::invalid(
            "template_sid",
            format!("“{}” is not approved for WhatsApp (status: {}).", template.name, template.status),
        )
        .into());
    }
    sqlx::query(
        "UPDATE agents SET template_connector_id = $1, template_sid = $2, template_name = $3, template_variables = $4 \
         WHERE id = $5",
    )
    .bind(&choice.connector_id)
    .bind(&template.sid)
    .bind(&template.name)
    .bind(variables)
    .bind(agent_id)
    .execute(&state.db.pool)
    .await?;
    detail(state, me, agent_id).await
}

pub async fn channels(state: &AppState, me: &Me, agent_id: &str) -> Result<Vec<ChannelRow>> {
    require_agent(state, me, agent_id).await?;
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT ch.id, c.name, n.phone_number, n.provider FROM channels ch JOIN numbers n ON n.id = ch.number_id \
         JOIN connectors c ON c.id = n.connector_id WHERE ch.agent_id = $1 ORDER BY n.phone_number",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, connector_name, phone_number, p)| ChannelRow {
            id,
            connector_name,
            phone_number,
            provider: provider(&p),
        })
        .collect())
}

/// The connector's active numbers, each with the agent it already answers for, if another.
pub async fn channel_options(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    connector_id: &str,
) -> Result<Vec<ChannelOption>> {
    require_agent(state, me, agent_id).await?;
    let rows: Vec<(String, String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT n.id, n.phone_number, n.provider, ch.agent_id, a.name FROM numbers n \
         JOIN connectors c ON c.id = n.connector_id \
         LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id \
         WHERE n.connector_id = $1 AND c.org_id = $2 AND n.active = 1 ORDER BY n.phone_number",
    )
    .bind(connector_id)
    .bind(&me.org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.3.as_deref() != Some(agent_id))
        .map(|(number_id, phone_number, p, _, bound_to)| ChannelOption {
            number_id,
            phone_number,
            provider: provider(&p),
            bound_to,
        })
        .collect())
}

/// Binds a number to the agent. The database's unique constraint decides between two admins
/// binding one number at the same moment.
pub async fn add_channel(state: &AppState, me: &Me, agent_id: &str, number_id: &str) -> Result<ChannelRow> {
    require_admin(me)?;
    require_agent(state, me, agent_id).await?;
    let number: Option<(i64, String, String, String)> = sqlx::query_as(
        "SELECT n.active, n.phone_number, n.provider, c.name FROM numbers n JOIN connectors c ON c.id = n.connector_id \
         WHERE n.id = $1 AND c.org_id = $2",
    )
    .bind(number_id)
    .bind(&me.org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((active, phone_number, p, connector_name)) = number else {
        return Err(AppError::NotFound("Number".into()).into());
    };
    if active == 0 {
        return Err(AppError::Conflict(format!(
            "{phone_number} is not active. Activate it on the connector's page first."
        ))
        .into());
    }
    let id = new_id();
    let inserted = sqlx::query("INSERT INTO channels (id, agent_id, number_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(agent_id)
        .bind(number_id)
        .bind(now_ms())
        .execute(&state.db.pool)
        .await;
    if let Err(e) = &inserted {
        if is_unique_violation(e, "channels_number_key", "channels.number_id") {
            let holder: Option<(String,)> = sqlx::query_as(
                "SELECT a.name FROM channels ch JOIN agents a ON a.id = ch.agent_id WHERE ch.number_id = $1",
            )
            .bind(number_id)
            .fetch_optional(&state.db.pool)
            .await?;
            let to = holder.map(|(n,)| format!(" (to {n})")).unwrap_or_default();
            return Err(AppError::Conflict(format!("{phone_number} is Already bound{to}.")).into());
        }
    }
    inserted?;
    tracing::info!(agent_id, number_id, "channel added");
    Ok(ChannelRow { id, connector_name, phone_number, provider: provider(&p) })
}

/// Unbinds the number; the connector and the number stay as they are.
pub async fn remove_channel(state: &AppState, me: &Me, agent_id: &str, channel_id: &str) -> Result<()> {
    require_admin(me)?;
    require_agent(state, me, agent_id).await?;
    let deleted = sqlx::query("DELETE FROM channels WHERE id = $1 AND agent_id = $2")
        .bind(channel_id)
        .bind(agent_id)
        .execute(&state.db.pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound("Channel".into()).into());
    }
    Ok(())
}
