//! The Switchboard processes running on one database: each says it is alive every few seconds,
//! so a command that must not run beside a live instance (rotating the master key) can tell.

use std::time::Duration;

use crate::{now_ms, state::AppState};

/// How often a running instance says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// An instance seen within this long is taken to be running.
pub const ALIVE: Duration = Duration::from_secs(15);

/// Records this instance as alive, every [`HEARTBEAT`], and forgets instances unseen for a day.
pub async fn heartbeat(state: AppState) {
    let started = now_ms();
    let mut every = tokio::time::interval(HEARTBEAT);
    loop {
        every.tick().await;
        let now = now_ms();
        let beat = async {
            let mut tx = state.db.begin_write().await?;
            sqlx::query(
                "INSERT INTO instances (id, started_at, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(&*state.instance_id)
            .bind(started)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM instances WHERE seen_at < $1").bind(now - 86_400_000).execute(&mut *tx).await?;
            tx.commit().await
        };
        if let Err(e) = beat.await {
            tracing::warn!(error = %e, "could not record this instance as alive");
        }
    }
}

/// This instance stops: it is no longer counted as running.
pub async fn gone(state: &AppState) {
    if let Err(e) =
        sqlx::query("DELETE FROM instances WHERE id = $1").bind(&*state.instance_id).execute(&state.db.pool).await
    {
        tracing::warn!(error = %e, "could not record this instance as stopped");
    }
}

/// How many instances were seen alive within [`ALIVE`].
pub async fn running(db: &crate::db::Db) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instances WHERE seen_at > $1")
        .bind(now_ms() - ALIVE.as_millis() as i64)
        .fetch_one(&db.pool)
        .await?;
    Ok(n)
}
