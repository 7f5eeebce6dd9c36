//! The one typed application state every handler, worker and service shares.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

pub use crate::config::Tuning;

use crate::{
    crypto::SecretBox,
    db::{Backend, Db, Statement},
    pipeline::{
        hooks::HookCache,
        jobs::{IngestQueue, StatusQueue},
    },
    twilio::TwilioClient,
};

/// Everything a request or a worker needs, shared: cloning it (axum does, for every request)
/// is one reference count, not one for each of the handles inside.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The same state over another database handle (tests reopen the pool of a stopped server).
    pub fn with_db(&self, db: Db) -> Self {
        Self::new(Shared { db, ..(*self.0).clone() })
    }
}

#[derive(Clone)]
pub struct Shared {
    /// This process's id among the instances on the database (the `instances` table).
    pub instance_id: Arc<str>,
    /// Held open while the process runs: the lock on the data folder's `instance.id`.
    pub instance_lock: Option<Arc<std::fs::File>>,
    pub db: Db,
    pub twilio: TwilioClient,
    /// The HTTP client for URLs users typed (brains), with the operator's outbound rules.
    pub outbound: crate::egress::Outbound,
    pub secrets: Arc<SecretBox>,
    /// Scheme, host and port Twilio reaches us at, without a trailing slash.
    pub public_url: Arc<str>,
    /// Why Twilio may not reach that URL (unset, or not https), for the pages to say.
    pub public_url_warning: Option<Arc<str>>,
    pub wake: Wake,
    pub tuning: Tuning,
    /// What the webhook looks up on every request, cached briefly.
    pub hooks: Arc<HookCache>,
    /// Inbound messages go through here to be stored in batches.
    pub ingest: IngestQueue,
    pub statuses: StatusQueue,
    /// Where the files of media are kept.
    pub media: crate::media::store::Store,
    /// The background workers: how many were started and how many still run (`/readyz`).
    pub workers: Arc<Workers>,
    /// Whether the database takes writes (`/readyz`).
    pub db_health: Arc<DbHealth>,
    /// The jobs this process's workers are on: the leases the heartbeat renews.
    pub held: Arc<Held>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What `/metrics` asks for, if set (else it answers loopback only).
    pub metrics_token: Option<Arc<crate::crypto::Secret>>,
    /// Sends the codes of `/login`; none when no SMTP server is configured.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// Announces changed conversations to the backoffice's live pages.
    pub events: crate::events::Events,
    /// Webhook requests refused for known connectors, for the dashboard.
    pub rejections: Arc<crate::dashboard::rejections::Rejections>,
    /// When this process's recent sends left, per number (the rate cap's last guard).
    pub departures: Arc<crate::pipeline::departures::Departures>,
    /// Failed logins counted, and the password checks running.
    pub logins: Arc<crate::accounts::logins::Logins>,
    /// The agents' brains, loaded once per revision.
    pub minds: Arc<crate::brain::Minds>,
}

/// Whether the database took this process's last writes: a database that answers reads but
/// refuses writes (a full disk, a read-only file, a lock held elsewhere) is not ready either.
#[derive(Default)]
pub struct DbHealth {
    failing: std::sync::atomic::AtomicBool,
    since: std::sync::Mutex<Option<(std::time::Instant, String)>>,
}

impl DbHealth {
    /// A write went through.
    pub fn wrote(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.failing.swap(false, Relaxed) {
            let since = self.since.lock().unwrap().take();
            let secs = since.map_or(0, |(at, _)| at.elapsed().as_secs());
            tracing::info!(after_secs = secs, "the database takes writes again");
        }
    }

    /// A write failed with `error`.
    pub fn failed(&self, error: &str) {
        let mut since = self.since.lock().unwrap();
        match &mut *since {
            Some((_, last)) => *last = error.to_string(),
            None => *since = Some((std::time::Instant::now(), error.to_string())),
        }
        self.failing.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Since when and why writes fail, if they do.
    pub fn failing(&self) -> Option<(Duration, String)> {
        self.since.lock().unwrap().as_ref().map(|(at, e)| (at.elapsed(), e.clone()))
    }
}

/// How long a worker waits before claiming again after `failures` database errors in a row:
/// its idle poll, doubled with each error up to four times its length, so that an unreachable
/// database is not hammered and work resumes within seconds of its return.
fn claim_backoff(idle_poll: Duration, failures: u32) -> Duration {
    idle_poll * 2u32.pow(failures.saturating_sub(1).min(2))
}

/// A worker's database errors in a row while claiming its `work` (sends, turns, media
/// downloads): said once when they begin, waited out with [`claim_backoff`], and said again
/// when claims go through.
pub struct ClaimErrors {
    work: &'static str,
    failures: u32,
}

impl ClaimErrors {
    pub fn new(work: &'static str) -> Self {
        Self { work, failures: 0 }
    }

