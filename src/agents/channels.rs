//! An agent's channels: the numbers it answers on (one agent per number), with their routes
//! (only messages from one number reach the agent; replies go to a fixed number).

use super::*;

pub async fn channels(state: &AppState, me: &Me, agent_id: &str) -> Result<Vec<ChannelRow>> {
    require_agent(state, me, agent_id).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        connector_name: String,
        phone_number: String,
        provider: String,
        inbound_from: Option<String>,
        outbound_to: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT ch.id AS id, c.name AS connector_name, n.phone_number AS phone_number, n.provider AS provider, \
         ch.inbound_from AS inbound_from, ch.outbound_to AS outbound_to FROM channels ch \
         JOIN numbers n ON n.id = ch.number_id JOIN connectors c ON c.id = n.connector_id WHERE ch.agent_id = $1 \
         ORDER BY n.phone_number",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ChannelRow {
            id: r.id,
            connector_name: r.connector_name,
            phone_number: r.phone_number,
            provider: Provider::stored(&r.provider),
            inbound_from: r.inbound_from,
            outbound_to: r.outbound_to,
        })
        .collect())
}

/// A route's number: empty for none, else E.164 (a `whatsapp:` prefix is taken off).
fn route_number(field: &str, value: Option<&str>) -> std::result::Result<Option<String>, AppError> {
    let Some(value) = value.map(|v| v.trim().trim_start_matches("whatsapp:")).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let e164 = crate::is_e164(value);
    if e164 {
        Ok(Some(value.to_string()))
    } else {
        Err(AppError::invalid(field, "Type the number in international format, e.g. +14155550123, or leave it empty."))
    }
}

/// Sets a channel's routes: `inbound_from` (only messages from this number reach the agent)
/// and `outbound_to` (replies go to this fixed number instead of the sender). Empty clears.
pub async fn set_routes(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    channel_id: &str,
    inbound_from: Option<&str>,
    outbound_to: Option<&str>,
) -> Result<ChannelRow> {
    require_agent(state, me, agent_id).await?;
    let inbound_from = route_number("inbound_from", inbound_from)?;
    let outbound_to = route_number("outbound_to", outbound_to)?;
    let updated =
        sqlx::query("UPDATE channels SET inbound_from = $1, outbound_to = $2 WHERE id = $3 AND agent_id = $4")
            .bind(&inbound_from)
            .bind(&outbound_to)
            .bind(channel_id)
            .bind(agent_id)
            .execute(&state.db.pool)
            .await?;
    if updated.rows_affected() == 0 {
        return Err(AppError::NotFound("Channel".into()).into());
    }
    state.hooks.clear();
    tracing::info!(agent_id, channel_id, "channel routes set");
    channels(state, me, agent_id)
        .await?
        .into_iter()
        .find(|c| c.id == channel_id)
        .ok_or_else(|| AppError::NotFound("Channel".into()).into())
}

/// The connector's active numbers, each with the agent it already answers for, if another.
pub async fn channel_options(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    connector_id: &str,
) -> Result<Vec<ChannelOption>> {
    require_agent(state, me, agent_id).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        number_id: String,
        phone_number: String,
        provider: String,
        agent_id: Option<String>,
        bound_to: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.id AS number_id, n.phone_number AS phone_number, n.provider AS provider, ch.agent_id AS agent_id, \
         a.name AS bound_to FROM numbers n \
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
        .map(|r| {
            let here = r.agent_id.as_deref() == Some(agent_id);
            ChannelOption {
                number_id: r.number_id,
                phone_number: r.phone_number,
                provider: Provider::stored(&r.provider),
                bound_to: r.bound_to.filter(|_| !here),
                here,
            }
        })
        .collect())
}

/// Binds a number to the agent. The database's unique constraint decides between two admins
/// binding one number at the same moment.
pub async fn add_channel(state: &AppState, me: &Me, agent_id: &str, number_id: &str) -> Result<ChannelRow> {
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
    state.hooks.clear();
    Ok(ChannelRow {
        id,
        connector_name,
        phone_number,
        provider: Provider::stored(&p),
        inbound_from: None,
        outbound_to: None,
    })
}

/// Unbinds the number; the connector and the number stay as they are.
pub async fn remove_channel(state: &AppState, me: &Me, agent_id: &str, channel_id: &str) -> Result<()> {
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
