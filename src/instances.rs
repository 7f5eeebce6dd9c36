//! The Switchboard processes running on one database: each says it is alive every few seconds,
//! so a command that must not run beside a live instance (rotating the master key) can tell.

use std::time::Duration;

use crate::{now_ms, state::AppState};

/// How often, at the least, a running instance says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// An instance seen within this long is taken to be running.
pub const ALIVE: Duration = Duration::from_secs(15);

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

/// The tables whose rows workers lease.
const LEASED: [&str; 3] = ["turns", "outbox", "media"];

/// The key of a leased table's rows.
fn key_of(table: &str) -> &'static str {
    match table {
        "turns" => "conversation_id",
        "outbox" => "message_id",
        _ => "id",
    }
}

/// This process's instance id: the one kept in the data folder (`instance.id`), so a process
/// that starts again after a crash knows which leases were its own, or a new one when another
/// running process holds that file (two processes on one data folder). The returned file keeps
/// the lock while it is open.
pub fn identity(data_dir: &std::path::Path) -> anyhow::Result<(std::sync::Arc<str>, Option<std::fs::File>)> {
    use std::io::{Read, Seek, Write};
    let path = data_dir.join("instance.id");
    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    if file.try_lock().is_err() {
        return Ok((crate::new_id().into(), None));
    }
    let mut id = String::new();
    file.read_to_string(&mut id)?;
    let id = id.trim();
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok((id.into(), Some(file)));
    }
    let id = crate::new_id();
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{id}")?;
    file.sync_all()?;
    Ok((id.into(), Some(file)))
}

/// At start: the leases this instance's previous run held (it died holding them) are free
/// again at once, instead of when they run out.
pub async fn take_back(state: &AppState) -> sqlx::Result<u64> {
    let mut taken = 0;
    let mut tx = state.db.begin_write().await?;
    for table in LEASED {
        taken += sqlx::query(&format!(
            "UPDATE {table} SET lease_until = NULL WHERE lease_owner = $1 AND lease_until IS NOT NULL"
        ))
        .bind(&*state.instance_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    if taken > 0 {
        tracing::info!(taken, "took back the work this instance held when it stopped");
    }
    Ok(taken)
}

/// Keeps this instance known as alive and the leases it holds from running out while their
/// work goes on (a brain that thinks for a minute, a slow Twilio): every third of a lease (at
/// most every [`HEARTBEAT`]), a [`beat`] records the instance as seen, pushes forward the leases
/// of the jobs its workers are on (a job given up on an error is left to lapse and be taken
/// again), and forgets instances unseen for a day. A lease can then be
/// short, and a dead instance's work is taken by another within one lease.
pub async fn keep_alive(state: AppState) {
    let lease = state.tuning.lease;
    let started = now_ms();
    let mut every = tokio::time::interval((lease / 3).clamp(Duration::from_millis(100), HEARTBEAT));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match beat(&state, started).await {
            Ok(()) => state.db_health.wrote(),
            Err(e) => {
                tracing::warn!(error = %e, "could not record this instance as alive and renew its leases");
                state.db_health.failed(&e.to_string());
            }
        }
    }
}

/// One heartbeat: this instance seen now, the leases of the jobs its workers are on pushed
/// forward, and instances unseen for a day forgotten. An error is the instance's own row's: the
/// database did not take the write.
///
/// Each table's leases are renewed in a transaction of their own, their rows locked in the
/// order of their keys: the order in which a batch of webhooks takes its turns. A heartbeat
/// holding some turns while waiting for others in the table's order, or holding turns while
/// waiting for a file the media worker holds (which then moves its turn forward), would make
/// PostgreSQL cancel one of the two as a deadlock.
pub async fn beat(state: &AppState, started: i64) -> sqlx::Result<()> {
    let lease = state.tuning.lease.as_millis() as i64;
    let mut tx = state.db.begin_write().await?;
    let now = now_ms();
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
    tx.commit().await?;
    // The instance is seen: the database takes writes. A table whose renewal fails (a deadlock's
    // victim, say) is said in the log and tried again at the next beat; it does not keep the
    // others' leases from theirs, nor make the instance unready.
    for table in LEASED {
        if let Err(e) = renew(state, table, lease).await {
            tracing::warn!(table, error = %e, "could not renew the leases of the jobs this instance is on");
        }
    }
    Ok(())
}

/// Pushes forward the leases of the jobs this instance's workers are on in `table`, in a
/// transaction of its own, on PostgreSQL their rows locked in the order of their keys first.
async fn renew(state: &AppState, table: &'static str, lease: i64) -> sqlx::Result<()> {
    // Only the jobs a worker is still on: one given up on an error is left to lapse.
    let mut held = state.held.ids(table);
    if held.is_empty() {
        return Ok(());
    }
    held.sort_unstable();
    let key = key_of(table);
    let mine = |n: usize| {
        let ids = (0..n).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ");
        format!("lease_owner = $2 AND lease_until IS NOT NULL AND lease_until < $1 AND {key} IN ({ids})")
    };
    let mut tx = state.db.begin_write().await?;
    // Read once the write lock is held, and a lease is only ever pushed forward: a heartbeat
    // that waited for the database must not shorten a claim made meanwhile.
    let until = now_ms() + lease;
    if state.db.backend == crate::db::Backend::Postgres {
        // SQLite has one writer at a time, and no row to wait for.
        let sql = format!("SELECT {key} FROM {table} WHERE {} ORDER BY {key} FOR UPDATE", mine(held.len()));
        let mut lock = sqlx::query_scalar(&sql).bind(until).bind(&*state.instance_id);
        for id in &held {
            lock = lock.bind(id);
        }
        held = lock.fetch_all(&mut *tx).await?;
    }
    if !held.is_empty() {
        let sql = format!("UPDATE {table} SET lease_until = $1 WHERE {}", mine(held.len()));
        let mut renew = sqlx::query(&sql).bind(until).bind(&*state.instance_id);
        for id in &held {
            renew = renew.bind(id);
        }
        renew.execute(&mut *tx).await?;
    }
    tx.commit().await
}
