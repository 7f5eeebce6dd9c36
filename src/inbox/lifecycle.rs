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

/// How many rows one transaction of [`fold_totals`] folds at most, which bounds how long a
/// webhook batch waits for the write turn behind it. A retention pass ending thousands of an
/// agent's conversations leaves as many rows; folded at once, the seed of a benchmark's 5,000
/// conversations held the turn for a second under `strace` (docs/performance.md).
pub const FOLD_ROWS: i64 = 500;

/// What [`fold_totals_by`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// Agents whose rows were folded.
    pub agents: usize,
    pub transactions: usize,
    /// The most rows one transaction took.
    pub most_rows: i64,
}

/// Folds each agent's rows of its conversations' total into about one (migration 0033), every
/// agent each time (the last ones too, however busy the first), [`FOLD_ROWS`] rows a
/// transaction.
pub async fn fold_totals(state: &AppState) -> sqlx::Result<Folded> {
    fold_totals_by(state, 100, FOLD_ROWS).await
}

/// [`fold_totals`], agents looked up `agents` at a time, at most `rows` rows (at least 2) a
/// transaction. An agent is folded as far as the rows it had when looked up, and the rows its
/// folds leave: rows written meanwhile are left to the next time, so a busy agent cannot keep
/// the worker here.
pub async fn fold_totals_by(state: &AppState, agents: i64, rows: i64) -> sqlx::Result<Folded> {
    let rows = rows.max(2);
    let (mut done, mut after) = (Folded::default(), String::new());
    loop {
        let found = store::unfolded_totals(&state.db.pool, &after, agents).await?;
        let Some((last, _)) = found.last() else { break };
        after = last.clone();
        let mut queue = found.iter().map(|(agent, n)| (agent, *n));
        let mut current = queue.next();
        while current.is_some() {
            let mut tx = state.db.begin_write().await?;
            let mut budget = rows;
            while let Some((agent, left)) = current.as_mut() {
                if budget < 2 {
                    break;
                }
                let asked = budget.min(*left);
                let took = store::fold_total(&mut tx, state.db.backend, agent.as_str(), asked).await?;
                budget -= took;
                // The fold's own row is one more to take: `left` still falls by at least one.
                *left -= took - 1;
                if took < asked || *left <= 1 {
                    done.agents += 1;
                    current = queue.next();
                }
            }
            tx.commit().await?;
            done.transactions += 1;
            done.most_rows = done.most_rows.max(rows - budget);
        }
        if (found.len() as i64) < agents {
            break;
        }
    }
    Ok(done)
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
