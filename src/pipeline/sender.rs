//! The sender: replies leave through the `outbox`, claimed with a lease, in order within each
//! conversation, at no more than the configured rate per number, retried with backoff when
//! Twilio says a retry can help. A request whose outcome is unknown (a crash, a timeout, a 5xx)
//! is looked up in Twilio before it is sent again, so a reply is never sent twice.

use std::time::Duration;
use tracing::Instrument;

use sqlx::Row;

use super::pacing::{backoff, reserve_slot};
use crate::{
    connectors,
    db::Statement,
    error::Result,
    mask_address, now_ms,
    state::AppState,
    twilio::{errors, status::status_rank, Credentials, NewMessage, TwilioError},
};

/// WhatsApp's customer-service window.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
struct Claim {
    message_id: String,
    conversation_id: String,
    /// This claim's number: the fence every write of the claim's outcome is conditioned on.
    claim: i64,
    /// Requests made to Twilio for this reply before this claim.
    attempts: i64,
    in_flight_since: Option<i64>,
    /// When the claim was made.
    claimed_at: i64,
    /// When the reply was queued: its retry budget runs from there.
    queued_at: i64,
}

pub async fn run(state: AppState) {
    // On shutdown the worker leaves between jobs; a job it holds is finished first.
    let mut woken = true;
    let mut errors = crate::state::ClaimErrors::new("sends");
    while !state.workers.stopping() {
        let claimed = claim(&state, !woken).await;
        if claimed.is_ok() {
            errors.cleared();
        }
        match claimed {
            Ok(Some(claim)) => {
                woken = true;
                // More work may be waiting: let another sender look while this one sends.
                state.wake.sends.notify_one();
                let _held = state.held.hold("outbox", &claim.message_id);
                if let Err(e) = send(&state, &claim).await {
                    if queued(&state, &claim.message_id).await.unwrap_or(true) {
                        tracing::error!(message_id = %claim.message_id, error = ?e, "send failed; its lease will run out and it is retried");
                    } else {
                        // Its conversation was deleted meanwhile (with its connector or number).
                        tracing::info!(message_id = %claim.message_id, "reply not sent: its conversation was deleted");
                    }
                }
                state.events.changed(&claim.conversation_id);
            }
            Ok(None) => woken = state.wake.wait_for_sends(state.tuning.idle_poll).await,
            Err(e) => errors.failed(&e, state.tuning.idle_poll).await,
        }
    }
}

