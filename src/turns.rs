//! The agent's turns. Each conversation has one row in `turns`: an inbound message marks it
//! pending (and bumps its generation) in the transaction that stores the message. A worker
//! leases the row, so one guest never has two turns at once; the turn answers every message
//! that arrived since the last one, and if more arrived while the agent was thinking, the row
//! stays pending for the next turn.

use std::time::Duration;

use crate::{
    agents,
    brain::{split_body, Brain, Faq, TurnInput},
    connectors, mask_address, new_id, now_ms,
    state::AppState,
};

#[derive(Debug)]
struct Claim {
    conversation_id: String,
    generation: i64,
    attempts: i64,
}

pub async fn run(state: AppState) {
    loop {
        match claim(&state).await {
            Ok(Some(claim)) => {
                if let Err(e) = take_turn(&state, &claim).await {
                    tracing::error!(conversation_id = %claim.conversation_id, error = ?e, "turn failed; it will be retried");
                    let _ = retry_later(&state, &claim, &format!("{e:#}")).await;
                }
            }
            Ok(None) => state.wake.wait_for_turns(state.tuning.idle_poll).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim turns");
                tokio::time::sleep(state.tuning.idle_poll).await;
            }
        }
    }
}

async fn claim(state: &AppState) -> sqlx::Result<Option<Claim>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row: Option<(String, i64, i64)> = sqlx::query_as(
        "UPDATE turns SET lease_until = $1, attempts = attempts + 1 \
         WHERE conversation_id = (SELECT conversation_id FROM turns WHERE state = 'pending' AND run_at <= $2 \
                                  AND (lease_until IS NULL OR lease_until < $2) ORDER BY run_at LIMIT 1) \
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING conversation_id, generation, attempts",
    )
    .bind(now + state.tuning.lease.as_millis() as i64)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(conversation_id, generation, attempts)| Claim { conversation_id, generation, attempts }))
}

async fn retry_later(state: &AppState, claim: &Claim, error: &str) -> sqlx::Result<()> {
    let (failures,): (i64,) = sqlx::query_as("SELECT failures FROM turns WHERE conversation_id = $1")
        .bind(&claim.conversation_id)
        .fetch_one(&state.db.pool)
        .await?;
    let delay =
        (state.tuning.retry_base * 2u32.saturating_pow(failures.clamp(0, 10) as u32)).min(Duration::from_secs(300));
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE turns SET lease_until = NULL, run_at = $1, last_error = $2, failures = failures + 1 \
         WHERE conversation_id = $3 AND attempts = $4",
    )
    .bind(now_ms() + delay.as_millis() as i64)
    .bind(error)
    .bind(&claim.conversation_id)
    .bind(claim.attempts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

struct Context {
    agent_id: Option<String>,
    connector_id: String,
    guest: String,
    number_address: String,
}

async fn take_turn(state: &AppState, claim: &Claim) -> crate::error::Result<()> {
    let (agent_id, connector_id, guest, number_address): (Option<String>, String, String, String) = sqlx::query_as(
        "SELECT cv.agent_id, n.connector_id, cv.guest_address, n.address FROM conversations cv \
         JOIN numbers n ON n.id = cv.number_id WHERE cv.id = $1",
    )
    .bind(&claim.conversation_id)
    .fetch_one(&state.db.pool)
    .await?;
    let ctx = Context { agent_id, connector_id, guest, number_address };
    let inbound: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, body, twilio_sid FROM messages WHERE conversation_id = $1 AND direction = 'inbound' AND answered = 0 \
         ORDER BY created_at, id",
    )
    .bind(&claim.conversation_id)
    .fetch_all(&state.db.pool)
    .await?;
    let span = tracing::info_span!("turn", conversation_id = %claim.conversation_id, guest = %mask_address(&ctx.guest));
    let _enter = span.enter();

    let Some(agent_id) = ctx.agent_id.clone() else {
        finish(state, claim, &ctx.connector_id, &inbound, Vec::new(), Some("No agent answers on this number.")).await?;
        return Ok(());
    };
    if inbound.is_empty() {
        finish(state, claim, &ctx.connector_id, &inbound, Vec::new(), None).await?;
        return Ok(());
    }
    if let Some(sid) = inbound.last().and_then(|m| m.2.as_deref()) {
        typing_indicator(state, &ctx, sid).await;
    }
    let (fallback,): (String,) = sqlx::query_as("SELECT fallback_reply FROM agents WHERE id = $1")
        .bind(&agent_id)
        .fetch_one(&state.db.pool)
        .await?;
    let brain = Faq { entries: agents::faq(state, &agent_id).await?, fallback: fallback.clone() };
    let input = TurnInput { messages: inbound.iter().map(|m| m.1.clone()).collect() };
    let (reply, note) = match tokio::time::timeout(state.tuning.brain_timeout, brain.reply(&input)).await {
        Ok(Ok(reply)) if !reply.trim().is_empty() => (reply, None),
        Ok(Ok(_)) => (fallback, Some("The brain gave an empty reply; the fallback reply was sent.".to_string())),
        Ok(Err(e)) => (fallback, Some(format!("The brain failed ({e:#}); the fallback reply was sent."))),
        Err(_) => (fallback, Some("The brain took too long; the fallback reply was sent.".to_string())),
    };
    if let Some(note) = &note {
        tracing::warn!(%note, "turn used the fallback reply");
    }
    finish(state, claim, &ctx.connector_id, &inbound, split_body(&reply), note.as_deref()).await
}

