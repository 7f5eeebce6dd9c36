//! Background work, claimed from the `jobs` table with a lease: the agent's turn for each
//! inbound message, and the send of each reply through Twilio's Messages API.
//!
//! A job is finished only by the worker whose claim is current (its `attempts` value is the
//! fencing token), so a worker that lost its lease cannot overwrite a newer outcome.

use std::time::Duration;

use rand::Rng;

use crate::{
    agents, connectors,
    error::Result,
    mask_address, new_id, now_ms,
    state::AppState,
    twilio::{NewMessage, TwilioError},
    webhook::status_rank,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Turn,
    Send,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Turn => "turn",
            Kind::Send => "send",
        }
    }
}

#[derive(Debug)]
struct Job {
    id: String,
    message_id: String,
    attempts: i64,
}

/// Runs one kind of worker until the task is dropped.
pub async fn run(state: AppState, kind: Kind) {
    let wake = match kind {
        Kind::Turn => state.wake.turns.clone(),
        Kind::Send => state.wake.sends.clone(),
    };
    loop {
        match claim(&state, kind).await {
            Ok(Some(job)) => {
                let outcome = match kind {
                    Kind::Turn => turn(&state, &job).await,
                    Kind::Send => send(&state, &job).await,
                };
                if let Err(e) = outcome {
                    // The lease runs out and the job is claimed again.
                    tracing::error!(job_id = %job.id, kind = kind.as_str(), error = ?e, "job failed; it will be retried");
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(state.tuning.idle_poll) => {}
                }
            }
            Err(e) => {
                tracing::error!(kind = kind.as_str(), error = %e, "cannot claim jobs");
                tokio::time::sleep(state.tuning.idle_poll).await;
            }
        }
    }
}

async fn claim(state: &AppState, kind: Kind) -> sqlx::Result<Option<Job>> {
    let now = now_ms();
    let lease_until = now + state.tuning.lease.as_millis() as i64;
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "UPDATE jobs SET lease_until = $1, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM jobs WHERE kind = $2 AND state = 'pending' AND run_at <= $3 \
                     AND (lease_until IS NULL OR lease_until < $3) ORDER BY run_at LIMIT 1) \
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING id, message_id, attempts",
    )
    .bind(lease_until)
    .bind(kind.as_str())
    .bind(now)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.map(|(id, message_id, attempts)| Job { id, message_id, attempts }))
}

/// The agent reads the guest's message and writes its reply, which is queued for sending in
/// the same transaction that closes the turn.
async fn turn(state: &AppState, job: &Job) -> Result<()> {
    let (conversation_id, connector_id, body, agent_id): (String, String, String, Option<String>) = sqlx::query_as(
        "SELECT m.conversation_id, m.connector_id, m.body, cv.agent_id FROM messages m \
         JOIN conversations cv ON cv.id = m.conversation_id WHERE m.id = $1",
    )
    .bind(&job.message_id)
    .fetch_one(&state.db.pool)
    .await?;
    let Some(agent_id) = agent_id else {
        let mut tx = state.db.begin_write().await?;
        finish(&mut tx, job, "done", Some("no agent is bound to this number")).await?;
        tx.commit().await?;
        return Ok(());
    };
    let (fallback,): (String,) = sqlx::query_as("SELECT fallback_reply FROM agents WHERE id = $1")
        .bind(&agent_id)
        .fetch_one(&state.db.pool)
        .await?;
    let faq = agents::faq(state, &agent_id).await?;
    let reply = agents::faq_answer(&faq, &fallback, &body);
    let mut tx = state.db.begin_write().await?;
    let reply_id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
         VALUES ($1, $2, $3, 'outbound', $4, 'pending', $5)",
    )
    .bind(&reply_id)
    .bind(&conversation_id)
    .bind(&connector_id)
    .bind(&reply)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO jobs (id, kind, message_id, run_at, created_at) VALUES ($1, 'send', $2, $3, $3)")
        .bind(new_id())
        .bind(&reply_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if finish(&mut tx, job, "done", None).await? {
        tx.commit().await?;
        state.wake.sends.notify_one();
    }
    Ok(())
}

