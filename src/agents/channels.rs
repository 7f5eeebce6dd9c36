//! An agent's channels: the numbers it answers on (one agent per number), with their routes
//! (only messages from one number reach the agent; replies go to a fixed number).

use super::*;

pub async fn channels(state: &AppState, me: &Me, agent_id: &str) -> Result<Vec<ChannelRow>> {
    require_agent(state, me, agent_id).await?;
    Ok(store::channels(&state.db.pool, agent_id).await?)
}

/// A route's guest: empty for none, else a phone number in E.164 or, on a WhatsApp number, a
/// WhatsApp user id (a guest with a username may have no phone number); a `whatsapp:` prefix is
/// taken off.
fn route_address(field: &str, value: Option<&str>, whatsapp: bool) -> std::result::Result<Option<String>, AppError> {
    let Some(value) = value.map(|v| v.trim().trim_start_matches("whatsapp:")).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if crate::is_e164(value) {
        return Ok(Some(value.to_string()));
    }
    match (crate::is_whatsapp_user_id(value), whatsapp) {
        (true, true) => Ok(Some(value.to_string())),
        (true, false) => Err(AppError::invalid(
            field,
            "A WhatsApp user id routes only a WhatsApp number. Type a phone number in international format, e.g. \
             +14155550123, or leave it empty.",
        )),
        (false, true) => Err(AppError::invalid(
            field,
            "Type the number in international format, e.g. +14155550123, or a WhatsApp user id such as \
             US.13491208655302741918, or leave it empty.",
        )),
        (false, false) => Err(AppError::invalid(
            field,
            "Type the number in international format, e.g. +14155550123, or leave it empty.",
        )),
    }
}

/// Refuses routes the number cannot take, before it is bound (a channel added with a refused
/// route leaves nothing behind: neither the channel nor a line in the audit log).
pub async fn check_routes(
    state: &AppState,
    me: &Me,
    number_id: &str,
    inbound_from: Option<&str>,
    outbound_to: Option<&str>,
) -> Result<()> {
    // An unknown number: binding it says so.
    let Some(number) = store::bindable(&state.db.pool, &me.org_id, number_id).await? else { return Ok(()) };
    let whatsapp = Provider::stored(&number.provider) == Provider::WhatsApp;
    route_address("inbound_from", inbound_from, whatsapp)?;
    route_address("outbound_to", outbound_to, whatsapp)?;
    Ok(())
}

/// Sets a channel's routes: `inbound_from` (only messages from this guest reach the agent)
/// and `outbound_to` (replies go to this fixed recipient instead of the sender). Empty clears.
pub async fn set_routes(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    channel_id: &str,
    inbound_from: Option<&str>,
    outbound_to: Option<&str>,
) -> Result<ChannelRow> {
    let channel = channels(state, me, agent_id)
        .await?
        .into_iter()
        .find(|c| c.id == channel_id)
        .ok_or_else(|| AppError::NotFound("Channel".into()))?;
    let whatsapp = channel.provider == Provider::WhatsApp;
    let inbound_from = route_address("inbound_from", inbound_from, whatsapp)?;
    let outbound_to = route_address("outbound_to", outbound_to, whatsapp)?;
    let db = &state.db.pool;
    if !store::set_routes(db, agent_id, channel_id, inbound_from.as_deref(), outbound_to.as_deref()).await? {
        return Err(AppError::NotFound("Channel".into()).into());
    }
    state.hooks.clear();
    tracing::info!(agent_id, channel_id, "channel routes set");
    Ok(ChannelRow { inbound_from, outbound_to, ..channel })
}

/// The connector's active numbers, each with the agent it already answers for, if another.
pub async fn channel_options(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    connector_id: &str,
) -> Result<Vec<ChannelOption>> {
    require_agent(state, me, agent_id).await?;
    Ok(store::channel_options(&state.db.pool, &me.org_id, connector_id, agent_id).await?)
}

/// Binds a number to the agent. The database's unique constraint decides between two admins
/// binding one number at the same moment.
pub async fn add_channel(state: &AppState, me: &Me, agent_id: &str, number_id: &str) -> Result<ChannelRow> {
    let (agent_name, _) = require_agent(state, me, agent_id).await?;
    let db = &state.db.pool;
    let Some(number) = store::bindable(db, &me.org_id, number_id).await? else {
        return Err(AppError::NotFound("Number".into()).into());
    };
    let phone_number = &number.phone_number;
    if !number.active() {
        return Err(AppError::Conflict(format!(
            "{phone_number} is not active. Activate it on the connector's page first."
        ))
        .into());
    }
    let id = new_id();
    match store::insert_channel(db, &id, agent_id, number_id, now_ms()).await {
        Err(e) if store::is_number_bound(&e) => {
            let to = store::bound_to(db, number_id).await?.map(|n| format!(" (to {n})")).unwrap_or_default();
            return Err(AppError::Conflict(format!("{phone_number} is Already bound{to}.")).into());
        }
        other => other?,
    }
    tracing::info!(agent_id, number_id, "channel added");
    let detail = format!(
        "{} ({}) on {}.",
        number.phone_number,
        Provider::stored(&number.provider).label(),
        number.connector_name
    );
    crate::audit::record_now(state, me, crate::audit::Action::ChannelBound, &agent_name, &detail).await?;
    state.hooks.clear();
    Ok(ChannelRow {
        id,
        provider: Provider::stored(&number.provider),
        connector_name: number.connector_name,
        phone_number: number.phone_number,
        inbound_from: None,
        outbound_to: None,
    })
}

/// Unbinds the number; the connector and the number stay as they are.
pub async fn remove_channel(state: &AppState, me: &Me, agent_id: &str, channel_id: &str) -> Result<()> {
    let (agent_name, _) = require_agent(state, me, agent_id).await?;
    let number = channels(state, me, agent_id).await?.into_iter().find(|c| c.id == channel_id);
    if !store::delete_channel(&state.db.pool, agent_id, channel_id).await? {
        return Err(AppError::NotFound("Channel".into()).into());
    }
    let detail = number.map(|c| format!("{} ({}) on {}.", c.phone_number, c.provider.label(), c.connector_name));
    let detail = detail.unwrap_or_default();
    crate::audit::record_now(state, me, crate::audit::Action::ChannelUnbound, &agent_name, &detail).await?;
    Ok(())
}