    /// A claim went through (whether or not it found work).
    pub fn cleared(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, work = self.work, "claiming again: the database answers");
            self.failures = 0;
        }
    }

    /// A claim failed: waits before the next one.
    pub async fn failed(&mut self, error: &sqlx::Error, idle_poll: Duration) {
        self.failures += 1;
        if self.failures == 1 {
            tracing::error!(%error, work = self.work, "cannot claim work; backing off until the database answers");
        }
        tokio::time::sleep(claim_backoff(idle_poll, self.failures)).await;
    }
}

/// Whether a claim that took `took` from reading the clock to being written still holds enough
/// of its lease to act on. Its lease ran from the clock reading: one that waited on the database
/// for half a lease or more (a lock held elsewhere, a database coming back) may already be, or
/// soon be, claimed again by a worker whose clock was read later, and two would then send the
/// same reply. Such a claim is given back, not acted on.
pub fn claim_is_fresh(took: Duration, lease: Duration) -> bool {
    took < lease / 2
}

/// Gives a claim back when it is not fresh (see [`claim_is_fresh`]): `undo` (built only then)
/// puts the job back as it was, and its workers are woken to claim it again. True when it was
/// given back; the caller then does nothing with it.
pub async fn give_back_if_stale(
    db: &Db,
    claimed_at_ms: i64,
    lease: Duration,
    undo: impl FnOnce() -> Statement,
    workers: &Notify,
    job: &str,
) -> sqlx::Result<bool> {
    let took = Duration::from_millis(crate::now_ms().saturating_sub(claimed_at_ms).max(0) as u64);
    if claim_is_fresh(took, lease) {
        return Ok(false);
    }
    tracing::warn!(job, ms = took.as_millis() as u64, "a claim waited on the database too long to act on; given back");
    db.write_script(vec![undo()], false).await?;
    workers.notify_one();
    Ok(true)
}

/// The jobs this process's workers are on, by leased table. The heartbeat renews these leases
/// and no others: a job whose worker stopped on an error (the database refused its last write)
/// lets its lease run out and is taken again, instead of being renewed until the process ends.
#[derive(Default)]
pub struct Held {
    jobs: std::sync::Mutex<std::collections::HashMap<(&'static str, String), usize>>,
}

impl Held {
    /// Marks a claimed job as worked on until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>, table: &'static str, id: &str) -> HeldJob {
        *self.jobs.lock().unwrap().entry((table, id.to_string())).or_default() += 1;
        HeldJob { held: self.clone(), table, id: id.to_string() }
    }

    /// The ids of the jobs held in `table`.
    pub fn ids(&self, table: &str) -> Vec<String> {
        self.jobs.lock().unwrap().keys().filter(|(t, _)| *t == table).map(|(_, id)| id.clone()).collect()
    }
}

/// A job being worked on; dropping it (the work done, failed or abandoned) lets its lease lapse.
pub struct HeldJob {
    held: Arc<Held>,
    table: &'static str,
    id: String,
}

impl Drop for HeldJob {
    fn drop(&mut self) {
        let mut jobs = self.held.jobs.lock().unwrap();
        let key = (self.table, std::mem::take(&mut self.id));
        if let Some(n) = jobs.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                jobs.remove(&key);
            }
        }
    }
}

#[derive(Default)]
pub struct Workers {
    pub started: std::sync::atomic::AtomicUsize,
    pub running: std::sync::atomic::AtomicUsize,
    /// Set on SIGTERM: webhooks get 503, workers leave after the job in hand.
    pub stopping: std::sync::atomic::AtomicBool,
}

