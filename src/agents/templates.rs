//! The approved WhatsApp template an agent sends once a guest's 24-hour window has closed, chosen
//! from the connector account's templates (read live from Twilio's Content API).

use super::*;

/// The connector account's WhatsApp templates, read live from Twilio's Content API.
pub async fn list_templates(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<TemplateOption>> {
    let creds = connectors::account::require_active(state, me, connector_id).await?;
    let templates = state.twilio.list_templates(&creds).await.map_err(connectors::account::provider_error)?;
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
    require_agent(state, me, agent_id).await?;
    let Some(choice) = choice else {
        store::set_template(&state.db.pool, agent_id, None).await?;
        return detail(state, me, agent_id).await;
    };
    let variables = crate::template_variables(&choice.variables)?;
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
    let chosen = store::Chosen {
        connector_id: &choice.connector_id,
        sid: &template.sid,
        name: &template.name,
        variables: variables.as_deref(),
    };
    store::set_template(&state.db.pool, agent_id, Some(chosen)).await?;
    detail(state, me, agent_id).await
}
