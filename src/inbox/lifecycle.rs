//! The conversation lifecycle: an agent's inactivity period, and the worker that ends the
//! conversations quiet for longer (a guest's next message opens a new one).

use super::*;

/// The agent's inactivity period, in seconds.
pub async fn inactivity(state: &AppState, me: &Me, agent_id: &str) -> Result<i64> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let (secs,): (i64,) = sqlx::query_as("SELECT inactivity_secs FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok(secs)
}

pub async fn set_inactivity(state: &AppState, me: &Me, agent_id: &str, seconds: i64) -> Result<i64> {
    crate::agents::require_agent(state, me, agent_id).await?;
    if !(5..=7 * 86_400).contains(&seconds) {
        return Err(AppError::invalid(
            "minutes",
            "Choose between 0.1 minutes (6 seconds) and 7 days (10,080 minutes).",
        )
        .into());
    }
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE agents SET inactivity_secs = $1 WHERE id = $2")
        .bind(seconds)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(seconds)
}

/// Ends the conversations whose guest and agent have both been quiet for the agent's
/// inactivity period. Returns how many ended.
pub async fn end_idle(state: &AppState) -> sqlx::Result<u64> {
    let now = now_ms();
    // Found without the write lock (the webhook's writer goes on meanwhile), on the index of live
    // conversations by activity, bounded by the shortest inactivity period of any agent.
    let due: Vec<(String,)> = sqlx::query_as(
        "SELECT cv.id FROM conversations cv JOIN agents a ON a.id = cv.agent_id \
         WHERE cv.state = 'live' AND cv.last_activity_at < $1 - (SELECT COALESCE(MIN(inactivity_secs), 0) FROM agents) * 1000 \
           AND cv.last_activity_at < $1 - a.inactivity_secs * 1000 LIMIT 500",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut ended = 0;
    let mut tx = state.db.begin_write().await?;
    for (id,) in &due {
        // Still quiet now that the lock is held: a message that came in meanwhile keeps it live.
        let done = sqlx::query(
            "UPDATE conversations SET state = 'ended', ended_at = $1 WHERE id = $2 AND state = 'live' \
             AND last_activity_at < $1 - (SELECT inactivity_secs FROM agents WHERE agents.id = conversations.agent_id) * 1000",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        ended += done.rows_affected();
    }
    tx.commit().await?;
    for (id,) in &due {
        state.events.changed(id);
    }
    Ok(ended)
}

/// The lifecycle worker: ends idle conversations every `interval`.
pub async fn lifecycle(state: AppState, interval: std::time::Duration) {
    while !state.workers.stopping() {
        if let Err(e) = state.rejections.flush(&state.db).await {
            tracing::warn!(error = %e, "cannot record webhook rejections");
        }
        match end_idle(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ended = n, "conversations ended after inactivity"),
            Err(e) => tracing::warn!(error = %e, "cannot end idle conversations"),
        }
        tokio::time::sleep(interval).await;
    }
}
