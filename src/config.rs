//! Settings, each from a flag or an environment variable, with defaults that run on a laptop.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::crypto::Secret;

#[derive(Args, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "SWITCHBOARD_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// The URL Twilio reaches this server at (scheme, host, port); builds every webhook URL.
    /// Defaults to http://<bind address>.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Folder for the SQLite database and the master key file.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// sqlite://… or postgres://…; defaults to a SQLite file in the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Base64 of 32 random bytes; without it, a key file in the data folder is used (and created).
    #[arg(long, env = "SWITCHBOARD_MASTER_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub master_key: Option<Secret>,
    /// The one-time token the setup page asks for while no organization exists (at least 16
    /// characters). Without it, a random one is made at start and printed in the log.
    #[arg(long, env = "SWITCHBOARD_SETUP_TOKEN", hide_env_values = true, value_parser = parse_setup_token)]
    pub setup_token: Option<Secret>,
    /// Where the built UI (WASM bundle, CSS, static files) is served from.
    #[arg(long, env = "SWITCHBOARD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Base URL of Twilio's core API (Accounts, IncomingPhoneNumbers, Messages).
    #[arg(long, env = "TWILIO_API_BASE", default_value = "https://api.twilio.com")]
    pub twilio_api_base: String,
    /// Base URL of Twilio's Messaging API (WhatsApp senders).
    #[arg(long, env = "TWILIO_MESSAGING_BASE", default_value = "https://messaging.twilio.com")]
    pub twilio_messaging_base: String,
    /// Base URL of Twilio's Content API (WhatsApp templates).
    #[arg(long, env = "TWILIO_CONTENT_BASE", default_value = "https://content.twilio.com")]
    pub twilio_content_base: String,
    /// How SQLite makes a commit durable: `full` (synced before a webhook is acknowledged, so it
    /// survives a power loss) or `normal` (faster; a power loss can take back the last commits).
    #[arg(long, env = "SWITCHBOARD_SQLITE_SYNC", value_enum, default_value = "full")]
    pub sqlite_sync: crate::db::SqliteSync,
    /// Where the files guests and staff send are kept: `files` (the data folder; the default with
    /// SQLite) or `database` (every instance sharing it serves every file; the default with
    /// PostgreSQL).
    #[arg(long, env = "SWITCHBOARD_MEDIA_STORE", value_enum)]
    pub media_store: Option<crate::media::store::StoreKind>,
    /// Internal hosts and networks that brains may call although they are on this machine or a
    /// private network: comma-separated names, addresses and CIDR networks, e.g.
    /// `127.0.0.1,10.1.0.0/16,llm.internal`. Everything internal is refused without it.
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_ALLOW", default_value = "", value_parser = parse_egress)]
    pub outbound_allow: crate::egress::Egress,
    /// Seconds a client has to send a request's headers; a keep-alive connection idle this long
    /// is closed too.
    #[arg(long, env = "SWITCHBOARD_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_secs: u64,
    /// Seconds within which a request must be read and answered (408 after that). Longer than
    /// the longest brain timeout, which "Try the agent" waits for.
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT_SECS", default_value_t = 150, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Connections open at once; more wait in the listen queue until one closes.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Take the client's address from the last X-Forwarded-For entry (set this behind a reverse
    /// proxy that adds it, as the bundled Caddyfile does); login throttling counts by address.
    #[arg(long, env = "SWITCHBOARD_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// The bearer token `/metrics` asks for; without it, `/metrics` answers only this machine.
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub metrics_token: Option<Secret>,
    /// Messages per second each number may send, across all instances (0: no cap).
    #[arg(long, env = "SWITCHBOARD_SEND_RATE", default_value_t = 80.0)]
    pub send_rate: f64,
    /// Seconds after being queued during which a reply that Twilio refuses for a passing reason
    /// (429, 5xx, no answer) is tried again; past that it fails for good.
    #[arg(long, env = "SWITCHBOARD_SEND_GIVE_UP_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub send_give_up_secs: u64,
    /// Agent turns this process runs at once. A brain that calls out (an LLM) spends seconds
    /// waiting, so raise this with such brains and many guests.
    #[arg(long, env = "SWITCHBOARD_TURN_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub turn_workers: u16,
    /// Replies this process hands to Twilio at once.
    #[arg(long, env = "SWITCHBOARD_SEND_WORKERS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub send_workers: u16,
    /// Seconds a claimed turn, send or download stays with its worker unless renewed; a running
    /// instance renews its leases every third of this, so a crashed process's work is taken by
    /// another within it (and at once when the same process starts again).
    #[arg(long, env = "SWITCHBOARD_LEASE_SECS", default_value_t = 10)]
    pub lease_secs: u64,
    /// Seconds a brain may think before the agent's fallback reply goes out instead.
    #[arg(long, env = "SWITCHBOARD_BRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub brain_timeout_secs: u64,
    /// Seconds between health checks of each connector's credentials (0: no periodic check).
    #[arg(long, env = "SWITCHBOARD_HEALTH_CHECK_SECS", default_value_t = 300)]
    pub health_check_secs: u64,
    /// On SIGTERM, milliseconds during which new webhooks get 503 before the listener closes.
    #[arg(long, env = "SWITCHBOARD_DRAIN_MS", default_value_t = 2000)]
    pub drain_ms: u64,
    /// How often, in milliseconds, conversations quiet for their agent's inactivity period are ended.
    #[arg(long, env = "SWITCHBOARD_LIFECYCLE_SWEEP_MS", default_value_t = 5000)]
    pub lifecycle_sweep_ms: u64,
    /// How often, in milliseconds, messages past their retention period are looked for.
    #[arg(long, env = "SWITCHBOARD_RETENTION_SWEEP_MS", default_value_t = 60000)]
    pub retention_sweep_ms: u64,
    /// Days the audit log's lines are kept, and the record of a guest's request to be forgotten
    /// once it is decided (neither holds a guest's data); 0 keeps them for good.
    #[arg(long, env = "SWITCHBOARD_AUDIT_DAYS", default_value_t = 730)]
    pub audit_days: u32,
    /// SMTP server that sends the codes guests ask for with /login; without it, agents that
    /// require an email address cannot verify anyone.
    #[arg(long, env = "SWITCHBOARD_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// Defaults to 465 with `tls`, 587 with `starttls`, 25 with `none`.
    #[arg(long, env = "SWITCHBOARD_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// `starttls` (upgrade a plain connection), `tls` (TLS from the start) or `none` (loopback only).
    #[arg(long, env = "SWITCHBOARD_SMTP_TLS", value_enum, default_value = "starttls")]
    pub smtp_tls: SmtpTls,
    #[arg(long, env = "SWITCHBOARD_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    #[arg(long, env = "SWITCHBOARD_SMTP_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub smtp_password: Option<Secret>,
    /// The From of those emails, e.g. `Front Desk <no-reply@example.com>`.
    #[arg(long, env = "SWITCHBOARD_MAIL_FROM", default_value = "Switchboard <no-reply@switchboard.invalid>")]
    pub mail_from: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