/// Marks the job finished if this worker's claim is still the current one.
async fn finish(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: &Job,
    outcome: &str,
    note: Option<&str>,
) -> sqlx::Result<bool> {
    let r =
        sqlx::query("UPDATE jobs SET state = $1, last_error = $2, lease_until = NULL WHERE id = $3 AND attempts = $4")
            .bind(outcome)
            .bind(note)
            .bind(&job.id)
            .bind(job.attempts)
            .execute(&mut **tx)
            .await?;
    if r.rows_affected() == 0 {
        tracing::warn!(job_id = %job.id, "lost the lease on a job; leaving it to its new owner");
    }
    Ok(r.rows_affected() == 1)
}

/// Posts the reply through Twilio with the connector's credentials.
async fn send(state: &AppState, job: &Job) -> Result<()> {
    let (connector_id, body, guest, from, key): (String, String, String, String, String) = sqlx::query_as(
        "SELECT m.connector_id, m.body, cv.guest_address, n.address, c.webhook_key FROM messages m \
         JOIN conversations cv ON cv.id = m.conversation_id JOIN numbers n ON n.id = cv.number_id \
         JOIN connectors c ON c.id = m.connector_id WHERE m.id = $1",
    )
    .bind(&job.message_id)
    .fetch_one(&state.db.pool)
    .await?;
    let creds = connectors::credentials(state, &connector_id).await?;
    let message = NewMessage { to: guest.clone(), from, body, status_callback: Some(state.status_callback_url(&key)) };
    let span =
        tracing::info_span!("send", message_id = %job.message_id, to = %mask_address(&guest), attempt = job.attempts);
    let _enter = span.enter();
    let result = state.twilio.create_message(&creds, &message).await;
    let mut tx = state.db.begin_write().await?;
    match result {
        Ok(sent) => {
            if finish(&mut tx, job, "done", None).await? {
                sqlx::query("UPDATE messages SET twilio_sid = $1, status = $2, status_rank = $3 WHERE id = $4 AND status_rank < $3")
                    .bind(&sent.sid)
                    .bind(&sent.status)
                    .bind(status_rank(&sent.status))
                    .bind(&job.message_id)
                    .execute(&mut *tx)
                    .await?;
                // A callback may have raced ahead of this update; the SID is recorded either way.
                sqlx::query("UPDATE messages SET twilio_sid = $1 WHERE id = $2 AND twilio_sid IS NULL")
                    .bind(&sent.sid)
                    .bind(&job.message_id)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(message_sid = %sent.sid, "reply sent");
            }
        }
        Err(e) if e.retryable() && job.attempts < state.tuning.max_send_attempts => {
            let delay = backoff(state, job.attempts, &e);
            tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "send failed; will retry");
            sqlx::query(
                "UPDATE jobs SET lease_until = NULL, run_at = $1, last_error = $2 WHERE id = $3 AND attempts = $4",
            )
            .bind(now_ms() + delay.as_millis() as i64)
            .bind(e.to_string())
            .bind(&job.id)
            .bind(job.attempts)
            .execute(&mut *tx)
            .await?;
        }
        Err(e) => {
            tracing::warn!(error = %e, "send failed for good");
            if finish(&mut tx, job, "failed", Some(&e.to_string())).await? {
                let meaning = match &e {
                    TwilioError::Api { code: Some(c), message, .. } => {
                        crate::twilio::errors::describe(*c).map(str::to_string).unwrap_or_else(|| message.clone())
                    }
                    other => other.to_string(),
                };
                sqlx::query("UPDATE messages SET status = 'failed', status_rank = 4, error_code = $1, error_message = $2 WHERE id = $3")
                    .bind(e.code())
                    .bind(meaning)
                    .bind(&job.message_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Exponential backoff with full jitter, never sooner than Twilio's Retry-After.
fn backoff(state: &AppState, attempts: i64, e: &TwilioError) -> Duration {
    let base = state.tuning.retry_base.as_millis() as u64;
    let cap = 5 * 60 * 1000;
    let exp = base.saturating_mul(1 << attempts.clamp(0, 16)).min(cap);
    let jittered = Duration::from_millis(rand::thread_rng().gen_range(exp / 2..=exp.max(1)));
    e.retry_after().map_or(jittered, |ra| ra.max(jittered))
}
