//! The Sharing page: an agent's access policy and onboarding, its shared list, access requests
//! (decided, and the guest told) and verified guests (revoked).

use super::*;

pub async fn sharing(state: &AppState, me: &Me, agent_id: &str) -> Result<SharingView> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let (policy, onboarding, onboarding_message): (String, i64, String) =
        sqlx::query_as("SELECT access_policy, onboarding, onboarding_message FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_one(&state.db.pool)
            .await?;
    let settings = AccessSettings {
        policy: AccessPolicy::parse(&policy).unwrap_or_default(),
        onboarding: onboarding != 0,
        onboarding_message,
    };
    let show = |address: &str| crate::inbox::shown(me, address);
    let shared: Vec<(String, i64)> =
        sqlx::query_as("SELECT email, added_at FROM shared_emails WHERE agent_id = $1 ORDER BY email")
            .bind(agent_id)
            .fetch_all(&state.db.pool)
            .await?;
    type RequestRow = (String, String, String, String, Option<String>, String, i64, Option<i64>, Option<String>);
    let requests: Vec<RequestRow> = sqlx::query_as(
        "SELECT r.id, r.kind, r.subject, r.guest_address, r.guest_name, r.state, r.created_at, r.decided_at, u.email \
         FROM access_requests r LEFT JOIN users u ON u.id = r.decided_by WHERE r.agent_id = $1 \
         ORDER BY CASE r.state WHEN 'pending' THEN 0 ELSE 1 END, r.created_at DESC LIMIT 200",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await?;
    let verified = verified_guests(state, agent_id).await?;
    let email_warning = (state.mailer.is_none() && settings.policy != AccessPolicy::Open).then(|| {
        "No SMTP server is configured (SWITCHBOARD_SMTP_HOST), so guests cannot receive /login codes and cannot \
         verify an email address. Ask the operator to configure one."
            .to_string()
    });
    Ok(SharingView {
        settings,
        shared: shared.into_iter().map(|(email, added_at_ms)| SharedEmail { email, added_at_ms }).collect(),
        requests: requests
            .into_iter()
            .map(|(id, kind, subject, guest, guest_name, state, created_at_ms, decided_at_ms, decided_by)| {
                let kind = if kind == "email" { RequestKind::Email } else { RequestKind::Number };
                AccessRequestRow {
                    id,
                    email: (kind == RequestKind::Email).then_some(subject),
                    kind,
                    guest: show(&guest),
                    guest_name,
                    state,
                    created_at_ms,
                    decided_at_ms,
                    decided_by,
                }
            })
            .collect(),
        verified: verified
            .into_iter()
            .map(|(address, email, verified_at_ms)| VerifiedGuest {
                guest: show(&address),
                key: guest_key(state, agent_id, &address),
                email,
                verified_at_ms,
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
    sqlx::query("UPDATE agents SET access_policy = $1, onboarding = $2, onboarding_message = $3 WHERE id = $4")
        .bind(settings.policy.as_str())
        .bind(i64::from(settings.onboarding))
        .bind(message)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
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
    if !share(&mut tx, agent_id, &email, &me.user_id).await? {
        return Err(AppError::invalid("email", format!("{email} is already on the list.")).into());
    }
    tx.commit().await?;
    Ok(())
}

/// Puts an address on the agent's shared list; false when it was there already.
async fn share(tx: &mut crate::db::WriteTx, agent_id: &str, email: &str, by: &str) -> sqlx::Result<bool> {
    let added = sqlx::query(
        "INSERT INTO shared_emails (agent_id, email, added_at, added_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (agent_id, email) DO NOTHING",
    )
    .bind(agent_id)
    .bind(email)
    .bind(now_ms())
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(added.rows_affected() > 0)
}

pub async fn remove_shared_email(state: &AppState, me: &Me, agent_id: &str, email: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let mut tx = state.db.begin_write().await?;
    let removed = sqlx::query("DELETE FROM shared_emails WHERE agent_id = $1 AND email = $2")
        .bind(agent_id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    if removed.rows_affected() == 0 {
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

/// The verified guests of an agent: those with a conversation with it. Their number, email and
/// when they verified.
async fn verified_guests(state: &AppState, agent_id: &str) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT gi.guest_address, gi.email, gi.verified_at FROM guest_identities gi JOIN agents a ON a.org_id = gi.org_id \
         WHERE a.id = $1 AND EXISTS (SELECT 1 FROM conversations cv WHERE cv.agent_id = a.id AND cv.guest_address = gi.guest_address) \
         ORDER BY gi.verified_at DESC",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await
}

/// Unlinks a verified guest's email, named by the key the Sharing page gives (an admin may also
/// give the number itself).
pub async fn revoke(state: &AppState, me: &Me, agent_id: &str, guest_key_or_number: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let verified = verified_guests(state, agent_id).await?;
    let found = verified.into_iter().map(|(address, ..)| address).find(|address| {
        state.secrets.verify_link(&guest_key_message(agent_id, address), guest_key_or_number)
            || (me.role == app::accounts::Role::OrgAdmin && address == guest_key_or_number)
    });
    let Some(guest_address) = found else {
        return Err(AppError::NotFound("Verified guest".into()).into());
    };
    let guest_address = guest_address.as_str();
    let mut tx = state.db.begin_write().await?;
    let removed = sqlx::query(
        // Only a guest of this agent (the ones its Sharing page lists): an owner may not unlink
        // the email of a guest who talks only to other owners' agents.
        "DELETE FROM guest_identities WHERE guest_address = $1 AND org_id = (SELECT org_id FROM agents WHERE id = $2) \
         AND EXISTS (SELECT 1 FROM conversations cv WHERE cv.agent_id = $2 AND cv.guest_address = $1)",
    )
    .bind(guest_address)
    .bind(agent_id)
    .execute(&mut *tx)
    .await?;
    if removed.rows_affected() == 0 {
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
    let row: Option<(String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT kind, subject, guest_address, conversation_id, state FROM access_requests WHERE id = $1 AND agent_id = $2",
    )
    .bind(request_id)
    .bind(agent_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((kind, subject, guest_address, conversation_id, current)) = row else {
        return Err(AppError::NotFound("Access request".into()).into());
    };
    let target = if approve { "approved" } else { "denied" };
    if current == target {
        return Err(AppError::Conflict(format!("This request is {target} already.")).into());
    }
    // The conversation to tell the guest in, and whether a message can reach them there.
    type Conv = (String, String, String, Option<i64>, Option<i64>, Option<String>);
    let conv: Option<Conv> = sqlx::query_as(
        "SELECT cv.id, n.connector_id, n.address, cv.last_inbound_at, cv.window_closed_at, \
         CASE WHEN a.template_connector_id = n.connector_id THEN a.template_sid END \
         FROM conversations cv JOIN numbers n ON n.id = cv.number_id JOIN agents a ON a.id = $1 \
         LEFT JOIN channels ch ON ch.number_id = n.id \
         WHERE cv.guest_address = $2 AND (cv.id = $3 OR ch.agent_id = $1) AND n.active = 1 \
         ORDER BY CASE WHEN cv.id = $3 THEN 0 ELSE 1 END, cv.last_inbound_at DESC LIMIT 1",
    )
    .bind(agent_id)
    .bind(&guest_address)
    .bind(conversation_id.as_deref().unwrap_or(""))
    .fetch_optional(&state.db.pool)
    .await?;
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
        Some((_, _, address, last_inbound, closed, template)) => {
            if crate::pipeline::sender::window_open(address, now, *last_inbound, *closed) {
                (true, "The guest was told in their chat.".to_string())
            } else if template.is_some() {
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
    if let (true, Some((conversation_id, connector_id, ..))) = (tell, &conv) {
        let message = Outgoing {
            origin: Some("switchboard"),
            note: Some(format!("Access request {target} by {}.", me.email)),
            ..Outgoing::text(text)
        };
        crate::pipeline::outbox::queue(&mut tx, conversation_id, connector_id, &[message], now).await?;
    }
    sqlx::query("UPDATE access_requests SET state = $1, decided_at = $2, decided_by = $3 WHERE id = $4")
        .bind(target)
        .bind(now)
        .bind(&me.user_id)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    if approve && kind == "email" {
        share(&mut tx, agent_id, &subject, &me.user_id).await?;
    }
    tx.commit().await?;
    if tell {
        state.wake_sends().await;
    }
    if let Some((conversation_id, ..)) = &conv {
        state.events.changed(conversation_id);
    }
    tracing::info!(agent_id, request_id, decision = target, told = tell, "access request decided");
    let what = match (approve, kind.as_str()) {
        (true, "email") => format!("Approved: {subject} is on the shared list."),
        (true, _) => "Approved.".to_string(),
        (false, _) => "Denied.".to_string(),
    };
    Ok(format!("{what} {outcome}"))
}