fn parse_egress(s: &str) -> Result<crate::egress::Egress, String> {
    crate::egress::Egress::parse(s)
}

fn parse_setup_token(s: &str) -> Result<Secret, String> {
    let s = s.trim();
    if s.len() < 16 || s.len() > 200 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a setup token is 16 to 200 printable characters without spaces".into());
    }
    Ok(Secret::new(s))
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("master_key", &self.master_key.as_ref().map(|_| "[redacted]"))
            .field("setup_token", &self.setup_token.as_ref().map(|_| "[redacted]"))
            .field("site_root", &self.site_root)
            .field("twilio_api_base", &self.twilio_api_base)
            .field("twilio_messaging_base", &self.twilio_messaging_base)
            .field("twilio_content_base", &self.twilio_content_base)
            .field("outbound_allow", &self.outbound_allow)
            .field("sqlite_sync", &self.sqlite_sync)
            .field("media_store", &self.media_store)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "[redacted]"))
            .field("send_rate", &self.send_rate)
            .field("send_give_up_secs", &self.send_give_up_secs)
            .field("turn_workers", &self.turn_workers)
            .field("send_workers", &self.send_workers)
            .field("lease_secs", &self.lease_secs)
            .field("brain_timeout_secs", &self.brain_timeout_secs)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "[redacted]"))
            .field("mail_from", &self.mail_from)
            .finish()
    }
}