impl Workers {
    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs a worker, counted while it runs (a panic counts it out too).
    pub fn watch<F>(self: &Arc<Self>, worker: F) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        use std::sync::atomic::Ordering::SeqCst;
        struct Running(Arc<Workers>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.running.fetch_sub(1, SeqCst);
            }
        }
        self.started.fetch_add(1, SeqCst);
        self.running.fetch_add(1, SeqCst);
        let guard = Running(self.clone());
        async move {
            let _guard = guard;
            worker.await;
        }
    }

    /// Every worker started is still running.
    pub fn all_running(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        let started = self.started.load(SeqCst);
        started > 0 && self.running.load(SeqCst) == started
    }
}

/// Wakes the workers when there is new work, so they need no fast poll. With PostgreSQL the
/// wake-up also goes to the other instances (LISTEN/NOTIFY).
#[derive(Clone, Default)]
pub struct Wake {
    pub turns: Arc<Notify>,
    pub sends: Arc<Notify>,
    pub media: Arc<Notify>,
}

impl Wake {
    /// Waits for news of turns, or `poll` at most; whether news came.
    pub async fn wait_for_turns(&self, poll: Duration) -> bool {
        tokio::time::timeout(poll, self.turns.notified()).await.is_ok()
    }

    /// Waits for news of sends, or `poll` at most; whether news came.
    pub async fn wait_for_sends(&self, poll: Duration) -> bool {
        tokio::time::timeout(poll, self.sends.notified()).await.is_ok()
    }
}

pub const TURNS_CHANNEL: &str = "switchboard_turns";
pub const SENDS_CHANNEL: &str = "switchboard_sends";

impl AppState {
    pub fn inbound_webhook_url(&self, key: &str) -> String {
        format!("{}/twilio/inbound/{key}", self.public_url)
    }

    pub fn status_callback_url(&self, key: &str) -> String {
        format!("{}/twilio/status/{key}", self.public_url)
    }

    async fn notify_instances(&self, channel: &str) {
        if self.db.backend == Backend::Postgres {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(channel).execute(&self.db.pool).await {
                tracing::warn!(error = %e, "could not wake the other instances");
            }
        }
    }

    /// New turns are waiting.
    pub async fn wake_turns(&self) {
        self.wake.turns.notify_one();
        self.notify_instances(TURNS_CHANNEL).await;
    }

    /// New replies are waiting to be sent.
    pub async fn wake_sends(&self) {
        self.wake.sends.notify_one();
        self.notify_instances(SENDS_CHANNEL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Held, Workers};

    #[test]
    fn a_job_is_held_until_every_worker_on_it_lets_go() {
        let held = Arc::new(Held::default());
        let first = held.hold("outbox", "m1");
        let second = held.hold("outbox", "m1");
        let other = held.hold("turns", "c1");
        assert_eq!(held.ids("outbox"), vec!["m1".to_string()]);
        assert_eq!(held.ids("turns"), vec!["c1".to_string()]);
        drop(first);
        assert_eq!(held.ids("outbox"), vec!["m1".to_string()], "still held by the second");
        drop(second);
        assert!(held.ids("outbox").is_empty(), "let go: its lease lapses");
        drop(other);
        assert!(held.ids("turns").is_empty());
    }

    #[test]
    fn a_claim_that_waited_half_a_lease_is_not_acted_on() {
        use std::time::Duration;
        let lease = Duration::from_secs(10);
        assert!(super::claim_is_fresh(Duration::from_millis(20), lease));
        assert!(super::claim_is_fresh(Duration::from_millis(4_999), lease));
        assert!(!super::claim_is_fresh(Duration::from_secs(5), lease));
        assert!(!super::claim_is_fresh(Duration::from_secs(11), lease), "its lease already ran out");
    }

    #[tokio::test]
    async fn a_worker_that_ends_or_panics_is_counted_out() {
        let workers = Arc::new(Workers::default());
        assert!(!workers.all_running(), "nothing started is not ready");
        let forever = tokio::spawn(workers.watch(std::future::pending()));
        let panics = tokio::spawn(workers.watch(async { panic!("a worker's bug") }));
        assert!(panics.await.is_err());
        assert!(!workers.all_running(), "one of two stopped");
        assert_eq!(workers.running.load(std::sync::atomic::Ordering::SeqCst), 1);
        forever.abort();
    }
}
