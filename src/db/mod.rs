//! The database: SQLite by default, PostgreSQL when `DATABASE_URL` says so. One set of
//! queries serves both (`$N` placeholders, portable types); only the migrations differ.

use std::{
    future::Future,
    path::Path,
    str::FromStr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
};

use anyhow::Context;
use sqlx::{
    any::{AnyPoolOptions, AnyRow},
    AnyConnection, AnyPool, Executor,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

mod statement;

use statement::{bind_all, positional};
pub use statement::{Condition, Statement, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Kept for PostgreSQL's LISTEN connection, which the Any pool cannot give.
    pub url: Arc<str>,
    /// SQLite has one writer at a time. Queuing writers here, in order, is far faster than
    /// letting them collide on the database lock and back off in SQLite's busy handler.
    write_lock: Option<Arc<Mutex<()>>>,
    urgent_writers: Arc<AtomicUsize>,
    /// With SQLite, the connection scripts run on, kept out of the pool: its page cache stays
    /// warm, where a pool's connections would each read back what the others wrote.
    script_conn: Arc<Mutex<Option<AnyConnection>>>,
    /// SQLite: the write-ahead log holds pages an erasure overwrote, and must be emptied (not
    /// only copied back) once no reader holds an older snapshot ([`Db::overwrite_log`]).
    log_to_empty: Arc<AtomicBool>,
}

/// How long a SQLite connection waits for another's lock before it gives up (`busy_timeout`).
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// How long SQLite's write-ahead log may grow (in 4 kB pages: 64 MB) before a checkpoint makes
/// sure it starts again from its beginning. Each restart holds writes back for a moment; at
/// 16 MB that was three times a second at 2,000 webhooks a second.
const RESTART_FRAMES: i64 = 16384;

/// The longest script kept prepared for its next run. sqlx keeps a connection's last hundred
/// statements; SQLite's program for a multi-row insert takes about 4 kB per row (a batch of 256
/// webhooks, 1 MB), and batches come in every size: once a backlog had brought batches of many
/// large sizes, the process had grown by 65 MB. A script this long (a batch of some 70
/// webhooks) or shorter is kept, at most about 28 MB for a hundred; a longer, rarer one is
/// prepared each time (about 12 µs a row).
const CACHED_SCRIPT: usize = 16 * 1024;

/// A checkpoint pass this quick left little for the next one to copy.
const QUICK_CHECKPOINT: std::time::Duration = std::time::Duration::from_millis(1);

/// A write transaction; with SQLite it also holds the process's write turn until it ends.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Turn,
}

/// What a PostgreSQL database whose character type is not UTF-8 does to the inbox's search
/// (`{ctype}` is the type).
pub const NOT_UTF8: &str = "the database's character type (LC_CTYPE) is {ctype}, not UTF-8: the inbox's search \
                        reads letters beyond ASCII as separators (\"CAFÉ\" does not find \"café\"); create \
                        the database with a UTF-8 character type such as C.UTF-8 (docs/deployment.md)";

/// A PostgreSQL database's character type, and whether it is UTF-8.
pub async fn character_type(pool: &AnyPool) -> sqlx::Result<(String, bool)> {
    let (ctype,): (String,) =
        sqlx::query_as("SELECT datctype::text FROM pg_database WHERE datname = current_database()")
            .fetch_one(pool)
            .await?;
    let lower = ctype.to_lowercase();
    let utf8 = lower.contains("utf-8") || lower.contains("utf8");
    Ok((ctype, utf8))
}

/// The write turn a transaction or script holds (SQLite), and where it was taken: one that keeps
/// the webhooks' writes waiting for long is logged with the code that began it.
struct Turn {
    guard: Option<OwnedMutexGuard<()>>,
    at: &'static std::panic::Location<'static>,
    since: std::time::Instant,
}

impl Turn {
    fn new(guard: Option<OwnedMutexGuard<()>>, at: &'static std::panic::Location<'static>) -> Self {
        Self { guard, at, since: std::time::Instant::now() }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let held = self.since.elapsed();
        if self.guard.is_some() && held > std::time::Duration::from_millis(50) {
            tracing::warn!(at = %self.at, ms = held.as_millis() as u64, "a write transaction held the write turn long");
        }
    }
}

