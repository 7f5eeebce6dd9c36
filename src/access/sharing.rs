//! The Sharing page: an agent's access policy and onboarding, its shared list, access requests
//! (decided, and the guest told) and verified guests (revoked).

use super::*;

pub async fn sharing(state: &AppState, me: &Me, agent_id: &str) -> Result<SharingView> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let db = &state.db.pool;
    let settings = store::access_settings(db, agent_id).await?;
    let show = |address: &str| crate::inbox::shown(me, address);
    let shared = store::shared(db, agent_id).await?;
    let requests = store::requests(db, agent_id).await?;
    let verified = store::verified(db, agent_id).await?;
    let email_warning = (state.mailer.is_none() && settings.policy != AccessPolicy::Open).then(|| {
        "No SMTP server is configured (SWITCHBOARD_SMTP_HOST), so guests cannot receive /login codes and cannot \
         verify an email address. Ask the operator to configure one."
            .to_string()
    });
    Ok(SharingView {
        settings,
        shared,
        requests: requests
            .into_iter()
            .map(|r| {
                let kind = if r.kind == "email" { RequestKind::Email } else { RequestKind::Number };
                AccessRequestRow {
                    id: r.id,
                    email: (kind == RequestKind::Email).then_some(r.subject),
                    kind,
                    guest: show(&r.guest_address),
                    guest_name: r.guest_name,
                    state: r.state,
                    created_at_ms: r.created_at,
                    decided_at_ms: r.decided_at,
                    decided_by: r.decided_by,
                }
            })
            .collect(),
        verified: verified
            .into_iter()
            .map(|v| VerifiedGuest {
                guest: show(&v.guest_address),
                key: guest_key(state, agent_id, &v.guest_address),
                email: v.email,
                verified_at_ms: v.verified_at,
            })
            .collect(),
        email_warning,
    })
}

pub async fn set_access(state: &AppState, me: &Me, agent_id: &str, settings: AccessSettings) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let message = settings.onboarding_message.trim();
    if message.chars().count() > 1000 {
        return Err(
            AppError::invalid("onboarding_message", "Keep the onboarding message under 1,000 characters.").into()
        );
    }
    let mut tx = state.db.begin_write().await?;
    store::set_access_settings(&mut tx, agent_id, settings.policy, settings.onboarding, message).await?;
    tx.commit().await?;
    tracing::info!(
        agent_id,
        policy = settings.policy.as_str(),
        onboarding = settings.onboarding,
        "access policy saved"
    );
    Ok(())
}

pub async fn add_shared_email(state: &AppState, me: &Me, agent_id: &str, email: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let Some(email) = normalize_email(email) else {
        return Err(AppError::invalid("email", "Give an email address, e.g. guest@example.com.").into());
    };
    let mut tx = state.db.begin_write().await?;
    if !store::share(&mut tx, agent_id, &email, &me.user_id, now_ms()).await? {
        return Err(AppError::invalid("email", format!("{email} is already on the list.")).into());
    }
    tx.commit().await?;
    Ok(())
}

pub async fn remove_shared_email(state: &AppState, me: &Me, agent_id: &str, email: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let mut tx = state.db.begin_write().await?;
    if !store::unshare(&mut tx, agent_id, email).await? {
        return Err(AppError::NotFound("Shared email address".into()).into());
    }
    tx.commit().await?;
    Ok(())
}

/// How the Sharing page names a verified guest to act on: a keyed hash of the number, so an
/// agent owner, who sees numbers masked, is not handed them whole.
fn guest_key(state: &AppState, agent_id: &str, address: &str) -> String {
    state.secrets.sign_link(&guest_key_message(agent_id, address))
}

fn guest_key_message(agent_id: &str, address: &str) -> String {
    format!("verified-guest:{agent_id}:{address}")
}

