//! `switchboard check`: what must hold before Switchboard serves real guests, each with a clear
//! verdict. It changes nothing (no database file or key file is created, no migration applied).
//! And `switchboard backup`: an online copy of the SQLite database.

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::any::AnyPoolOptions;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = match self.level {
            Level::Pass => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{mark}  {}: {}", self.what, self.detail)
    }
}

fn verdict(level: Level, what: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict { level, what, detail: detail.into() }
}

pub async fn run(config: &Config) -> Vec<Verdict> {
    let mut verdicts = vec![public_url(config), master_key(config)];
    verdicts.extend(database(config).await);
    for (what, base) in [
        ("Twilio API", &config.twilio_api_base),
        ("Twilio Messaging API", &config.twilio_messaging_base),
        ("Twilio Content API", &config.twilio_content_base),
    ] {
        verdicts.push(reachable(what, base).await);
    }
    verdicts.push(smtp(config).await);
    verdicts
}

/// The SMTP server that sends /login codes: connected to and greeted, credentials included.
async fn smtp(config: &Config) -> Verdict {
    const WHAT: &str = "email (SMTP)";
    match crate::mail::Mailer::from_config(config) {
        Err(e) => verdict(Level::Fail, WHAT, format!("{e:#}")),
        Ok(None) => verdict(
            Level::Warn,
            WHAT,
            "SWITCHBOARD_SMTP_HOST is not set: guests cannot verify an email address with /login, so agents that \
             require one answer nobody",
        ),
        Ok(Some(mailer)) => match tokio::time::timeout(Duration::from_secs(20), mailer.check()).await {
            Ok(Ok(())) => verdict(Level::Pass, WHAT, format!("{} answers", mailer.server)),
            Ok(Err(e)) => verdict(Level::Fail, WHAT, format!("{e:#}")),
            Err(_) => verdict(Level::Fail, WHAT, format!("{} did not answer within 20 seconds", mailer.server)),
        },
    }
}

fn public_url(config: &Config) -> Verdict {
    const WHAT: &str = "public URL";
    match config.public_url.as_deref() {
        None => verdict(
            Level::Fail,
            WHAT,
            "SWITCHBOARD_PUBLIC_URL is not set: Twilio could not reach the webhook URLs, and signatures are checked against it",
        ),
        Some(url) if url::Url::parse(url).is_err() => verdict(Level::Fail, WHAT, format!("{url} is not a URL")),
        Some(url) if !url.starts_with("https://") => verdict(
            Level::Fail,
            WHAT,
            format!("{url} is not https: guests' messages would travel in clear text"),
        ),
        Some(url) => verdict(Level::Pass, WHAT, url.to_string()),
    }
}

fn master_key(config: &Config) -> Verdict {
    const WHAT: &str = "master key";
    let file = config.data_dir.join("master.key");
    if config.master_key.is_some() {
        verdict(Level::Pass, WHAT, "given in SWITCHBOARD_MASTER_KEY")
    } else if file.exists() {
        verdict(Level::Pass, WHAT, format!("key file {}", file.display()))
    } else {
        verdict(
            Level::Warn,
            WHAT,
            format!(
                "none yet: the first start creates {} (several instances must share one key: set SWITCHBOARD_MASTER_KEY)",
                file.display()
            ),
        )
    }
}

/// The database: reachable and migrated; on PostgreSQL, its character type too.
async fn database(config: &Config) -> Vec<Verdict> {
    const WHAT: &str = "database";
    let url = config.database_url();
    let (expected, shown) = if url.starts_with("sqlite:") {
        let options = match sqlx::sqlite::SqliteConnectOptions::from_str(&url) {
            Ok(o) => o,
            Err(e) => return vec![verdict(Level::Fail, WHAT, format!("DATABASE_URL does not parse: {e}"))],
        };
        if !options.get_filename().exists() {
            return vec![verdict(
                Level::Warn,
                WHAT,
                format!("{} does not exist yet: the first start creates it", options.get_filename().display()),
            )];
        }
        (sqlx::migrate!("./migrations/sqlite").iter().count(), options.get_filename().display().to_string())
    } else {
        // Never print credentials that may be in the URL.
        let shown = url::Url::parse(&url)
            .map(|u| {
                format!(
                    "{}:{}/{}",
                    u.host_str().unwrap_or("?"),
                    u.port().unwrap_or(5432),
                    u.path().trim_start_matches('/')
                )
            })
            .unwrap_or_else(|_| "PostgreSQL".into());
        (sqlx::migrate!("./migrations/postgres").iter().count(), shown)
    };
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect(&url).await;
    let pool = match pool {
        Ok(p) => p,
        Err(e) => return vec![verdict(Level::Fail, WHAT, format!("{shown} is not reachable: {e}"))],
    };
    let applied: Result<(i64,), _> =
        sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE").fetch_one(&pool).await;
    let mut verdicts = vec![match applied {
        Ok((n,)) if n as usize == expected => verdict(Level::Pass, WHAT, format!("{shown}, {n} migrations applied")),
        Ok((n,)) => verdict(
            Level::Warn,
            WHAT,
            format!("{shown}: {n} of {expected} migrations applied; the next start applies the rest"),
        ),
        Err(_) => verdict(Level::Warn, WHAT, format!("{shown} is reachable but empty: the first start migrates it")),
    }];
    if !url.starts_with("sqlite:") {
        verdicts.push(match crate::db::character_type(&pool).await {
            Ok((ctype, true)) => verdict(Level::Pass, CTYPE, ctype),
            Ok((ctype, false)) => verdict(Level::Warn, CTYPE, crate::db::NOT_UTF8.replace("{ctype}", &ctype)),
            Err(e) => verdict(Level::Warn, CTYPE, format!("cannot be read: {e}")),
        });
    }
    verdicts
}

const CTYPE: &str = "database character type";

async fn reachable(what: &'static str, base: &str) -> Verdict {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("static client settings");
    // Any HTTP answer (401 without credentials is the usual one) proves the host is reachable.
    match client.get(base).send().await {
        Ok(response) => verdict(Level::Pass, what, format!("{base} answers (HTTP {})", response.status().as_u16())),
        Err(e) => verdict(Level::Fail, what, format!("{base} is not reachable: {}", e.without_url())),
    }
}

/// An online backup of the SQLite database (`VACUUM INTO`): consistent while Switchboard runs.
pub async fn backup(config: &Config, target: &Path) -> anyhow::Result<u64> {
    let url = config.database_url();
    anyhow::ensure!(
        url.starts_with("sqlite:"),
        "backup copies the SQLite database; for PostgreSQL use pg_dump (see the deployment guide)"
    );
    anyhow::ensure!(!target.exists(), "{} already exists; choose a new file", target.display());
    let source = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?;
    anyhow::ensure!(source.get_filename().exists(), "there is no database at {} yet", source.get_filename().display());
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await.context("opening the database")?;
    let target_text = target.to_str().context("the backup path is not valid UTF-8")?;
    sqlx::query("VACUUM INTO $1").bind(target_text).execute(&pool).await.context("copying the database")?;
    Ok(std::fs::metadata(target)?.len())
}
