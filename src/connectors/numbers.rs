//! A connector's numbers: the Phone Numbers checklist read from Twilio and saved, and the
//! WhatsApp sandbox.

use std::collections::HashSet;

use app::{
    accounts::Me,
    connectors::{NumberRow, Provider, SANDBOX_NUMBER},
    AppError,
};

use super::{
    account::{provider_error, require_active, summary_of},
    store::{self, Found},
};
use crate::{accounts::require_admin, error::Result, now_ms, state::AppState};

/// Reads the account's WhatsApp senders and SMS-capable numbers from Twilio, records any new
/// ones (inactive), and returns the checklist.
pub async fn list_numbers(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let (senders, numbers) =
        tokio::join!(state.twilio.list_whatsapp_senders(&creds), state.twilio.list_incoming_numbers(&creds));
    let (senders, numbers) = (senders.map_err(provider_error)?, numbers.map_err(provider_error)?);
    let mut found = Vec::new();
    for s in senders {
        found.push(Found {
            phone_number: s.sender_id.strip_prefix("whatsapp:").unwrap_or(&s.sender_id).to_string(),
            address: s.sender_id,
            provider: Provider::WhatsApp,
            sid: s.sid,
            display_name: s.profile.and_then(|p| p.name),
            status: s.status,
        });
    }
    for n in numbers.into_iter().filter(|n| n.capabilities.sms) {
        found.push(Found {
            address: n.phone_number.clone(),
            phone_number: n.phone_number,
            provider: Provider::Sms,
            sid: n.sid,
            display_name: n.friendly_name,
            status: None,
        });
    }
    let mut tx = state.db.begin_write().await?;
    store::upsert_numbers(&mut tx, connector_id, found, now_ms()).await?;
    tx.commit().await?;
    stored_numbers(state, connector_id).await
}

/// The provider SID a sandbox row carries: the sandbox is no sender of the account's own.
const SANDBOX_SID: &str = "sandbox";

/// Adds the WhatsApp sandbox (`whatsapp:+14155238886`) by hand, with its join keyword (in the
/// Twilio Console under Messaging → Try it out). Adding it again updates the keyword.
pub async fn add_sandbox(state: &AppState, me: &Me, connector_id: &str, join: &str) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    require_active(state, me, connector_id).await?;
    let keyword = join.trim();
    let keyword = keyword.strip_prefix("join ").unwrap_or(keyword).trim().to_ascii_lowercase();
    let well_formed = (3..=60).contains(&keyword.len())
        && keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !keyword.starts_with('-');
    if !well_formed {
        return Err(AppError::invalid(
            "join",
            "Enter the sandbox's join keyword as the Twilio Console shows it, e.g. join silver-tiger.",
        )
        .into());
    }
    let address = format!("whatsapp:{SANDBOX_NUMBER}");
    let join = format!("join {keyword}");
    store::upsert_sandbox(&state.db.pool, connector_id, &address, SANDBOX_NUMBER, SANDBOX_SID, &join, now_ms()).await?;
    stored_numbers(state, connector_id).await
}

async fn stored_numbers(state: &AppState, connector_id: &str) -> Result<Vec<NumberRow>> {
    Ok(store::checklist(&state.db.pool, connector_id).await?)
}

/// Activates exactly the checked numbers, in one transaction. A number that answers for an
/// agent is only deactivated when `unbind` confirms it, and then its channel goes in the same
/// transaction.
pub async fn save_numbers(
    state: &AppState,
    me: &Me,
    connector_id: &str,
    active: Vec<String>,
    unbind: bool,
) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    summary_of(state, me, connector_id).await?;
    let active: HashSet<String> = active.into_iter().collect();
    let mut tx = state.db.begin_write().await?;
    let rows = store::activations(&mut tx, connector_id).await?;
    let known: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    if let Some(unknown) = active.iter().find(|id| !known.contains(id.as_str())) {
        return Err(AppError::invalid("active", format!("Number {unknown} does not belong to this connector.")).into());
    }
    let bound: Vec<String> = rows
        .iter()
        .filter(|r| r.active != 0 && !active.contains(&r.id))
        .filter_map(|r| r.agent.as_deref().map(|agent| format!("{} (agent {agent})", r.phone_number)))
        .collect();
    if !bound.is_empty() && !unbind {
        return Err(AppError::Conflict(format!(
            "Deactivating {} removes its channel: the agent stops answering on it. Confirm to go on.",
            bound.join(", ")
        ))
        .into());
    }
    for r in &rows {
        let now_active = active.contains(&r.id);
        if (r.active != 0) != now_active {
            store::set_active(&mut tx, &r.id, now_active, !now_active && r.agent.is_some()).await?;
        }
    }
    tx.commit().await?;
    if !bound.is_empty() {
        tracing::info!(connector_id, unbound = bound.len(), "numbers deactivated and unbound");
    }
    state.hooks.clear();
    stored_numbers(state, connector_id).await
}
