//! The full-text indexes the inbox's search reads: the messages' text, and the guests' numbers and
//! names.
//!
//! PostgreSQL keeps its GIN index itself (migration 0019; the index's pending list already
//! batches the work). SQLite's FTS5 index is written here, after the webhook's transaction: the
//! webhook's insert only queues the message (migration 0020), and [`index_queued`] moves the
//! queue into the index in batches — before every search, so a search finds every message stored
//! before it, and every few moments in the background ([`indexer`]), so the queue stays short.
//!
//! Each batch adds a small segment to the index; the indexer also merges them, a few pages per
//! transaction of its own ([`merge`]), with FTS5's own merging switched off (migration 0027): FTS5
//! merged inside whichever transaction crossed its threshold — a webhook batch, an indexing batch,
//! a retention batch — and held the write turn for 50-120 ms however small that transaction was.

use std::time::Duration;

use super::store;
use crate::{
    db::{Backend, Db},
    state::AppState,
};

/// Messages indexed in one transaction: enough to share its cost, few enough that the write
/// turn is given back to the webhooks within milliseconds.
const BATCH: i64 = 1_000;

/// Pages of an index's segments merged in one transaction (of about 4 kB each): a step takes a
/// millisecond or two.
const MERGE_PAGES: i64 = 16;

/// Indexes every queued message and guest (SQLite); returns how many.
pub async fn index_queued(db: &Db) -> sqlx::Result<u64> {
    if db.backend != Backend::Sqlite || !store::anything_queued(&db.pool).await? {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        // Through the writer's own connection, as the webhooks' writes: a write from another
        // connection would empty that connection's page cache, and every webhook after it would
        // read its pages from the file again.
        let rows = db.write_script(store::index_queued(BATCH), false).await?;
        let moved: Vec<i64> = rows.iter().map(|r| sqlx::Row::try_get(r, 0)).collect::<sqlx::Result<_>>()?;
        total += moved.iter().sum::<i64>() as u64;
        if moved.iter().all(|&m| m < BATCH) {
            return Ok(total);
        }
    }
}

/// Merges the indexes' segments (SQLite) a step at a time, each in a transaction of its own
/// followed by a pause as long as it took, so webhooks' writes go between two, until no level
/// needs merging or `budget` has passed; returns the steps that did work.
pub async fn merge(db: &Db, budget: Duration) -> sqlx::Result<u64> {
    if db.backend != Backend::Sqlite {
        return Ok(0);
    }
    let began = std::time::Instant::now();
    let mut steps = 0;
    loop {
        let step = std::time::Instant::now();
        let rows = db.write_script(store::merge_step(MERGE_PAGES), false).await?;
        let changes: Vec<i64> = rows.iter().map(|r| sqlx::Row::try_get(r, 0)).collect::<sqlx::Result<_>>()?;
        let worked = changes.windows(2).any(|w| w[1] - w[0] >= 2);
        if !worked {
            return Ok(steps);
        }
        steps += 1;
        if began.elapsed() >= budget {
            return Ok(steps);
        }
        tokio::time::sleep(step.elapsed().max(Duration::from_millis(1))).await;
    }
}

/// The indexer: indexes the queued messages every `interval`, and merges the index's segments
/// for up to as long.
pub async fn indexer(state: AppState, interval: Duration) {
    while !state.workers.stopping() {
        tokio::time::sleep(interval).await;
        if let Err(e) = index_queued(&state.db).await {
            tracing::warn!(error = %e, "cannot index the messages' text for search");
        }
        if let Err(e) = merge(&state.db, interval).await {
            tracing::warn!(error = %e, "cannot merge the search index's segments");
        }
    }
}
