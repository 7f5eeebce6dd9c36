//! Webhook requests refused, counted for the dashboard.

use std::{collections::HashMap, sync::Mutex};

use app::time::utc_minutes;

use crate::{db::Db, now_ms};

/// Webhook requests refused for a known connector, counted in memory and written now and then
/// (a flood of forged requests must not turn into a flood of writes).
#[derive(Default)]
pub struct Rejections {
    counts: Mutex<HashMap<(String, &'static str), i64>>,
}

impl Rejections {
    pub fn note(&self, connector_id: &str, reason: &'static str) {
        *self.counts.lock().unwrap().entry((connector_id.to_string(), reason)).or_default() += 1;
    }

    /// Adds the counts so far to today's rows.
    pub async fn flush(&self, db: &Db) -> sqlx::Result<()> {
        let counts = std::mem::take(&mut *self.counts.lock().unwrap());
        if counts.is_empty() {
            return Ok(());
        }
        let day = utc_minutes(now_ms())[..10].to_string();
        let mut tx = db.begin_write().await?;
        for ((connector_id, reason), count) in counts {
            super::store::add_rejections(&mut tx, &connector_id, &day, reason, count).await?;
        }
        tx.commit().await
    }
}
