//! An agent's conversations, a page at a time (the agent's page and the REST API), and the
//! proactive messages sent to a guest from there.

use app::{accounts::Me, inbox::ConversationView};
use sqlx::Row;

use super::store::{self, Place};
use crate::{
    error::Result,
    pipeline::{
        outbox::{open_statement, queue, Outgoing},
        sender::window_open,
    },
    state::AppState,
};

pub async fn for_agent(state: &AppState, me: &Me, agent_id: &str) -> Result<Vec<ConversationView>> {
    Ok(page_for_agent(state, me, agent_id, 50, None).await?.conversations)
}

/// A page of an agent's conversations, most recently active first.
pub struct Page {
    pub conversations: Vec<ConversationView>,
    /// How many conversations the agent has in all.
    pub total: i64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

/// The page after `cursor` (from the start without one), `limit` conversations long. A cursor
/// is the position of a page's last conversation: paging holds steady while messages arrive
/// (a conversation that gets one moves to the first page instead of showing twice).
pub async fn page_for_agent(
    state: &AppState,
    me: &Me,
    agent_id: &str,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Page> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let invalid = || app::AppError::invalid("cursor", "This cursor is not one a page of this list gave.");
    let after = cursor.map(|c| Place::parse(c).ok_or_else(invalid)).transpose()?;
    let db = &state.db.pool;
    let total = store::agent_total(db, &me.org_id, agent_id).await?;
    let walk = total >= state.tuning.agent_walk_from;
    let rows = store::agent_page(db, state.db.backend, &me.org_id, agent_id, walk, after.as_ref(), limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
    let next = rows.last().filter(|_| more).map(|r| Place { at: r.at, id: r.id.clone() }.cursor());
    let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
    let mut messages = super::load_messages(state, &ids, None).await?;
    let conversations = rows
        .into_iter()
        .map(|r| ConversationView {
            messages: messages.remove(&r.id).unwrap_or_default(),
            // Whole to admins, masked to agent owners, as on every page.
            guest: super::shown(me, &r.guest_address),
            id: r.id,
            guest_name: r.guest_name,
            number: r.phone_number,
        })
        .collect();
    Ok(Page { conversations, total, next })
}

/// A message the agent starts (the API's proactive messages): free text inside the guest's
/// 24-hour window, or an approved template at any time.
#[derive(Debug, Clone, Default)]
pub struct Proactive {
    /// The guest's number, E.164.
    pub to: String,
    pub body: Option<String>,
    /// A Content SID (`HX…`) and its variables as a JSON object.
    pub template: Option<(String, Option<String>)>,
    /// Which of the agent's numbers to send from; the first WhatsApp one when absent.
    pub from: Option<String>,
}

/// Queues a proactive message in the guest's conversation (created if new) and returns the
/// message's and the conversation's ids. The sender takes it from there, under the same rules
/// as the agent's replies.
pub async fn send_proactive(state: &AppState, me: &Me, agent_id: &str, p: Proactive) -> Result<(String, String)> {
    use app::AppError;
    crate::agents::require_agent(state, me, agent_id).await?;
    let to = p.to.trim().trim_start_matches("whatsapp:").to_string();
    let user_id = crate::is_whatsapp_user_id(&to);
    if !crate::is_e164(&to) && !user_id {
        return Err(AppError::invalid(
            "to",
            "Give the guest's number in international format, e.g. +14155550123, or their WhatsApp user id \
             (e.g. US.13491208655302741918).",
        )
        .into());
    }
    let template = match p.template {
        None => None,
        Some((sid, variables)) => {
            let sid = sid.trim().to_string();
            let valid = sid.len() == 34 && sid.starts_with("HX") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(AppError::invalid(
                    "template",
                    "A template is its Content SID: HX and 32 hexadecimal characters.",
                )
                .into());
            }
            let variables = crate::template_variables(variables.as_deref().unwrap_or(""))?;
            Some((sid, variables))
        }
    };
    let body = p.body.as_deref().map(str::trim).unwrap_or_default().to_string();
    if template.is_none() && (body.is_empty() || body.chars().count() > 1600) {
        return Err(AppError::invalid("body", "Write a message of 1 to 1,600 characters, or give a template.").into());
    }
    let channels = store::senders(&state.db.pool, agent_id).await?;
    let chosen = match p.from.as_deref().map(|f| f.trim().trim_start_matches("whatsapp:")) {
        Some(from) => channels
            .into_iter()
            .find(|c| c.phone_number == from)
            .ok_or_else(|| AppError::invalid("from", "The agent does not answer on this number."))?,
        None => channels
            .into_iter()
            .next()
            .ok_or_else(|| AppError::Conflict("This agent answers on no number yet: add a channel first.".into()))?,
    };
    if user_id && !chosen.address.starts_with("whatsapp:") {
        return Err(
            AppError::invalid("to", "A WhatsApp user id is written to from a WhatsApp number, not by SMS.").into()
        );
    }
    let guest = if chosen.address.starts_with("whatsapp:") { format!("whatsapp:{to}") } else { to };
    // A guest known by their user id is written to in the conversation that knows it, at the
    // address it last had from Twilio.
    let guest = match user_id {
        true => store::address_of_user(&state.db.pool, &chosen.number_id, &guest).await?.unwrap_or(guest),
        false => guest,
    };
    let (message_id, now) = (crate::new_id(), crate::now_ms());
    let mut tx = state.db.begin_write().await?;
    let rows = open_statement(&chosen.number_id, &guest, Some(agent_id), now).run(&mut tx).await?;
    let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    let (conversation_id, last_inbound, closed): (String, Option<i64>, Option<i64>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if template.is_none() && !window_open(&chosen.address, now, last_inbound, closed) {
        return Err(AppError::OutsideWindow(
            "Outside WhatsApp's 24-hour window for this guest (they have not written in the last 24 hours): free text \
             cannot be sent. Send an approved template instead."
                .into(),
        )
        .into());
    }
    let note = template.as_ref().map(|(sid, _)| format!("Proactive message: template {sid}, sent through the API."));
    let outgoing = Outgoing { id: message_id.clone(), body, note, template: template.clone(), ..Outgoing::default() };
    queue(&mut tx, &conversation_id, &chosen.connector_id, &[outgoing], now).await?;
    tx.commit().await?;
    state.wake_sends().await;
    state.events.changed(&conversation_id);
    tracing::info!(agent_id, message_id = %message_id, template = template.is_some(), "proactive message queued");
    Ok((message_id, conversation_id))
}