impl WriteTx {
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// How SQLite makes a commit durable (`SWITCHBOARD_SQLITE_SYNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SqliteSync {
    /// Every commit is synced to disk before it returns (`synchronous = FULL`): a webhook
    /// acknowledged survives a power loss or an OS crash, not only a crashed process. Group
    /// commit shares each sync among the webhooks of a batch.
    #[default]
    Full,
    /// The write-ahead log is synced at checkpoints only (`synchronous = NORMAL`): faster, but a
    /// power loss can take back the last commits, after Twilio was told 200.
    Normal,
}

impl Db {
    /// Connects, creating a SQLite file (and its folder) on first start, and applies migrations;
    /// SQLite commits are synced to disk ([`SqliteSync::Full`]).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, SqliteSync::Full).await
    }

    /// The same, with SQLite's durability chosen.
    pub async fn connect_with(url: &str, sync: SqliteSync) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres:");
        };
        let mut url = url.to_string();
        if backend == Backend::Sqlite {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?;
            if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            if !url.contains("mode=") && !url.contains(":memory:") {
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            // A SQLite connection is a file handle in this process: nothing to test before use,
            // and the test would cost a round trip to the connection's thread on every query.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Temporary storage in memory: a multi-row statement inside a transaction
                        // keeps a statement journal (every page it changes, to undo it alone),
                        // and on disk that was a file created, written and deleted per batch
                        // (a sixth of the writer's time in `perf`).
                        let synchronous = match sync {
                            SqliteSync::Full => "FULL",
                            SqliteSync::Normal => "NORMAL",
                        };
                        conn.execute(
                            format!(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; \
                                 PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY; \
                                 PRAGMA secure_delete = FAST;"
                            )
                            .as_str(),
                        )
                        .await?;
                    }
                    if backend == Backend::Postgres {
                        // No JIT compilation: PostgreSQL compiles a statement whose estimated cost
                        // crosses `jit_above_cost`, and a search's estimate (every word begun given
                        // a default share of the messages) crossed it at ten million messages: a
                        // 20-ms search spent 380 ms compiling itself, every time.
                        conn.execute("SET jit = off").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let db = Db {
            pool,
            backend,
            url: url.into(),
            write_lock,
            urgent_writers: Arc::default(),
            script_conn: Arc::default(),
            log_to_empty: Arc::default(),
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await,
        }
        .context("applying database migrations")?;
        if self.backend == Backend::Postgres {
            match character_type(&self.pool).await {
                Ok((_, true)) => {}
                Ok((ctype, false)) => tracing::warn!("{}", NOT_UTF8.replace("{ctype}", &ctype)),
                Err(e) => tracing::warn!(error = %e, "cannot read the database's character type"),
            }
        }
        Ok(())
    }

    /// Copies the SQLite write-ahead log back into the database file every 100 ms. Left to
    /// SQLite, the commit that crosses 1,000 pages would do it, syncing files while a batch of
    /// webhooks waits on that commit; small, frequent checkpoints keep each sync short (at half
    /// a second, the benchmark's acknowledgement p99 was 6–7 ms; at 100 ms, under 4).
    /// Connections opened without this task (CLI commands) checkpoint when they close.
    ///
    /// The log only starts again from its beginning when a write begins after everything in it
    /// was copied. Under steady load a checkpoint beside the writers never sees that (a write is
    /// always under way), and the log grew by 100 MB a second in the benchmark, every new block
    /// zeroed by the kernel and the next commit after a quiet moment cutting it back for 300 ms.
    /// So once the log holds more than [`RESTART_FRAMES`], a last pass copies what is left while
    /// this process holds its write turn: no write is under way then, and the next one reuses
    /// the log's start. That pass holds the webhooks' writes back, so it must find little to
    /// copy: passes beside the writers go first, each copying what was written during the one
    /// before, until one is quick (a locked pass right after a 7 ms pass held webhooks back
    /// 3–8 ms, every third of a second at 2,000 requests a second).
    pub async fn checkpoints(self) {
        // A log left by a process that stopped before emptying it may hold an erasure's pages.
        self.log_to_empty();
        // When the log was last tried (none yet: the first pass tries whatever it copied).
        let mut tried_to_empty: Option<std::time::Instant> = None;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let (logged, copied) = match self.checkpoint().await {
                Ok(frames) => frames,
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; trying again shortly");
                    continue;
                }
            };
            // An erasure's log, emptied when this pass copied all of it back (no read holds an
            // older snapshot, likely), or else once a second: the truncation decides, without
            // waiting for readers.
            if self.log_to_empty.load(Ordering::Acquire)
                && (logged == copied
                    || tried_to_empty.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1)))
            {
                tried_to_empty = Some(std::time::Instant::now());
                self.try_to_empty_log().await;
                continue;
            }
            if logged < RESTART_FRAMES {
                continue;
            }
            for _ in 0..3 {
                let started = std::time::Instant::now();
                if self.checkpoint().await.is_err() || started.elapsed() < QUICK_CHECKPOINT {
                    break;
                }
            }
            let _turn = self.write_turn(false).await;
            let started = std::time::Instant::now();
            match self.checkpoint().await {
                Ok((logged, copied)) if logged != copied => {
                    tracing::debug!("SQLite checkpoint incomplete: a reader holds an older snapshot")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed; trying again shortly"),
            }
            if started.elapsed() > std::time::Duration::from_millis(20) {
                tracing::warn!(ms = started.elapsed().as_millis() as u64, "SQLite checkpoint held writes back");
            }
        }
    }

    /// Copies SQLite's write-ahead log into the database and empties it, so pages written before
    /// (a forgotten guest's rows among them) are left nowhere but in the database file, where
    /// their deletion overwrote them. Passes beside the writers first, then one holding the
    /// write turn; while a reader holds an older snapshot, the checkpoint task ([`Db::checkpoints`])
    /// empties it once every frame is copied back. Nothing for PostgreSQL.
    pub async fn overwrite_log(&self) {
        if self.backend != Backend::Sqlite {
            return;
        }
        for _ in 0..3 {
            let started = std::time::Instant::now();
            if self.checkpoint().await.is_err() || started.elapsed() < QUICK_CHECKPOINT {
                break;
            }
        }
        self.log_to_empty();
        if !self.try_to_empty_log().await {
            tracing::info!("the write-ahead log is emptied once a reader's older snapshot ends");
        }
    }

    /// Says that the write-ahead log holds pages an erasure overwrote: it is emptied (by
    /// [`Db::overwrite_log`], or the checkpoint task) however the erasure ends after its commit.
    pub fn log_to_empty(&self) {
        self.log_to_empty.store(true, Ordering::Release);
    }

    /// Empties the log if it is to be ([`Db::log_to_empty`]); whether it is empty of those pages
    /// now. The request is taken before the attempt and given back if it fails, so one made
    /// meanwhile is never lost.
    async fn try_to_empty_log(&self) -> bool {
        if !self.log_to_empty.swap(false, Ordering::AcqRel) {
            return true;
        }
        let emptied = self.empty_log().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot empty the write-ahead log; trying again shortly");
            false
        });
        if !emptied {
            self.log_to_empty();
        }
        emptied
    }

    /// Copies SQLite's write-ahead log back and empties it (truncated to nothing), holding the
    /// write turn; whether it was. A reader holding an older snapshot (an export reads one from
    /// its start to its end) keeps the log's frames: this does not wait for it, which SQLite would
    /// do for as long as its busy timeout with every write held back.
    async fn empty_log(&self) -> sqlx::Result<bool> {
        let _turn = self.write_turn(false).await;
        // Never back into the pool without its timeout: whatever ends this early (an error, or
        // the caller dropped at an await), the connection is closed unless it was put back.
        struct NotWaiting(Option<sqlx::pool::PoolConnection<sqlx::Any>>);
        impl Drop for NotWaiting {
            fn drop(&mut self) {
                if let Some(conn) = self.0.take() {
                    drop(conn.detach());
                }
            }
        }
        let mut guard = NotWaiting(Some(self.pool.acquire().await?));
        let conn = guard.0.as_mut().expect("just acquired");
        conn.execute("PRAGMA busy_timeout = 0").await?;
        let emptied =
            sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut **conn).await;
        conn.execute(format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}").as_str()).await?;
        // As it was: back into the pool.
        drop(guard.0.take());
        Ok(emptied?.0 == 0)
    }

    /// Whether a work queue (`turns`, `outbox`) has a row due now: pending, its time come, and no
    /// worker's lease on it. A read: idle workers ask this before a claim takes the write turn.
    pub async fn has_due(&self, queue: &'static str, now: i64) -> sqlx::Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {queue} WHERE state = 'pending' AND run_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) LIMIT 1"
        );
        Ok(sqlx::query(&sql).bind(now).fetch_optional(&self.pool).await?.is_some())
    }

    /// A passive checkpoint: the frames in the log, and how many of them are in the database
    /// file now.
    async fn checkpoint(&self) -> sqlx::Result<(i64, i64)> {
        let (_busy, logged, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&self.pool).await?;
        Ok((logged, copied))
    }

    /// A transaction that will write, for background work. With SQLite it waits while a
    /// webhook's write is waiting, so Twilio's requests are acknowledged first under load.
    #[track_caller]
    pub fn begin_write(&self) -> impl Future<Output = sqlx::Result<WriteTx>> + Send + '_ {
        self.begin(false)
    }

    /// A write transaction for a request Twilio is waiting on (webhooks, status callbacks).
    #[track_caller]
    pub fn begin_write_urgent(&self) -> impl Future<Output = sqlx::Result<WriteTx>> + Send + '_ {
        self.begin(true)
    }

    /// A write transaction that holds the write turn (SQLite) from its start to its end,
    /// remembering the code that began it.
    #[track_caller]
    fn begin(&self, urgent: bool) -> impl Future<Output = sqlx::Result<WriteTx>> + Send + '_ {
        let at = std::panic::Location::caller();
        async move {
            let turn = Turn::new(self.write_turn(urgent).await, at);
            // SQLite takes its write lock at once, so a read lock is never upgraded mid-transaction.
            let tx = match self.backend {
                Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => self.pool.begin().await?,
            };
            Ok(WriteTx { tx, _turn: turn })
        }
    }

    /// With SQLite, this process's turn to write; urgent writers go before background ones.
    async fn write_turn(&self, urgent: bool) -> Option<OwnedMutexGuard<()>> {
        let lock = self.write_lock.as_ref()?;
        if urgent {
            self.urgent_writers.fetch_add(1, Ordering::AcqRel);
            let turn = lock.clone().lock_owned().await;
            self.urgent_writers.fetch_sub(1, Ordering::AcqRel);
            Some(turn)
        } else {
            while self.urgent_writers.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(std::time::Duration::from_micros(500)).await;
            }
            Some(lock.clone().lock_owned().await)
        }
    }

    /// Runs the statements in one write transaction and returns the rows they return, in order.
    /// With SQLite the whole script, `BEGIN IMMEDIATE` to `COMMIT`, is one round trip to the
    /// connection's thread (its parameters bound by position, see [`positional`]); with
    /// PostgreSQL the statements run one after another in a transaction.
    #[track_caller]
    pub fn write_script(
        &self,
        statements: Vec<Statement>,
        urgent: bool,
    ) -> impl Future<Output = sqlx::Result<Vec<AnyRow>>> + Send + '_ {
        let at = std::panic::Location::caller();
        async move { self.run_script(statements, urgent, at).await }
    }

    async fn run_script(
        &self,
        statements: Vec<Statement>,
        urgent: bool,
        at: &'static std::panic::Location<'static>,
    ) -> sqlx::Result<Vec<AnyRow>> {
        let _turn = Turn::new(self.write_turn(urgent).await, at);
        match self.backend {
            Backend::Sqlite => {
                // The script's text sized once: a batch's is kilobytes, and grown a push at a
                // time it was copied over and over.
                let length = statements.iter().map(|s| s.sql.len() + 2).sum::<usize>();
                let mut sql = String::with_capacity(length + 32);
                let mut args = Vec::with_capacity(statements.iter().map(|s| s.args.len()).sum());
                sql.push_str("BEGIN IMMEDIATE;\n");
                for statement in statements {
                    positional(statement, &mut sql, &mut args);
                    sql.push_str(";\n");
                }
                sql.push_str("COMMIT;");
                let mut slot = self.script_conn.lock().await;
                // Taken out while in use: a script cut short (its task cancelled) drops the
                // connection, and with it any transaction it left open.
                let mut conn = match slot.take() {
                    Some(conn) => conn,
                    None => {
                        let mut conn = self.pool.acquire().await?.detach();
                        // The hot writer keeps more of the indexes it appends to in memory
                        // (SQLite's default is 2 MB).
                        conn.execute("PRAGMA cache_size = -32768").await?;
                        conn
                    }
                };
                let query = sqlx::query(&sql).persistent(sql.len() <= CACHED_SCRIPT);
                let rows = bind_all(query, args).fetch_all(&mut conn).await;
                match rows {
                    Ok(rows) => {
                        *slot = Some(conn);
                        Ok(rows)
                    }
                    Err(e) => {
                        // Whatever ran is rolled back and the connection is not trusted again.
                        let _ = conn.execute("ROLLBACK").await;
                        Err(e)
                    }
                }
            }
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                let mut rows = Vec::new();
                for statement in statements {
                    rows.extend(bind_all(sqlx::query(&statement.sql), statement.args).fetch_all(&mut *tx).await?);
                }
                tx.commit().await?;
                Ok(rows)
            }
        }
    }
}

