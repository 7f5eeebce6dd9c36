//! The one typed application state every handler, worker and service shares.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::{crypto::SecretBox, db::Db, twilio::TwilioClient};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub twilio: TwilioClient,
    pub secrets: Arc<SecretBox>,
    /// Scheme, host and port Twilio reaches us at, without a trailing slash.
    pub public_url: Arc<str>,
    pub wake: Wake,
    pub tuning: Tuning,
}

/// Wakes the workers when there is new work, so they need no fast poll.
#[derive(Clone, Default)]
pub struct Wake {
    pub turns: Arc<Notify>,
    pub sends: Arc<Notify>,
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
    pub max_send_attempts: i64,
    pub retry_base: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            webhook_confirm_timeout: Duration::from_secs(15),
            webhook_confirm_interval: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
            max_send_attempts: 8,
            retry_base: Duration::from_secs(1),
        }
    }
}

impl AppState {
    pub fn inbound_webhook_url(&self, key: &str) -> String {
        format!("{}/twilio/inbound/{key}", self.public_url)
    }

    pub fn status_callback_url(&self, key: &str) -> String {
        format!("{}/twilio/status/{key}", self.public_url)
    }
}
