//! The database: SQLite by default, PostgreSQL when `DATABASE_URL` says so. One set of
//! queries serves both (`$N` placeholders, portable types); only the migrations differ.

use std::{
    path::Path,
    str::FromStr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use anyhow::Context;
use sqlx::{any::AnyPoolOptions, AnyConnection, AnyPool, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

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
    pub url: String,
    /// SQLite has one writer at a time. Queuing writers here, in order, is far faster than
    /// letting them collide on the database lock and back off in SQLite's busy handler.
    write_lock: Option<Arc<Mutex<()>>>,
    urgent_writers: Arc<AtomicUsize>,
}

/// A write transaction; with SQLite it also holds the process's write turn until it ends.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<OwnedMutexGuard<()>>,
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

impl Db {
    /// Connects, creating a SQLite file (and its folder) on first start, and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
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
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let db = Db { pool, backend, url, write_lock, urgent_writers: Arc::default() };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await,
        }
        .context("applying database migrations")
    }

    /// A transaction that will write, for background work. With SQLite it waits while a
    /// webhook's write is waiting, so Twilio's requests are acknowledged first under load.
    pub async fn begin_write(&self) -> sqlx::Result<WriteTx> {
        let turn = match &self.write_lock {
            Some(lock) => {
                while self.urgent_writers.load(Ordering::Acquire) > 0 {
                    tokio::time::sleep(std::time::Duration::from_micros(500)).await;
                }
                Some(lock.clone().lock_owned().await)
            }
            None => None,
        };
        self.begin_holding(turn).await
    }

    /// A write transaction for a request Twilio is waiting on (webhooks, status callbacks).
    pub async fn begin_write_urgent(&self) -> sqlx::Result<WriteTx> {
        let turn = match &self.write_lock {
            Some(lock) => {
                self.urgent_writers.fetch_add(1, Ordering::AcqRel);
                let turn = lock.clone().lock_owned().await;
                self.urgent_writers.fetch_sub(1, Ordering::AcqRel);
                Some(turn)
            }
            None => None,
        };
        self.begin_holding(turn).await
    }

    async fn begin_holding(&self, turn: Option<OwnedMutexGuard<()>>) -> sqlx::Result<WriteTx> {
        // SQLite takes its write lock at once, so a read lock is never upgraded mid-transaction.
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }
}

/// The default SQLite URL for a data folder.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("switchboard.db").display())
}