/// The default SQLite URL for a data folder.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("switchboard.db").display())
}

/// Runs `work` (a transaction, begun and committed) again when PostgreSQL chose it as a
/// deadlock's victim or could not serialize it. For the backoffice's deletions, whose cascades
/// lock conversations and messages in an order the pipeline's transactions cannot always share:
/// an admin should see their click done, not an error a second try would not have met.
pub async fn retrying<T, F: Future<Output = sqlx::Result<T>>>(mut work: impl FnMut() -> F) -> sqlx::Result<T> {
    let mut attempt = 0u64;
    loop {
        match work().await {
            Err(e) if attempt < 4 && is_transient(&e) => {
                attempt += 1;
                tracing::info!(error = %e, attempt, "a write met a concurrent one; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
            }
            done => return done,
        }
    }
}

/// A PostgreSQL deadlock's victim (40P01) or a serialization failure (40001): the same work
/// succeeds when tried again.
pub fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e.as_database_error().and_then(|d| d.code()).as_deref(), Some("40P01" | "40001"))
}

/// A new, empty database on the PostgreSQL server `server_url` names (its URL ends in a database's
/// name, which is replaced): its URL. The tests' databases, one a test.
pub async fn fresh_postgres_database(server_url: &str) -> anyhow::Result<String> {
    use rand::Rng;
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("sb_test_{:016x}", rand::thread_rng().gen::<u64>());
    let mut admin = sqlx::AnyConnection::connect(server_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    let (base, _) = server_url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("a database URL with a path"))?;
    Ok(format!("{base}/{name}"))
}

