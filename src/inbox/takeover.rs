//! Human takeover: staff pause the agent in one conversation, reply themselves (free text inside
//! the 24-hour window, a template at any time), hand back, or end the conversation.

use super::*;

/// Human takeover: while paused, the agent does not answer this guest; staff do.
pub async fn set_paused(state: &AppState, me: &Me, id: &str, paused: bool) -> Result<()> {
    access(state, me, id).await?;
    let mut tx = state.db.begin_write().await?;
    store::set_paused(&mut tx, id, paused.then_some(me.user_id.as_str()), now_ms()).await?;
    let action = if paused { crate::audit::Action::TakenOver } else { crate::audit::Action::HandedBack };
    let subject = format!("Conversation {id}");
    crate::audit::record(&mut tx, &me.org_id, &crate::audit::actor(me), action, &subject, "").await?;
    tx.commit().await?;
    tracing::info!(conversation_id = id, paused, "conversation taken over by staff or handed back");
    state.events.changed(id);
    Ok(())
}

/// Ends a live conversation by hand; the guest's next message opens it again.
pub async fn end(state: &AppState, me: &Me, id: &str) -> Result<()> {
    access(state, me, id).await?;
    let mut tx = state.db.begin_write().await?;
    if !store::end(&mut tx, id, now_ms()).await? {
        return Err(AppError::Conflict("This conversation has ended already.".into()).into());
    }
    tx.commit().await?;
    state.events.changed(id);
    Ok(())
}

/// A reply written by staff, sent by the same sender under the same rules: free text inside
/// the 24-hour window, an approved template (chosen by staff) at any time.
pub async fn staff_reply(
    state: &AppState,
    me: &Me,
    id: &str,
    body: &str,
    template: Option<(String, Option<String>)>,
) -> Result<String> {
    let a = access(state, me, id).await?;
    let body = body.trim().to_string();
    let template = match template {
        None => None,
        Some((sid, variables)) => {
            let valid = sid.len() == 34 && sid.starts_with("HX") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(AppError::invalid("template_sid", "Pick an approved template.").into());
            }
            Some((sid, crate::template_variables(variables.as_deref().unwrap_or(""))?))
        }
    };
    if template.is_none() && (body.is_empty() || body.chars().count() > 1600) {
        return Err(AppError::invalid("body", "Write a reply of 1 to 1,600 characters.").into());
    }
    if template.is_none()
        && !crate::pipeline::sender::window_open(&a.address, now_ms(), a.last_inbound_at, a.window_closed_at)
    {
        return Err(AppError::OutsideWindow(
            "The guest's 24-hour window has closed: free text cannot be sent. Pick an approved template instead."
                .into(),
        )
        .into());
    }
    let note = match &template {
        Some((sid, _)) => format!("Sent by {} (template {sid}).", me.email),
        None => format!("Sent by {}.", me.email),
    };
    let message = Outgoing { origin: Some("staff"), note: Some(note), template, ..Outgoing::text(body) };
    let message_id = message.id.clone();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    outbox::queue(&mut tx, id, &a.connector_id, &[message], now).await?;
    tx.commit().await?;
    state.wake_sends().await;
    state.events.changed(id);
    tracing::info!(conversation_id = id, message_id = %message_id, "staff reply queued");
    Ok(message_id)
}