/// Whether the reply is still in the outbox.
async fn queued(state: &AppState, message_id: &str) -> sqlx::Result<bool> {
    let found = sqlx::query("SELECT 1 FROM outbox WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(found.is_some())
}

/// Claims the send due first, if any. With `look_first` (a poll that no news prompted, so most
/// likely idle), a read looks for one first: an empty claim would still take the write turn
/// that webhooks wait for.
async fn claim(state: &AppState, look_first: bool) -> sqlx::Result<Option<Claim>> {
    let now = now_ms();
    if look_first && !state.db.has_due("outbox", now).await? {
        return Ok(None);
    }
    // On PostgreSQL senders of several instances claim at once: each passes over a row another is
    // claiming (`SKIP LOCKED`) instead of losing the race for it and sleeping until woken, which
    // left two instances sending 17 % under a number's cap. SQLite's writes take turns anyway.
    let skip_locked = if state.db.backend == crate::db::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let statement = Statement::new(format!(
        "UPDATE outbox SET lease_until = $1, claims = claims + 1, in_flight_since = COALESCE(in_flight_since, $2), lease_owner = $3 \
         WHERE message_id = ( \
             SELECT o.message_id FROM outbox o WHERE o.state = 'pending' AND o.run_at <= $2 \
               AND (o.lease_until IS NULL OR o.lease_until < $2) \
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id \
                               AND p.state = 'pending' AND p.seq < o.seq) \
             ORDER BY o.run_at, o.seq LIMIT 1{skip_locked}) \
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING message_id, conversation_id, claims, attempts, in_flight_since, created_at",
    ))
    .bind(now + state.tuning.lease.as_millis() as i64)
    .bind(now)
    .bind(&*state.instance_id);
    let rows = state.db.write_script(vec![statement], false).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let (message_id, claim): (String, i64) = (row.try_get(0)?, row.try_get(2)?);
    // As it was: not in flight, unless an earlier attempt had made it so.
    let undo = || {
        Statement::new(
            "UPDATE outbox SET lease_until = NULL, \
             in_flight_since = CASE WHEN in_flight_since = $3 THEN NULL ELSE in_flight_since END \
             WHERE message_id = $1 AND claims = $2",
        )
        .bind(message_id.as_str())
        .bind(claim)
        .bind(now)
    };
    if crate::state::give_back_if_stale(&state.db, now, state.tuning.lease, undo, &state.wake.sends, &message_id)
        .await?
    {
        return Ok(None);
    }
    let in_flight_since: Option<i64> = row.try_get(4)?;
    // The claim marks the send in flight; an older mark (an earlier attempt's) is what it returns
    // when there was one, and a mark of this very moment means there was none.
    Ok(Some(Claim {
        message_id,
        conversation_id: row.try_get(1)?,
        claim,
        attempts: row.try_get(3)?,
        in_flight_since: in_flight_since.filter(|since| *since != now),
        claimed_at: now,
        queued_at: row.try_get(5)?,
    }))
}

/// A template to send: the agent's approved one, for a guest whose 24-hour window has closed,
/// or the one a message was queued with (a proactive message), sent whatever the window.
struct FallbackTemplate {
    sid: String,
    name: String,
    variables: Option<String>,
    explicit: bool,
}

struct Outgoing {
    template: Option<FallbackTemplate>,
    /// The template the message was queued with, if any.
    explicit: Option<FallbackTemplate>,
    /// Set when a status callback already named Twilio's message: an earlier attempt got through.
    twilio_sid: Option<String>,
    status: String,
    body: String,
    connector_id: String,
    conversation_id: String,
    guest: String,
    last_inbound_at: Option<i64>,
    window_closed_at: Option<i64>,
    number_id: String,
    from: String,
    webhook_key: String,
    /// The file sent with the message, if any.
    media_id: Option<String>,
    /// The choices offered with it (buttons or a list), if any.
    choices: Option<crate::brain::choices::Choices>,
}

async fn load(state: &AppState, message_id: &str) -> Result<Outgoing> {
    type Row = (
        Option<String>,
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let (twilio_sid, status, body, connector_id, conversation_id, guest, last_inbound_at, window_closed_at, number_id, from, webhook_key, media_id, queued_template, queued_variables, choices): Row =
        sqlx::query_as(
            "SELECT m.twilio_sid, m.status, m.body, m.connector_id, cv.id, cv.guest_address, cv.last_inbound_at, cv.window_closed_at, n.id, n.address, \
             c.webhook_key, (SELECT md.id FROM media md WHERE md.message_id = m.id AND md.state = 'stored' ORDER BY md.position LIMIT 1), \
             CASE WHEN m.twilio_sid IS NULL THEN m.template_sid END, m.template_variables, m.choices \
             FROM messages m JOIN conversations cv ON cv.id = m.conversation_id \
             JOIN numbers n ON n.id = cv.number_id JOIN connectors c ON c.id = m.connector_id WHERE m.id = $1",
        )
        .bind(message_id)
        .fetch_one(&state.db.pool)
        .await?;
    let template: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT a.template_sid, COALESCE(a.template_name, ''), a.template_variables FROM conversations cv \
         JOIN agents a ON a.id = cv.agent_id WHERE cv.id = $1 AND a.template_connector_id = $2 AND a.template_sid IS NOT NULL",
    )
    .bind(&conversation_id)
    .bind(&connector_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(Outgoing {
        media_id,
        choices: choices.and_then(|c| serde_json::from_str(&c).ok()),
        template: template.map(|(sid, name, variables)| FallbackTemplate { sid, name, variables, explicit: false }),
        explicit: queued_template.map(|sid| FallbackTemplate {
            name: sid.clone(),
            sid,
            variables: queued_variables,
            explicit: true,
        }),
        twilio_sid,
        status,
        body,
        connector_id,
        conversation_id,
        guest,
        last_inbound_at,
        window_closed_at,
        number_id,
        from,
        webhook_key,
    })
}

/// Gives a claim back with no attempt counted, to be taken again at `run_at`: nothing reached
/// Twilio, so the reply is in flight only if an earlier attempt made it so.
async fn give_back(tx: &mut crate::db::WriteTx, claim: &Claim, run_at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET lease_until = NULL, run_at = $1, in_flight_since = $2 WHERE message_id = $3 AND claims = $4",
    )
    .bind(run_at)
    .bind(claim.in_flight_since)
    .bind(&claim.message_id)
    .bind(claim.claim)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Keeps a reply's text with its choices numbered, as it now goes (a later attempt sends the same
/// and recognizes it among Twilio's messages), and notes why.
async fn keep_text_choices(tx: &mut crate::db::WriteTx, message_id: &str, body: &str, why: &str) -> sqlx::Result<()> {
    let note = format!("The choices went as numbered text: Twilio did not create their buttons ({why}).");
    sqlx::query(
        "UPDATE messages SET body = $1, note = CASE WHEN note IS NULL THEN $2 ELSE note || ' ' || $2 END WHERE id = $3",
    )
    .bind(body)
    .bind(note)
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether free text may go to this guest now: within 24 hours of the guest's last message,
/// and Twilio has not said otherwise (63016) since then. SMS has no such window.
pub fn window_open(from: &str, now: i64, last_inbound_at: Option<i64>, window_closed_at: Option<i64>) -> bool {
    if !from.starts_with("whatsapp:") {
        return true;
    }
    let Some(last) = last_inbound_at else { return false };
    now - last < WINDOW.as_millis() as i64 && window_closed_at.is_none_or(|closed| closed < last)
}

async fn send(state: &AppState, claim: &Claim) -> Result<()> {
    let out = load(state, &claim.message_id).await?;
    let span = tracing::info_span!("send", message_id = %claim.message_id, to = %mask_address(&out.guest), attempt = claim.attempts + 1);
    async {
        // What already reached Twilio is recorded before anything else is decided, the window included.
        if let Some(sid) = &out.twilio_sid {
            tracing::info!(message_sid = %sid, "Twilio already reported on this reply; not sending again");
            return delivered_to_twilio(state, claim, sid, &out.status, None, false).await;
        }
        // Outside the window free text cannot go; the agent's approved template goes instead.
        let window = window_open(&out.from, now_ms(), out.last_inbound_at, out.window_closed_at);
        let as_template = out.explicit.as_ref().or(if window { None } else { out.template.as_ref() });
        let creds = connectors::account::credentials(state, &out.connector_id).await?;
        if let Some(since) = claim.in_flight_since {
            if let Some((sid, status)) =
                already_sent(state, &creds, &out, as_template.is_some(), &claim.message_id, since).await?
            {
                tracing::info!(message_sid = %sid, "an earlier attempt had reached Twilio; not sending again");
                return delivered_to_twilio(state, claim, &sid, &status, as_template, false).await;
            }
        }
        if !window && as_template.is_none() {
            let note = "Outside WhatsApp's 24-hour window: free text cannot be sent until the guest writes again, \
                        and the agent has no approved template to send instead.";
            return fail(state, claim, Some(63016), note, false).await;
        }

        if let Some(wait) = reserve_slot(state, &out.number_id).await? {
            // The number's schedule is full for a while: come back when its turn comes. Nothing
            // was asked of Twilio, so this is no attempt.
            let mut tx = state.db.begin_write().await?;
            give_back(&mut tx, claim, now_ms() + wait.as_millis() as i64).await?;
            tx.commit().await?;
            return Ok(());
        }
        // Choices on WhatsApp, inside the window: the reply goes as Content with buttons or a list
        // (created in the account once). Should Twilio refuse to create it, the reply goes as text
        // with numbered choices, and the conversation says why.
        let mut body = out.body.clone();
        let mut interactive = None;
        let buttons = out
            .choices
            .as_ref()
            // Once gone as numbered text (an earlier attempt), it stays text.
            .filter(|c| as_template.is_none() && out.from.starts_with("whatsapp:") && !out.body.ends_with(&c.numbered()));
        if let Some(choices) = buttons {
            match crate::twilio::contents::sid_for(state, &creds, &out.connector_id, choices).await {
                Ok(sid) => interactive = Some(sid),
                Err(crate::twilio::contents::ContentError::Database(e)) => return Err(e.into()),
                Err(crate::twilio::contents::ContentError::Twilio(e)) => {
                    tracing::warn!(error = %e, "choices sent as numbered text: Twilio did not create their content");
                    body = format!("{body}\n\n{}", choices.numbered());
                    let mut tx = state.db.begin_write().await?;
                    keep_text_choices(&mut tx, &claim.message_id, &body, &e.to_string()).await?;
                    tx.commit().await?;
                }
            }
        }
        let message = NewMessage {
            to: out.guest.clone(),
            from: out.from.clone(),
            body: (as_template.is_none() && interactive.is_none())
                .then_some(body)
                .filter(|b| !b.is_empty() || out.media_id.is_none()),
            // The choices' content holds the reply's text and the choices' own as its variables.
            content_variables: match (&interactive, buttons) {
                (Some(_), Some(choices)) => Some(choices.content_variables(&out.body).to_string()),
                _ => as_template.and_then(|t| t.variables.clone()),
            },
            content_sid: as_template.map(|t| t.sid.clone()).or(interactive.clone()),
            status_callback: Some(format!("{}?m={}", state.status_callback_url(&out.webhook_key), claim.message_id)),
            // A template carries its own content; the file goes with free text only.
            media_url: out
                .media_id
                .as_deref()
                .filter(|_| as_template.is_none())
                .map(|id| crate::media::outbound_link(state, id)),
        };
        match state.twilio.create_message(&creds, &message).await {
            Ok(sent) => {
                state.metrics.send("sent", None);
                tracing::info!(message_sid = %sent.sid, template = as_template.is_some(), "reply handed to Twilio");
                delivered_to_twilio(state, claim, &sent.sid, &sent.status, as_template, true).await
            }
            Err(e) if e.retryable() => {
                // A 429 was never processed; after a 5xx or a timeout the message may exist.
                let unknown =
                    !matches!(e, TwilioError::Api { status: 429, .. } | TwilioError::Api { code: Some(20429), .. });
                let delay = backoff(state.tuning.retry_base, claim.attempts + 1, &e);
                let give_up_at = claim.queued_at + state.tuning.send_give_up.as_millis() as i64;
                if now_ms() + delay.as_millis() as i64 > give_up_at {
                    // Out of time. When this request's outcome is unknown, Twilio is asked first,
                    // as a later attempt would have: the reply may have gone out after all.
                    if unknown {
                        let since = claim.in_flight_since.unwrap_or(claim.claimed_at);
                        let found = already_sent(state, &creds, &out, as_template.is_some(), &claim.message_id, since).await?;
                        if let Some((sid, status)) = found {
                            tracing::info!(message_sid = %sid, "the last attempt had reached Twilio after all");
                            return delivered_to_twilio(state, claim, &sid, &status, as_template, true).await;
                        }
                    }
                    state.metrics.send("failed", e.code());
                    tracing::warn!(error = %e, attempts = claim.attempts + 1, "send failed for good: its time ran out");
                    let meaning = format!(
                        "Not sent within {} of being queued; Twilio's last answer: {e}",
                        crate::in_words(state.tuning.send_give_up)
                    );
                    return fail(state, claim, e.code(), &meaning, true).await;
                }
                state.metrics.send("retry", e.code());
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "send failed; will retry");
                let mut tx = state.db.begin_write().await?;
                sqlx::query(
                    "UPDATE outbox SET lease_until = NULL, run_at = $1, last_error = $2, attempts = attempts + 1, \
                     in_flight_since = CASE WHEN $3 = 1 THEN in_flight_since ELSE NULL END WHERE message_id = $4 AND claims = $5",
                )
                .bind(now_ms() + delay.as_millis() as i64)
                .bind(e.to_string())
                .bind(i64::from(unknown))
                .bind(&claim.message_id)
                .bind(claim.claim)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
            Err(e) => {
                // Twilio refused the buttons' content (deleted from the account since, say): it is
                // forgotten, and the reply goes again at once as text with its choices numbered.
                if let Some((sid, choices)) = interactive.as_deref().zip(buttons).filter(|_| e.code() != Some(63016)) {
                    tracing::warn!(error = %e, content_sid = sid, "the choices' content was refused; sending them as text");
                    // Refused, so not in flight: the next attempt sends without looking it up first.
                    let text = format!("{}\n\n{}", out.body, choices.numbered());
                    let mut tx = state.db.begin_write().await?;
                    crate::twilio::contents::forget(&mut tx, &out.connector_id, sid).await?;
                    keep_text_choices(&mut tx, &claim.message_id, &text, &e.to_string()).await?;
                    give_back(&mut tx, claim, now_ms()).await?;
                    tx.commit().await?;
                    state.wake_sends().await;
                    return Ok(());
                }
                let code = e.code();
                state.metrics.send("failed", code);
                let meaning = match (&e, code.and_then(errors::describe)) {
                    (_, Some(m)) => m.to_string(),
                    (TwilioError::Api { message, .. }, None) => message.clone(),
                    (other, None) => other.to_string(),
                };
                tracing::warn!(error = %e, "send failed for good");
                if code == Some(63016) {
                    close_window(state, &out.conversation_id).await?;
                }
                fail(state, claim, code, &meaning, true).await
            }
        }
    }
    .instrument(span)
    .await
}

/// Asks Twilio whether an earlier attempt created the message: one to the same guest from the
/// same number with the same body, created since that attempt, that no other reply claims.
async fn already_sent(
    state: &AppState,
    creds: &Credentials,
    out: &Outgoing,
    as_template: bool,
    message_id: &str,
    since_ms: i64,
) -> Result<Option<(String, String)>> {
    let listed = match state.twilio.list_messages(creds, &out.guest, &out.from).await {
        Ok(listed) => listed,
        Err(e) => return Err(anyhow::anyhow!("cannot ask Twilio whether the reply was sent: {e}").into()),
    };
    // Twilio's dates have whole seconds; allow for that and for clock skew.
    let earliest = since_ms - 120_000;
    for m in listed {
        // A template's text is Twilio's rendering; sends are one at a time per conversation, so
        // any unclaimed message since the attempt is it.
        let same_text = as_template || m.body.as_deref() == Some(out.body.as_str());
        if !same_text || m.created_ms.is_some_and(|t| t < earliest) {
            continue;
        }
        let (taken,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM messages WHERE connector_id = $1 AND twilio_sid = $2 AND id <> $3")
                .bind(&out.connector_id)
                .bind(&m.sid)
                .bind(message_id)
                .fetch_one(&state.db.pool)
                .await?;
        if taken == 0 {
            return Ok(Some((m.sid, m.status)));
        }
    }
    Ok(None)
}

async fn delivered_to_twilio(
    state: &AppState,
    claim: &Claim,
    sid: &str,
    status: &str,
    template: Option<&FallbackTemplate>,
    called: bool,
) -> Result<()> {
    // One transaction, one round trip on SQLite.
    let mut script = Vec::new();
    if let Some(t) = template.filter(|t| !t.explicit) {
        script.push(
            Statement::new("UPDATE messages SET template_sid = $1, note = $2 WHERE id = $3")
                .bind(t.sid.as_str())
                .bind(format!("Sent as the approved template “{}”: the guest's 24-hour window had closed.", t.name))
                .bind(claim.message_id.as_str()),
        );
    }
    script.push(
        Statement::new(
            "UPDATE outbox SET state = 'sent', lease_until = NULL, in_flight_since = NULL, last_error = NULL, \
             attempts = attempts + $3 WHERE message_id = $1 AND claims = $2 RETURNING message_id",
        )
        .bind(claim.message_id.as_str())
        .bind(claim.claim)
        .bind(i64::from(called)),
    );
    // Status callbacks may have raced ahead; the SID is recorded either way, the status only forward.
    script.push(
        Statement::new(
            "UPDATE messages SET twilio_sid = COALESCE(twilio_sid, $1), \
             status = CASE WHEN status_rank < $2 THEN $3 ELSE status END, \
             status_rank = CASE WHEN status_rank < $2 THEN $2 ELSE status_rank END WHERE id = $4",
        )
        .bind(sid)
        .bind(status_rank(status))
        .bind(status)
        .bind(claim.message_id.as_str()),
    );
    if state.db.write_script(script, false).await?.is_empty() {
        tracing::warn!("lost the lease on a send after Twilio took it");
    }
    Ok(())
}

/// Ends the reply as failed; `called`: this claim asked Twilio (an attempt to count).
async fn fail(state: &AppState, claim: &Claim, code: Option<i64>, meaning: &str, called: bool) -> Result<()> {
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE outbox SET state = 'failed', lease_until = NULL, in_flight_since = NULL, last_error = $1, \
         attempts = attempts + $4 WHERE message_id = $2 AND claims = $3",
    )
    .bind(meaning)
    .bind(&claim.message_id)
    .bind(claim.claim)
    .bind(i64::from(called))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        sqlx::query(
            "UPDATE messages SET status = 'failed', status_rank = 4, error_code = $1, error_message = $2 WHERE id = $3",
        )
        .bind(code)
        .bind(meaning)
        .bind(&claim.message_id)
        .execute(&mut *tx)
        .await?;
        // The conversation's next message (the answer after a welcome, the next part of a long
        // reply) is not held back: it goes out, and says in the conversation what it went without.
        sqlx::query(
            "UPDATE messages SET note = $1 WHERE id = (SELECT o.message_id FROM outbox o WHERE o.conversation_id = $2 \
             AND o.state = 'pending' AND o.seq > (SELECT seq FROM outbox WHERE message_id = $3) ORDER BY o.seq LIMIT 1)",
        )
        .bind(format!("Sent without the message before it, which failed: {meaning}"))
        .bind(&claim.conversation_id)
        .bind(&claim.message_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Twilio said the window is closed (63016), whatever our clock says.
pub async fn close_window(state: &AppState, conversation_id: &str) -> sqlx::Result<()> {
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE conversations SET window_closed_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn the_window_is_24_hours_from_the_guests_last_message() {
        let now = 100 * HOUR;
        assert!(window_open("whatsapp:+1", now, Some(now - 23 * HOUR), None));
        assert!(!window_open("whatsapp:+1", now, Some(now - 25 * HOUR), None));
        assert!(!window_open("whatsapp:+1", now, None, None));
        assert!(window_open("+1555", now, None, None), "SMS has no window");
    }

    #[test]
    fn twilio_closing_the_window_wins_until_the_guest_writes_again() {
        let now = 100 * HOUR;
        assert!(!window_open("whatsapp:+1", now, Some(now - HOUR), Some(now - 10)));
        assert!(window_open("whatsapp:+1", now, Some(now - 5), Some(now - 10)));
    }
}