/// A database with every migration run, through sqlx's `Any` driver, for tests that run on both:
/// a new PostgreSQL database when `TEST_DATABASE_URL` names a server, else SQLite in memory.
#[cfg(test)]
pub(crate) async fn migrated_any() -> (sqlx::AnyConnection, Backend) {
    use sqlx::Connection;
    match std::env::var("TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let url = fresh_postgres_database(&server).await.expect("TEST_DATABASE_URL reachable");
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::migrate!("./migrations/postgres").run(&mut conn).await.unwrap();
            (conn, Backend::Postgres)
        }
        _ => (migrated_in_memory_any().await, Backend::Sqlite),
    }
}

/// A new in-memory SQLite database with every migration run, for tests that read plans on the
/// schema ([`query_plan`]).
#[cfg(test)]
pub(crate) async fn migrated_in_memory() -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
    sqlx::migrate!("./migrations/sqlite").run(&mut conn).await.unwrap();
    conn
}

/// The same through sqlx's `Any` driver, as the code under test takes its connections.
#[cfg(test)]
pub(crate) async fn migrated_in_memory_any() -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect("sqlite::memory:").await.unwrap();
    sqlx::migrate!("./migrations/sqlite").run(&mut conn).await.unwrap();
    conn
}

/// The plan SQLite chooses for `sql` on `conn` (`EXPLAIN QUERY PLAN`), one step per line, for tests
/// that hold a query to the indexes it is meant to use.
#[cfg(test)]
pub(crate) async fn query_plan(conn: &mut sqlx::SqliteConnection, sql: &str) -> Vec<String> {
    use sqlx::Row;
    sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect()
}
