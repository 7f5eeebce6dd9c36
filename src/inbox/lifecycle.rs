//! The conversation lifecycle: an agent's inactivity period, and the worker that ends the
//! conversations quiet for longer (a guest's next message opens a new one).

use super::*;

/// The agent's inactivity period, in seconds.
pub async fn inactivity(state: &AppState, me: &Me, agent_id: &str) -> Result<i64> {
    crate::agents::require_agent(state, me, agent_id).await?;
    Ok(store::inactivity(&state.db.pool, agent_id).await?)
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
    store::set_inactivity(&mut tx, agent_id, seconds).await?;
    tx.commit().await?;
    Ok(seconds)
}

/// Ends the conversations whose guest and agent have both been quiet for the agent's
/// inactivity period. Returns how many ended.
pub async fn end_idle(state: &AppState) -> sqlx::Result<u64> {
    let now = now_ms();
    let due = store::idle(&state.db.pool, now).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut ended = 0;
    let mut tx = state.db.begin_write().await?;
    for id in &due {
        ended += u64::from(store::end_if_idle(&mut tx, id, now).await?);
    }
    tx.commit().await?;
    for id in &due {
        state.events.changed(id);
    }
    Ok(ended)
}

/// Folds each agent's rows of its conversations' total into one (migration 0033), a hundred
/// agents a transaction, every agent each time (the last ones too, however busy the first);
/// returns for how many agents.
pub async fn fold_totals(state: &AppState) -> sqlx::Result<usize> {
    fold_totals_by(state, 100).await
}

/// [`fold_totals`], `batch` agents a transaction.
pub async fn fold_totals_by(state: &AppState, batch: i64) -> sqlx::Result<usize> {
    let (mut folded, mut after) = (0, String::new());
    loop {
        let agents = store::unfolded_totals(&state.db.pool, &after, batch).await?;
        let Some(last) = agents.last() else { break };
        let mut tx = state.db.begin_write().await?;
        for agent in &agents {
            store::fold_total(&mut tx, agent).await?;
        }
        tx.commit().await?;
        folded += agents.len();
        after = last.clone();
        if (agents.len() as i64) < batch {
            break;
        }
    }
    Ok(folded)
}

/// The lifecycle worker: ends idle conversations every `interval`.
pub async fn lifecycle(state: AppState, interval: std::time::Duration) {
    while !state.workers.stopping() {
        if let Err(e) = state.rejections.flush(&state.db).await {
            tracing::warn!(error = %e, "cannot record webhook rejections");
        }
        if let Err(e) = crate::dashboard::prune_live(&state).await {
            tracing::warn!(error = %e, "cannot drop the dashboard's old live counts");
        }
        match crate::privacy::carry_out(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(guests = n, "guests forgotten at their request"),
            Err(e) => tracing::warn!(error = %e, "cannot carry out requests to be forgotten"),
        }
        if let Err(e) = fold_totals(&state).await {
            tracing::warn!(error = %e, "cannot fold the agents' conversation totals");
        }
        match end_idle(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ended = n, "conversations ended after inactivity"),
            Err(e) => tracing::warn!(error = %e, "cannot end idle conversations"),
        }
        tokio::time::sleep(interval).await;
    }
}
