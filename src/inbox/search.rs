//! The full-text indexes the inbox's search reads: the messages' text, and the guests' numbers and
//! names.
//!
//! PostgreSQL keeps its GIN index itself (migration 0019; the index's pending list already
//! batches the work). SQLite's FTS5 index is written here, after the webhook's transaction: the
//! webhook's insert only queues the message (migration 0020), and [`index_queued`] moves the
//! queue into the index in batches — before every search, so a search finds every message stored
//! before it, and every few moments in the background ([`indexer`]), so the queue stays short.

use std::time::Duration;

use super::store;
use crate::{
    db::{Backend, Db},
    state::AppState,
};

/// Messages indexed in one transaction: enough to share its cost, few enough that the write
/// turn is given back to the webhooks within milliseconds.
const BATCH: i64 = 1_000;

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

/// The indexer: indexes the queued messages every `interval`.
pub async fn indexer(state: AppState, interval: Duration) {
    while !state.workers.stopping() {
        tokio::time::sleep(interval).await;
        if let Err(e) = index_queued(&state.db).await {
            tracing::warn!(error = %e, "cannot index the messages' text for search");
        }
    }
}
