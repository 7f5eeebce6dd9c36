//! The organization's dashboard: messages in and out per day, the median reply time, delivery
//! failures by Twilio error code, webhook requests refused, and connector health.

use app::{
    accounts::{Me, Role},
    dashboard::{CodeCount, Dashboard, DayCount},
};

use crate::{error::Result, now_ms, state::AppState};

mod port;
pub mod rejections;
mod store;

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
    let per_day = store::per_day(&state.db.pool, &me.org_id, since).await?;
    let days = (0..DAYS)
        .map(|i| {
            let day = today - DAYS + 1 + i;
            let count =
                |dir: &str| per_day.iter().filter(|r| r.day == day && r.direction == dir).map(|r| r.count).sum();
            DayCount {
                day: app::time::utc_minutes(day * DAY_MS)[..10].to_string(),
                inbound: count("inbound"),
                outbound: count("outbound"),
            }
        })
        .collect();
    // Reply time: from a guest's message to the agent's first reply queued after it.
    let waits = store::waits(&state.db.pool, &me.org_id, since).await?;
    let mut replies: Vec<i64> = waits.into_iter().filter_map(|w| w.replied_at.map(|r| r - w.asked_at)).collect();
    replies.sort_unstable();
    let median_reply_ms = (!replies.is_empty()).then(|| replies[replies.len() / 2]);
    let failures = store::failures(&state.db.pool, &me.org_id, since).await?;
    let first_day = app::time::utc_minutes(since)[..10].to_string();
    let rejections = store::rejections(&state.db.pool, &me.org_id, &first_day).await?;
    let connectors = store::health(&state.db.pool, &me.org_id).await?;
    Ok(Dashboard {
        days,
        median_reply_ms,
        replies_measured: replies.len() as i64,
        failures: failures
            .into_iter()
            .map(|store::FailureRow { error_code: code, count }| CodeCount {
                code,
                meaning: code
                    .and_then(crate::twilio::errors::describe)
                    .map_or_else(|| code.map_or("No error code".to_string(), |c| format!("Error {c}")), str::to_string),
                count,
            })
            .collect(),
        rejections: rejections
            .into_iter()
            .map(|r| CodeCount { code: None, meaning: reason_label(&r.reason), count: r.count })
            .collect(),
        connectors: connectors
            .into_iter()
            .map(|store::HealthRow { name, state, health }| {
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
