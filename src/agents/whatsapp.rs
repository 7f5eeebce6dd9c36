//! An agent's WhatsApp binding, as one setting: the WhatsApp number the agent answers on, bound,
//! replaced or removed in one call. The REST API's `/api/agents/{name}/whatsapp` routes follow
//! Trinity's (the agent platform whose WhatsApp integration guide Switchboard was designed from),
//! so scripts written for it keep working; underneath, a binding is a channel.

use app::{accounts::Me, AppError};

use crate::{error::Result, state::AppState};

/// One WhatsApp number an agent answers on.
pub struct Binding {
    pub channel_id: String,
    pub connector_id: String,
    /// The connector's name.
    pub connector: String,
    pub number_id: String,
    /// The number, `+1…` (without `whatsapp:`).
    pub number: String,
    /// Where Twilio must send the number's messages.
    pub webhook_url: String,
    /// Whether Twilio has that URL (`unknown`, `configured`, `not_configured`), or `manual` for
    /// the sandbox, whose webhook is set by hand in Twilio's Console.
    pub webhook: String,
}

/// The agent's WhatsApp bindings, by number.
pub async fn bindings(state: &AppState, me: &Me, agent_id: &str) -> Result<Vec<Binding>> {
    super::require_agent(state, me, agent_id).await?;
    let rows = super::store::whatsapp_bindings(&state.db.pool, agent_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| Binding {
            webhook_url: state.inbound_webhook_url(&r.webhook_key),
            webhook: if r.sandbox_join.is_some() { "manual".into() } else { r.webhook_state },
            channel_id: r.channel_id,
            connector_id: r.connector_id,
            connector: r.connector,
            number_id: r.number_id,
            number: r.number,
        })
        .collect())
}

/// Binds the agent to the WhatsApp `number` of `connector` (its id or name), replacing its
/// other WhatsApp bindings; binding it again to the same number changes nothing.
pub async fn bind(state: &AppState, me: &Me, agent_id: &str, connector: &str, number: &str) -> Result<Vec<Binding>> {
    super::require_agent(state, me, agent_id).await?;
    let (connector, number) = (connector.trim(), number.trim().trim_start_matches("whatsapp:"));
    let Some(number_id) = super::store::whatsapp_number(&state.db.pool, &me.org_id, connector, number).await? else {
        return Err(AppError::NotFound(format!("WhatsApp number {number} on connector {connector}")).into());
    };
    let existing = bindings(state, me, agent_id).await?;
    if !existing.iter().any(|w| w.number == number) {
        super::channels::add_channel(state, me, agent_id, &number_id).await?;
        for other in existing {
            super::channels::remove_channel(state, me, agent_id, &other.channel_id).await?;
        }
    }
    bindings(state, me, agent_id).await
}

/// Removes every WhatsApp binding of the agent.
pub async fn unbind(state: &AppState, me: &Me, agent_id: &str) -> Result<()> {
    for binding in bindings(state, me, agent_id).await? {
        super::channels::remove_channel(state, me, agent_id, &binding.channel_id).await?;
    }
    Ok(())
}
