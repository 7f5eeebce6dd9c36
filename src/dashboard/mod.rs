//! The organization's dashboard: messages in and out per day, the median reply time, delivery
//! failures by Twilio error code, webhook requests refused, and connector health.

use app::{
    accounts::{Me, Role},
    dashboard::{CodeCount, Dashboard, DayCount},
};

use crate::{error::Result, now_ms, state::AppState};

mod port;
pub mod rejections;

pub use rejections::Rejections;

/// Days the dashboard covers.
pub const DAYS: i64 = 14;
const DAY_MS: i64 = 86_400_000;

fn reason_label(reason: &str) -> String {
    match reason {
        "bad_signature" => "Signature check failed".into(),
        "wrong_account" => "AccountSid of another account".into(),
        "unknown_number" => "Message to a number the connector does not list".into(),
        other => other.replace('_', " "),
    }
}

pub async fn dashboard(state: &AppState, me: &Me) -> Result<Dashboard> {
    if me.role != Role::OrgAdmin {
        return Err(app::AppError::Forbidden.into());
    }
    let today = now_ms().div_euclid(DAY_MS);
    let since = (today - DAYS + 1) * DAY_MS;
    // Messages per day and direction: bucketed by integer division of the timestamp.
    let per_day: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT m.created_at / 86400000 AS day, m.direction, COUNT(*) FROM messages m \
         JOIN connectors c ON c.id = m.connector_id WHERE c.org_id = $1 AND m.created_at >= $2 \
         GROUP BY m.created_at / 86400000, m.direction",
    )
    .bind(&me.org_id)
    .bind(since)
    .fetch_all(&state.db.pool)
    .await?;
    let days = (0..DAYS)
        .map(|i| {
            let day = today - DAYS + 1 + i;
            let count = |dir: &str| per_day.iter().filter(|r| r.0 == day && r.1 == dir).map(|r| r.2).sum();
            DayCount {
                day: app::time::utc_minutes(day * DAY_MS)[..10].to_string(),
                inbound: count("inbound"),
                outbound: count("outbound"),
            }
        })
        .collect();
    // Reply time: from a guest's message to the agent's first reply queued after it.
    let waits: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT m.created_at, (SELECT MIN(o.created_at) FROM messages o WHERE o.conversation_id = m.conversation_id \
           AND o.direction = 'outbound' AND o.origin IS NULL AND o.created_at >= m.created_at) \
         FROM messages m JOIN connectors c ON c.id = m.connector_id \
         WHERE c.org_id = $1 AND m.direction = 'inbound' AND m.origin IS NULL AND m.created_at >= $2 \
         ORDER BY m.created_at DESC LIMIT 20000",
    )
    .bind(&me.org_id)
    .bind(since)
    .fetch_all(&state.db.pool)
    .await?;
    let mut replies: Vec<i64> = waits.into_iter().filter_map(|(at, reply)| reply.map(|r| r - at)).collect();
    replies.sort_unstable();
    let median_reply_ms = (!replies.is_empty()).then(|| replies[replies.len() / 2]);
    let failures: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT m.error_code, COUNT(*) FROM messages m JOIN connectors c ON c.id = m.connector_id \
         WHERE c.org_id = $1 AND m.direction = 'outbound' AND m.status IN ('failed', 'undelivered') AND m.created_at >= $2 \
         GROUP BY m.error_code ORDER BY COUNT(*) DESC",
    )
    .bind(&me.org_id)
    .bind(since)
    .fetch_all(&state.db.pool)
    .await?;
    let first_day = app::time::utc_minutes(since)[..10].to_string();
    let rejections: Vec<(String, i64)> = sqlx::query_as(
        "SELECT reason, CAST(SUM(count) AS BIGINT) FROM webhook_rejections WHERE org_id = $1 AND day >= $2 \
         GROUP BY reason ORDER BY SUM(count) DESC",
    )
    .bind(&me.org_id)
    .bind(&first_day)
    .fetch_all(&state.db.pool)
    .await?;
    let connectors: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, state, health FROM connectors WHERE org_id = $1 ORDER BY name")
            .bind(&me.org_id)
            .fetch_all(&state.db.pool)
            .await?;
    Ok(Dashboard {
        days,
        median_reply_ms,
        replies_measured: replies.len() as i64,
        failures: failures
            .into_iter()
            .map(|(code, count)| CodeCount {
                code,
                meaning: code
                    .and_then(crate::twilio::errors::describe)
                    .map_or_else(|| code.map_or("No error code".to_string(), |c| format!("Error {c}")), str::to_string),
                count,
            })
            .collect(),
        rejections: rejections
            .into_iter()
            .map(|(reason, count)| CodeCount { code: None, meaning: reason_label(&reason), count })
            .collect(),
        connectors: connectors
            .into_iter()
            .map(|(name, state, health)| {
                let ok = state == "active" && health == "connected";
                let label = match (state.as_str(), health.as_str()) {
                    ("error", _) => "Error: credentials rejected".to_string(),
                    (_, "connected") => "Connected".to_string(),
                    (_, "rejected") => "Rejected by Twilio".to_string(),
                    (_, "unreachable") => "Twilio unreachable".to_string(),
                    (_, other) => other.to_string(),
                };
                (name, label, ok)
            })
            .collect(),
    })
}