/// Closes the turn: marks the messages answered and queues the reply's parts, in one
/// transaction, only while this worker's lease is current.
async fn finish(
    state: &AppState,
    claim: &Claim,
    connector_id: &str,
    inbound: &[(String, String, Option<String>)],
    parts: Vec<String>,
    note: Option<&str>,
) -> crate::error::Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    // Rows are locked in the order the webhook locks them (conversation, then turn), so the two
    // can never deadlock on PostgreSQL.
    let (last_seq,): (i64,) =
        sqlx::query_as("UPDATE conversations SET out_seq = out_seq + $1 WHERE id = $2 RETURNING out_seq")
            .bind(parts.len() as i64)
            .bind(&claim.conversation_id)
            .fetch_one(&mut *tx)
            .await?;
    let closed = sqlx::query(
        "UPDATE turns SET state = CASE WHEN generation = $1 THEN 'idle' ELSE 'pending' END, lease_until = NULL, \
         failures = 0, run_at = $2, last_error = $3, updated_at = $2 WHERE conversation_id = $4 AND attempts = $5",
    )
    .bind(claim.generation)
    .bind(now)
    .bind(note)
    .bind(&claim.conversation_id)
    .bind(claim.attempts)
    .execute(&mut *tx)
    .await?;
    if closed.rows_affected() == 0 {
        tracing::warn!("lost the lease on a turn; leaving it to its new owner");
        return Ok(());
    }
    for (id, ..) in inbound {
        sqlx::query("UPDATE messages SET answered = 1 WHERE id = $1").bind(id).execute(&mut *tx).await?;
    }
    if !parts.is_empty() {
        let first_seq = last_seq - parts.len() as i64 + 1;
        for (i, body) in parts.iter().enumerate() {
            let id = new_id();
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, note, created_at) \
                 VALUES ($1, $2, $3, 'outbound', $4, 'pending', $5, $6)",
            )
            .bind(&id)
            .bind(&claim.conversation_id)
            .bind(connector_id)
            .bind(body)
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO outbox (message_id, conversation_id, seq, state, run_at, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4, $4)",
            )
            .bind(&id)
            .bind(&claim.conversation_id)
            .bind(first_seq + i as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    if !parts.is_empty() {
        state.wake_sends().await;
    }
    Ok(())
}

/// WhatsApp's "typing…" while the agent thinks. Best effort: a failure only costs the dots.
async fn typing_indicator(state: &AppState, ctx: &Context, inbound_sid: &str) {
    if !ctx.number_address.starts_with("whatsapp:") {
        return;
    }
    let result = async {
        let creds = connectors::credentials(state, &ctx.connector_id).await?;
        state.twilio.typing_indicator(&creds, inbound_sid).await.map_err(anyhow::Error::from)?;
        Ok::<_, crate::error::Error>(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "typing indicator not shown");
    }
}