/// Unlinks a verified guest's email, named by the key the Sharing page gives (an admin may also
/// give the number itself).
pub async fn revoke(state: &AppState, me: &Me, agent_id: &str, guest_key_or_number: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let verified = store::verified(&state.db.pool, agent_id).await?;
    let found = verified.into_iter().map(|v| v.guest_address).find(|address| {
        state.secrets.verify_link(&guest_key_message(agent_id, address), guest_key_or_number)
            || (me.role == app::accounts::Role::OrgAdmin && address == guest_key_or_number)
    });
    let Some(guest_address) = found else {
        return Err(AppError::NotFound("Verified guest".into()).into());
    };
    let guest_address = guest_address.as_str();
    let mut tx = state.db.begin_write().await?;
    if !store::revoke(&mut tx, agent_id, guest_address).await? {
        return Err(AppError::NotFound("Verified guest".into()).into());
    }
    tx.commit().await?;
    tracing::info!(agent_id, guest = %mask_address(guest_address), "verified email unlinked by staff");
    Ok(())
}

/// Approves or denies a request and tells the guest on the number they wrote to, under the
/// sender's rules: free text inside their 24-hour window, the agent's approved template outside
/// it. Returns what happened, for the page to say.
pub async fn decide(state: &AppState, me: &Me, agent_id: &str, request_id: &str, approve: bool) -> Result<String> {
    let (agent_name, _) = crate::agents::require_agent(state, me, agent_id).await?;
    let Some(store::Pending { kind, subject, guest_address, conversation_id, state: current }) =
        store::pending(&state.db.pool, agent_id, request_id).await?
    else {
        return Err(AppError::NotFound("Access request".into()).into());
    };
    let target = if approve { "approved" } else { "denied" };
    if current == target {
        return Err(AppError::Conflict(format!("This request is {target} already.")).into());
    }
    // The conversation to tell the guest in, and whether a message can reach them there.
    let conv = store::reach(&state.db.pool, agent_id, &guest_address, conversation_id.as_deref()).await?;
    let text = match (approve, kind.as_str()) {
        (true, "email") => format!("Good news: your request was approved. You can chat with {agent_name} now."),
        (true, _) => format!("Good news: you have been approved. {agent_name} will answer you from now on."),
        (false, _) => format!("Your request to chat with {agent_name} was declined."),
    };
    let now = now_ms();
    let (tell, outcome) = match &conv {
        None => (
            false,
            "The guest could not be told: their conversation is gone or its number is no longer active.".to_string(),
        ),
        Some(reach) => {
            if crate::pipeline::sender::window_open(&reach.address, now, reach.last_inbound_at, reach.window_closed_at)
            {
                (true, "The guest was told in their chat.".to_string())
            } else if reach.template_sid.is_some() {
                (
                    true,
                    "The guest's 24-hour window has closed: they are told with the agent's approved template."
                        .to_string(),
                )
            } else {
                (
                    false,
                    "The guest could not be told: their 24-hour window has closed and the agent has no approved \
                     template. They will find out when they next write."
                        .to_string(),
                )
            }
        }
    };
    let mut tx = state.db.begin_write().await?;
    if let (true, Some(reach)) = (tell, &conv) {
        let message = Outgoing {
            origin: Some("switchboard"),
            note: Some(format!("Access request {target} by {}.", me.email)),
            ..Outgoing::text(text)
        };
        crate::pipeline::outbox::queue(&mut tx, &reach.conversation_id, &reach.connector_id, &[message], now).await?;
    }
    store::decide(&mut tx, request_id, target, &me.user_id, now).await?;
    if approve && kind == "email" {
        store::share(&mut tx, agent_id, &subject, &me.user_id, now).await?;
    }
    tx.commit().await?;
    if tell {
        state.wake_sends().await;
    }
    if let Some(reach) = &conv {
        state.events.changed(&reach.conversation_id);
    }
    tracing::info!(agent_id, request_id, decision = target, told = tell, "access request decided");
    let what = match (approve, kind.as_str()) {
        (true, "email") => format!("Approved: {subject} is on the shared list."),
        (true, _) => "Approved.".to_string(),
        (false, _) => "Denied.".to_string(),
    };
    Ok(format!("{what} {outcome}"))
}