/// A database URL without its password.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Config {
    /// A configuration for tests and embedding: every default, on the given folder.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let mut config = Wrapper::parse_from(["switchboard"]).config;
        config.data_dir = data_dir;
        config
    }

    /// The worker timings these settings ask for.
    pub fn tuning(&self) -> Tuning {
        Tuning {
            send_rate: (self.send_rate > 0.0).then_some(self.send_rate),
            lease: Duration::from_secs(self.lease_secs.max(1)),
            brain_timeout: Duration::from_secs(self.brain_timeout_secs.max(1)),
            health_check: (self.health_check_secs > 0).then(|| Duration::from_secs(self.health_check_secs)),
            drain_grace: Duration::from_millis(self.drain_ms),
            lifecycle_sweep: Duration::from_millis(self.lifecycle_sweep_ms.max(100)),
            retention_sweep: Duration::from_millis(self.retention_sweep_ms.max(100)),
            audit_days: (self.audit_days > 0).then_some(i64::from(self.audit_days)),
            turn_workers: usize::from(self.turn_workers),
            send_workers: usize::from(self.send_workers),
            send_give_up: Duration::from_secs(self.send_give_up_secs),
            ..Tuning::default()
        }
    }

    /// The HTTP server's limits these settings ask for.
    pub fn limits(&self) -> crate::serve::Limits {
        crate::serve::Limits {
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_connections: self.max_connections as usize,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| crate::db::sqlite_url(&self.data_dir))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn worker_counts_are_settings_within_bounds() {
        let config =
            Cli::try_parse_from(["switchboard", "--turn-workers", "32", "--send-workers", "2"]).unwrap().config;
        let tuning = config.tuning();
        assert_eq!((tuning.turn_workers, tuning.send_workers), (32, 2));
        let defaults = Cli::try_parse_from(["switchboard"]).unwrap().config.tuning();
        assert_eq!((defaults.turn_workers, defaults.send_workers), (4, 8));
        assert!(Cli::try_parse_from(["switchboard", "--turn-workers", "0"]).is_err(), "at least one");
        assert!(Cli::try_parse_from(["switchboard", "--send-workers", "many"]).is_err());
    }
}

/// Timings that tests shorten.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// How long "Set webhook" waits for Twilio to apply a sender update.
    pub webhook_confirm_timeout: Duration,
    pub webhook_confirm_interval: Duration,
    /// How long a worker owns a claimed job before another may take it.
    pub lease: Duration,
    /// The slow poll that backs up the wake-ups (and picks up retries that come due).
    pub idle_poll: Duration,
    /// How long after being queued a reply may still be retried; past it, it fails for good.
    pub send_give_up: Duration,
    pub retry_base: Duration,
    /// How long a brain may think before the fallback reply goes out instead.
    pub brain_timeout: Duration,
    /// Messages per second per sending number, across all workers and instances; `None`: no cap.
    pub send_rate: Option<f64>,
    /// Sender and turn workers in this process.
    pub send_workers: usize,
    pub turn_workers: usize,
    /// How often each connector's credentials are checked again; `None`: never by itself.
    pub health_check: Option<Duration>,
    /// On shutdown, how long new webhooks get 503 before the listener closes (a load balancer
    /// watching `/readyz` moves traffic away meanwhile).
    pub drain_grace: Duration,
    /// How often conversations quiet for their agent's inactivity period are ended.
    pub lifecycle_sweep: Duration,
    /// How often the messages waiting for the search index are indexed (SQLite; a search
    /// indexes them first anyway, so this only keeps the queue short).
    pub search_index: Duration,
    /// A search whose words at least this many messages hold walks the list in its order and asks
    /// each conversation whether it holds them, instead of gathering every conversation that does
    /// ([`crate::inbox`]'s list).
    pub search_walk_from: i64,
    /// A search whose text at least this many guests' numbers or names hold walks the list, each
    /// conversation's guest matched as it is read, instead of gathering every one that matches.
    pub guest_walk_from: i64,
    /// An agent with at least this many conversations has its pages (the REST API's) read by
    /// walking each state's conversations in order instead of gathering its own and sorting them.
    pub agent_walk_from: i64,
    /// How often messages past their retention period are looked for.
    pub retention_sweep: Duration,
    /// Days the audit log's lines and the decided requests to be forgotten are kept (none: for good).
    pub audit_days: Option<i64>,
    /// How long a turn waits for the files of the guest's new messages to be downloaded (so the
    /// brain gets them) before it answers with what it has.
    pub media_wait: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            webhook_confirm_timeout: Duration::from_secs(15),
            webhook_confirm_interval: Duration::from_millis(250),
            lease: Duration::from_secs(10),
            idle_poll: Duration::from_secs(1),
            send_give_up: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(1),
            brain_timeout: Duration::from_secs(20),
            send_rate: Some(80.0),
            send_workers: 8,
            turn_workers: 4,
            health_check: Some(Duration::from_secs(300)),
            drain_grace: Duration::from_secs(2),
            lifecycle_sweep: Duration::from_secs(5),
            search_index: Duration::from_secs(1),
            search_walk_from: 10_000,
            guest_walk_from: 10_000,
            agent_walk_from: 5_000,
            retention_sweep: Duration::from_secs(60),
            audit_days: Some(730),
            media_wait: Duration::from_secs(20),
        }
    }
}
