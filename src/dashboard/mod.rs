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

/// A day is counted for good (kept in `dashboard_counts`) once this many whole days have passed
/// since it ended: delivery statuses come in within minutes, a retried reply within hours. Later
/// days are counted from their messages on each view.
const SETTLE_DAYS: i64 = 2;

/// Reply waits are kept as a histogram whose buckets are 5 % wide: the median is told to within 5 %.
const BUCKET_GROWTH: f64 = 1.05;

/// The bucket of a wait of `ms` milliseconds: 0 for under one, then one per 5 % step.
fn bucket(ms: i64) -> i64 {
    if ms < 1 {
        0
    } else {
        ((ms as f64).ln() / BUCKET_GROWTH.ln()).floor() as i64 + 1
    }
}

/// The shortest wait in a bucket (what the dashboard shows for it).
fn bucket_floor(bucket: i64) -> i64 {
    if bucket < 1 {
        0
    } else {
        BUCKET_GROWTH.powi((bucket - 1) as i32).ceil() as i64
    }
}

/// The organization's counts of the messages created in `[from, to)`, by day.
async fn count(state: &AppState, org_id: &str, from: i64, to: i64) -> Result<Vec<store::Count>> {
    let mut counts = store::counts(&state.db.pool, org_id, from, to).await?;
    let mut waits = std::collections::BTreeMap::<(i64, i64), i64>::new();
    for w in store::waits(&state.db.pool, org_id, from, to).await? {
        if let Some(replied_at) = w.replied_at {
            *waits.entry((w.asked_at.div_euclid(DAY_MS), bucket(replied_at - w.asked_at))).or_default() += 1;
        }
    }
    counts.extend(waits.into_iter().map(|((day, item), count)| store::Count { day, kind: "wait".into(), item, count }));
    Ok(counts)
}

/// The counts of the days from `first` to today: days that are over are counted once and kept
/// (those not kept yet are counted now, in one read, and kept), the last ones counted live.
async fn day_counts(state: &AppState, org_id: &str, first: i64, today: i64) -> Result<Vec<store::Count>> {
    let settled_end = today - SETTLE_DAYS;
    let mut kept = store::kept(&state.db.pool, org_id, first, settled_end).await?;
    let sealed: std::collections::BTreeSet<i64> = kept.iter().filter(|c| c.kind == "sealed").map(|c| c.day).collect();
    if let Some(oldest) = (first..settled_end).find(|d| !sealed.contains(d)) {
        let counted = count(state, org_id, oldest * DAY_MS, settled_end * DAY_MS).await?;
        let mut tx = state.db.begin_write().await?;
        for day in (oldest..settled_end).filter(|d| !sealed.contains(d)) {
            if store::keep(&mut tx, org_id, day, &counted).await? {
                kept.extend(counted.iter().filter(|c| c.day == day).cloned());
            }
        }
        tx.commit().await?;
        // Another view kept some of these days at the same moment: read what is kept.
        if kept.iter().filter(|c| c.kind == "sealed").count() as i64 != settled_end - first {
            kept = store::kept(&state.db.pool, org_id, first, settled_end).await?;
        }
    }
    kept.extend(count(state, org_id, settled_end.max(first) * DAY_MS, i64::MAX).await?);
    Ok(kept)
}

pub async fn dashboard(state: &AppState, me: &Me) -> Result<Dashboard> {
    if me.role != Role::OrgAdmin {
        return Err(app::AppError::Forbidden.into());
    }
    let today = now_ms().div_euclid(DAY_MS);
    let first = today - DAYS + 1;
    let since = first * DAY_MS;
    let counts = day_counts(state, &me.org_id, first, today).await?;
    let sum = |day: Option<i64>, kind: &str| -> i64 {
        counts.iter().filter(|c| c.kind == kind && day.is_none_or(|d| c.day == d)).map(|c| c.count).sum()
    };
    let days = (first..=today)
        .map(|day| DayCount {
            day: app::time::utc_minutes(day * DAY_MS)[..10].to_string(),
            inbound: sum(Some(day), "inbound"),
            outbound: sum(Some(day), "outbound"),
        })
        .collect();
    // Reply time: from a guest's message to the agent's first reply queued after it; the median
    // of the days' histograms.
    let mut waits = std::collections::BTreeMap::<i64, i64>::new();
    for c in counts.iter().filter(|c| c.kind == "wait") {
        *waits.entry(c.item).or_default() += c.count;
    }
    let replies = sum(None, "wait");
    let median_reply_ms = (replies > 0).then(|| {
        let mut seen = 0;
        let middle = waits.iter().find(|(_, n)| {
            seen += **n;
            seen > replies / 2
        });
        bucket_floor(*middle.expect("the counts add up to `replies`").0)
    });
    let mut failures = std::collections::BTreeMap::<i64, i64>::new();
    for c in counts.iter().filter(|c| c.kind == "failure") {
        *failures.entry(c.item).or_default() += c.count;
    }
    let mut failures: Vec<(Option<i64>, i64)> =
        failures.into_iter().map(|(code, count)| ((code != 0).then_some(code), count)).collect();
    failures.sort_by_key(|(code, count)| (std::cmp::Reverse(*count), *code));
    let first_day = app::time::utc_minutes(since)[..10].to_string();
    let rejections = store::rejections(&state.db.pool, &me.org_id, &first_day).await?;
    let connectors = store::health(&state.db.pool, &me.org_id).await?;
    Ok(Dashboard {
        days,
        median_reply_ms,
        replies_measured: replies,
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
