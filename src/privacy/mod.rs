//! Privacy: forgetting a guest (an admin on a conversation's page or through the REST API, or the
//! guest's own `/forget`, approved by an admin or carried out at once as the organization
//! chooses), and the Privacy page's data. What was forgotten is said in the audit log by counts,
//! never by whom.

use app::{
    accounts::Me,
    privacy::{ForgetMode, ForgetRequest, Forgotten, Privacy},
    AppError,
};

mod port;
pub mod rest;
pub mod retention;
mod store;

use crate::{
    accounts::require_admin,
    audit::{self, Action},
    error::Result,
    state::AppState,
};

/// A guest's addresses: the same number on SMS and on WhatsApp is the same person.
fn addresses(address: &str) -> [String; 2] {
    let bare = address.strip_prefix("whatsapp:").unwrap_or(address);
    [bare.to_string(), format!("whatsapp:{bare}")]
}

/// Deletes what the organization holds of the guest at `address` (either channel), writes the
/// audit line (counts, never the guest) in the same transaction, then removes their media files
/// and tells open pages. With `request`, the approved request it carries out is claimed in that
/// transaction: `None` when another worker took it first (and did it).
async fn forget_address(
    state: &AppState,
    org_id: &str,
    address: &str,
    actor: &str,
    how: &str,
    request: Option<&str>,
) -> Result<Option<Forgotten>> {
    let addresses = addresses(address);
    let (db, addresses_ref) = (&state.db, &addresses);
    let done = crate::db::retrying(|| async move {
        let mut tx = db.begin_write().await?;
        if let Some(id) = request {
            if !store::claim(&mut tx, id).await? {
                return Ok(None);
            }
        }
        // SQLite overwrites what the deletion frees, not only what it reads back as free.
        let sqlite = db.backend == crate::db::Backend::Sqlite;
        if sqlite {
            sqlx::query("PRAGMA secure_delete = ON").execute(&mut *tx).await?;
        }
        // The guest under each identity a conversation ties to them (a phone number and a
        // WhatsApp user id), all in this transaction.
        let deleted = async {
            let mut all = (Forgotten::default(), Vec::new(), Vec::new());
            for identity in store::identities(&mut tx, org_id, addresses_ref).await? {
                let (f, conversations, media) = store::forget(&mut tx, org_id, &identity).await?;
                all.0.conversations += f.conversations;
                all.0.messages += f.messages;
                all.0.media += f.media;
                all.0.emails += f.emails;
                all.0.access_requests += f.access_requests;
                all.0.login_codes += f.login_codes;
                all.1.extend(conversations);
                all.2.extend(media);
            }
            Ok::<_, sqlx::Error>(all)
        }
        .await;
        if sqlite {
            // Back to every connection's setting, whether or not the deletion went through.
            sqlx::query("PRAGMA secure_delete = FAST").execute(&mut *tx).await?;
        }
        let (forgotten, conversations, media) = deleted?;
        let detail = format!("{}. {how}", forgotten.summary());
        audit::record(&mut tx, org_id, actor, Action::GuestForgotten, "a guest", &detail).await?;
        // SQLite's log is emptied of the deleted pages even if this request ends before it is.
        db.log_to_empty();
        tx.commit().await?;
        Ok(Some((forgotten, conversations, media)))
    })
    .await?;
    let Some((forgotten, conversations, media)) = done else { return Ok(None) };
    state.media.discard(&media).await;
    state.db.overwrite_log().await;
    for id in &conversations {
        state.events.changed(id);
    }
    tracing::info!(org_id, conversations = forgotten.conversations, messages = forgotten.messages, "guest forgotten");
    Ok(Some(forgotten))
}

/// Forgets the guest of a conversation, across the organization (its admins only).
pub async fn forget_guest(state: &AppState, me: &Me, conversation_id: &str) -> Result<Forgotten> {
    require_admin(me)?;
    let Some((org_id, address)) = store::guest_of(&state.db.pool, conversation_id).await? else {
        return Err(AppError::NotFound("Conversation".into()).into());
    };
    if org_id != me.org_id {
        return Err(AppError::NotFound("Conversation".into()).into());
    }
    let how = "From a conversation's page.";
    Ok(forget_address(state, &me.org_id, &address, &audit::actor(me), how, None).await?.unwrap_or_default())
}

/// Forgets the guest with this number (E.164, or `whatsapp:` and E.164), across the organization;
/// an organization that holds nothing of them answers with zeros.
pub async fn forget_number(state: &AppState, me: &Me, number: &str) -> Result<Forgotten> {
    require_admin(me)?;
    let number = number.trim();
    let bare = number.strip_prefix("whatsapp:").unwrap_or(number);
    if !crate::is_e164(bare) && !crate::is_whatsapp_user_id(bare) {
        return Err(AppError::invalid(
            "number",
            "Give the guest's number in E.164 form, e.g. +15551234567, or their WhatsApp user id, e.g. \
             US.13491208655302741918.",
        )
        .into());
    }
    let how = "Through the REST API.";
    Ok(forget_address(state, &me.org_id, number, &audit::actor(me), how, None).await?.unwrap_or_default())
}

