//! A connector's numbers: the Phone Numbers checklist read from Twilio and saved, and the
//! WhatsApp sandbox.

use std::collections::HashSet;

use app::{
    accounts::Me,
    connectors::{NumberRow, WebhookState, SANDBOX_NUMBER},
    AppError,
};

use super::account::{provider_error, provider_of, require_active, summary_of, webhook_state};
use crate::{accounts::require_admin, error::Result, new_id, now_ms, state::AppState};

/// Reads the account's WhatsApp senders and SMS-capable numbers from Twilio, records any new
/// ones (inactive), and returns the checklist.
pub async fn list_numbers(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let (senders, numbers) =
        tokio::join!(state.twilio.list_whatsapp_senders(&creds), state.twilio.list_incoming_numbers(&creds));
    let (senders, numbers) = (senders.map_err(provider_error)?, numbers.map_err(provider_error)?);
    let now = now_ms();
    let mut found = Vec::new();
    for s in senders {
        let phone = s.sender_id.strip_prefix("whatsapp:").unwrap_or(&s.sender_id).to_string();
        found.push((s.sender_id.clone(), phone, "whatsapp", s.sid, s.profile.and_then(|p| p.name), s.status));
    }
    for n in numbers.into_iter().filter(|n| n.capabilities.sms) {
        found.push((n.phone_number.clone(), n.phone_number, "sms", n.sid, n.friendly_name, None));
    }
    let mut tx = state.db.begin_write().await?;
    for (address, phone, provider, sid, display_name, status) in found {
        sqlx::query(
            "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, display_name, sender_status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (connector_id, address) DO UPDATE SET provider_sid = excluded.provider_sid, \
             display_name = excluded.display_name, sender_status = excluded.sender_status",
        )
        .bind(new_id())
        .bind(connector_id)
        .bind(address)
        .bind(phone)
        .bind(provider)
        .bind(sid)
        .bind(display_name)
        .bind(status)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
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
    sqlx::query(
        "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, display_name, \
         sender_status, sandbox_join, created_at) VALUES ($1, $2, $3, $4, 'whatsapp', $5, 'WhatsApp sandbox', \
         'SANDBOX', $6, $7) ON CONFLICT (connector_id, address) DO UPDATE SET sandbox_join = excluded.sandbox_join",
    )
    .bind(new_id())
    .bind(connector_id)
    .bind(format!("whatsapp:{SANDBOX_NUMBER}"))
    .bind(SANDBOX_NUMBER)
    .bind(SANDBOX_SID)
    .bind(format!("join {keyword}"))
    .bind(now_ms())
    .execute(&state.db.pool)
    .await?;
    stored_numbers(state, connector_id).await
}

type NumberDbRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

async fn stored_numbers(state: &AppState, connector_id: &str) -> Result<Vec<NumberRow>> {
    let rows: Vec<NumberDbRow> = sqlx::query_as(
        "SELECT n.id, n.phone_number, n.provider, n.display_name, n.sender_status, n.active, n.webhook_state, \
         n.webhook_detail, a.name, n.sandbox_join \
         FROM numbers n LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id \
         WHERE n.connector_id = $1 ORDER BY n.phone_number, n.provider DESC",
    )
    .bind(connector_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                phone_number,
                provider,
                display_name,
                sender_status,
                active,
                webhook,
                webhook_detail,
                bound_agent,
                sandbox_join,
            )| NumberRow {
                id,
                phone_number,
                provider: provider_of(&provider),
                display_name,
                sender_status,
                active: active != 0,
                webhook: if sandbox_join.is_some() { WebhookState::Manual } else { webhook_state(&webhook) },
                webhook_detail,
                bound_agent,
                sandbox_join,
            },
        )
        .collect())
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
    let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT n.id, n.phone_number, n.active, a.name FROM numbers n \
         LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id WHERE n.connector_id = $1",
    )
    .bind(connector_id)
    .fetch_all(&mut *tx)
    .await?;
    let known: HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    if let Some(unknown) = active.iter().find(|id| !known.contains(id.as_str())) {
        return Err(AppError::invalid("active", format!("Number {unknown} does not belong to this connector.")).into());
    }
    let bound: Vec<String> = rows
        .iter()
        .filter(|(id, _, was_active, agent)| *was_active != 0 && !active.contains(id) && agent.is_some())
        .map(|(_, phone, _, agent)| format!("{phone} (agent {})", agent.as_deref().unwrap_or_default()))
        .collect();
    if !bound.is_empty() && !unbind {
        return Err(AppError::Conflict(format!(
            "Deactivating {} removes its channel: the agent stops answering on it. Confirm to go on.",
            bound.join(", ")
        ))
        .into());
    }
    for (id, _, was_active, agent) in &rows {
        let now_active = active.contains(id);
        if (*was_active != 0) == now_active {
            continue;
        }
        if !now_active && agent.is_some() {
            sqlx::query("DELETE FROM channels WHERE number_id = $1").bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE numbers SET active = $1 WHERE id = $2")
            .bind(i64::from(now_active))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if !bound.is_empty() {
        tracing::info!(connector_id, unbound = bound.len(), "numbers deactivated and unbound");
    }
    state.hooks.clear();
    stored_numbers(state, connector_id).await
}
