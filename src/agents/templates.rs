//! The approved WhatsApp template an agent sends once a guest's 24-hour window has closed, chosen
//! from the connector account's templates (read live from Twilio's Content API).

use super::*;

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
    let creds = connectors::account::credentials(state, connector_id).await?;
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
        sqlx::query(
            "UPDATE agents SET template_connector_id = NULL, template_sid = NULL, template_name = NULL, \
             template_variables = NULL WHERE id = $1",
        )
        .bind(agent_id)
        .execute(&state.db.pool)
        .await?;
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