/// A guest's `/forget`: recorded, and carried out at once (after this reply has gone out) or when
/// an admin approves it, as the organization chose. Returns the reply.
pub async fn requested(state: &AppState, org_id: &str, org_name: &str, address: &str) -> Result<String> {
    let mode = ForgetMode::parse(&store::mode(&state.db.pool, org_id).await?).unwrap_or_default();
    let target = match mode {
        ForgetMode::Approval => "pending",
        ForgetMode::Automatic => "approved",
    };
    let mut tx = state.db.begin_write().await?;
    let new = store::add_request(&mut tx, org_id, address, target).await?;
    tx.commit().await?;
    if new {
        tracing::info!(org_id, mode = mode.as_str(), "a guest asked to be forgotten");
    }
    Ok(match (mode, new) {
        (ForgetMode::Automatic, _) => format!(
            "Done: {org_name} will delete everything it holds about this number (messages, media, a verified \
             email) in a moment, this conversation included. Write again any time to start afresh."
        ),
        (ForgetMode::Approval, true) => format!(
            "Your request to be forgotten was sent to {org_name}. Once approved, everything held about this number \
             (messages, media, a verified email) is deleted."
        ),
        (ForgetMode::Approval, false) => {
            format!("Your request to be forgotten is with {org_name} already, waiting for approval.")
        }
    })
}

/// Carries out the approved requests whose guests have been answered since and have no reply
/// still to go out (the reply that says they will be forgotten goes first), or that have waited
/// an hour. Run by the lifecycle worker. Returns how many guests were forgotten.
pub async fn carry_out(state: &AppState) -> Result<usize> {
    const PATIENCE_MS: i64 = 3_600_000;
    let mut done = 0;
    for (id, org_id, address, since) in store::approved(&state.db.pool).await? {
        let waited = crate::now_ms() - since;
        let (db, addresses) = (&state.db.pool, addresses(&address));
        let told = store::answered_since(db, &org_id, &addresses, since).await?
            && !store::replies_waiting(db, &org_id, &addresses).await?;
        if waited < PATIENCE_MS && !told {
            continue;
        }
        let actor = "The guest (/forget)";
        match forget_address(state, &org_id, &address, actor, "At the guest's request.", Some(&id)).await {
            Ok(Some(_)) => done += 1,
            Ok(None) => {}
            // One request failing does not hold back the others.
            Err(e) => tracing::warn!(error = %e, request_id = %id, "cannot carry out a request to be forgotten"),
        }
    }
    Ok(done)
}

pub async fn privacy(state: &AppState, me: &Me) -> Result<Privacy> {
    require_admin(me)?;
    let mode = ForgetMode::parse(&store::mode(&state.db.pool, &me.org_id).await?).unwrap_or_default();
    let mut requests = Vec::new();
    for r in store::requests(&state.db.pool, &me.org_id, "pending").await? {
        let (conversations, messages) = store::held(&state.db.pool, &me.org_id, &addresses(&r.guest_address)).await?;
        requests.push(ForgetRequest { id: r.id, guest: r.guest_address, at_ms: r.created_at, conversations, messages });
    }
    let (retention_days, periods) = retention::periods_of(&state.db.pool, &me.org_id).await?;
    let agent_periods = periods
        .into_iter()
        .map(|(agent_id, agent_name, days)| app::privacy::AgentPeriod { agent_id, agent_name, days })
        .collect();
    let agents = sqlx::query_as("SELECT id, name FROM agents WHERE org_id = $1 ORDER BY name")
        .bind(&me.org_id)
        .fetch_all(&state.db.pool)
        .await?;
    Ok(Privacy { mode, requests, retention_days, agent_periods, agents })
}

pub async fn set_forget_mode(state: &AppState, me: &Me, mode: ForgetMode) -> Result<ForgetMode> {
    require_admin(me)?;
    let mut tx = state.db.begin_write().await?;
    store::set_mode(&mut tx, &me.org_id, mode.as_str()).await?;
    let detail = match mode {
        ForgetMode::Approval => "A guest's /forget waits for an admin's approval.",
        ForgetMode::Automatic => "A guest's /forget is carried out at once.",
    };
    audit::record(&mut tx, &me.org_id, &audit::actor(me), Action::ForgetModeChanged, &me.org_name, detail).await?;
    tx.commit().await?;
    Ok(mode)
}

/// Approves (the guest is forgotten now) or declines a guest's `/forget`.
pub async fn decide(state: &AppState, me: &Me, id: &str, approve: bool) -> Result<String> {
    require_admin(me)?;
    let Some((address, current)) = store::request(&state.db.pool, &me.org_id, id).await? else {
        return Err(AppError::NotFound("Request".into()).into());
    };
    if current != "pending" {
        return Err(AppError::Conflict("This request was decided already.".into()).into());
    }
    let actor = audit::actor(me);
    if approve {
        let mut tx = state.db.begin_write().await?;
        if !store::decide(&mut tx, id, true, &me.email).await? {
            return Err(AppError::Conflict("This request was decided already.".into()).into());
        }
        tx.commit().await?;
        let how = "At the guest's request (/forget), approved.";
        Ok(match forget_address(state, &me.org_id, &address, &actor, how, Some(id)).await? {
            Some(forgotten) => format!("Forgotten: {}.", forgotten.summary()),
            None => "Forgotten (the request was being carried out already).".to_string(),
        })
    } else {
        let mut tx = state.db.begin_write().await?;
        if !store::decide(&mut tx, id, false, &me.email).await? {
            return Err(AppError::Conflict("This request was decided already.".into()).into());
        }
        audit::record(&mut tx, &me.org_id, &actor, Action::ForgetDeclined, "a guest", "The guest's data is kept.")
            .await?;
        tx.commit().await?;
        Ok("Declined: the guest's data is kept. They are not told.".into())
    }
}
