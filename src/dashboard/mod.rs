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
/// The last bucket (waits of 156 years and more).
const BUCKETS: usize = 600;

/// The shortest wait of each bucket from 1: 1.05^(b-1) rounded up, the powers taken by repeated
/// multiplication in double precision, exactly as migration 0024 fills `wait_buckets` for the
/// database's triggers, so both put a wait in the same bucket.
static FLOORS: std::sync::LazyLock<Vec<i64>> = std::sync::LazyLock::new(|| {
    let mut power = 1.0_f64;
    (0..BUCKETS)
        .map(|_| {
            let floor = power.ceil() as i64;
            power *= BUCKET_GROWTH;
            floor
        })
        .collect()
});

/// The bucket of a wait of `ms` milliseconds: 0 for under one, then one per 5 % step.
fn bucket(ms: i64) -> i64 {
    FLOORS.partition_point(|&floor| floor <= ms) as i64
}

/// The shortest wait in a bucket (what the dashboard shows for it; the database's `wait_buckets`
/// holds the same).
pub fn bucket_floor(bucket: i64) -> i64 {
    if bucket < 1 {
        0
    } else {
        FLOORS[(bucket as usize).min(BUCKETS) - 1]
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
        // Days the database has counted as their messages were written are kept from those
        // counts; days from before (the first start after migration 0024) from their messages.
        let live_from = store::live_from(&state.db.pool).await?.unwrap_or(i64::MAX).clamp(oldest, settled_end);
        // An empty range still walks every conversation active since its start: not read at all.
        let mut counted = if oldest < live_from {
            count(state, org_id, oldest * DAY_MS, live_from * DAY_MS).await?
        } else {
            Vec::new()
        };
        counted.extend(store::live(&state.db.pool, org_id, live_from, settled_end).await?);
        let mut tx = state.db.begin_write().await?;
        for day in (oldest..settled_end).filter(|d| !sealed.contains(d)) {
            if store::keep(&mut tx, org_id, day, &counted).await? {
                kept.extend(counted.iter().filter(|c| c.day == day).cloned());
            }
        }
        store::prune_live(&mut tx, org_id, settled_end).await?;
        tx.commit().await?;
        // Another view kept some of these days at the same moment: read what is kept.
        if kept.iter().filter(|c| c.kind == "sealed").count() as i64 != settled_end - first {
            kept = store::kept(&state.db.pool, org_id, first, settled_end).await?;
        }
    }
    // The days not over yet: the counts the database keeps as messages are written.
    kept.extend(store::live(&state.db.pool, org_id, settled_end.max(first), i64::MAX).await?);
    Ok(kept)
}

/// Counts the days not over yet again from the messages, in place of what the triggers of
/// migration 0024 kept: on the first start after that migration, and after a change made to
/// messages behind the triggers' back (a message's time rewritten). Writers wait meanwhile
/// (PostgreSQL: the counts' table is locked), so no message is counted twice or missed.
pub async fn rebuild_live(state: &AppState) -> Result<()> {
    let now = now_ms();
    let since = (now.div_euclid(DAY_MS) - SETTLE_DAYS) * DAY_MS;
    let mut tx = state.db.begin_write().await?;
    if state.db.backend == crate::db::Backend::Postgres {
        sqlx::query("LOCK TABLE dashboard_live IN EXCLUSIVE MODE").execute(&mut *tx).await?;
    }
    store::clear_live(&mut tx).await?;
    store::count_live(&mut tx, since).await?;
    let mut waits = std::collections::BTreeMap::<(String, i64, i64), i64>::new();
    for w in store::live_waits(&mut tx, since).await? {
        *waits
            .entry((w.connector_id, w.asked_at.div_euclid(DAY_MS), bucket(w.replied_at - w.asked_at)))
            .or_default() += 1;
    }
    for ((connector, day, item), count) in waits {
        store::add_live(&mut tx, &connector, day, "wait", item, count).await?;
    }
    // Without older messages (a new installation) the counts hold every day whole.
    let from_day = if store::any_before(&mut tx, since).await? { since.div_euclid(DAY_MS) } else { 0 };
    store::set_rebuilt(&mut tx, now, from_day).await?;
    tx.commit().await?;
    Ok(())
}

/// Drops the live counts of days before the dashboard's window, which no view reads (the days in
/// it are dropped as they are kept, when the dashboard is viewed), so they stay a few days' worth
/// even where no one looks. The lifecycle sweep calls it; with nothing to drop it reads one index
/// entry.
pub async fn prune_live(state: &AppState) -> Result<()> {
    let first = now_ms().div_euclid(DAY_MS) - DAYS + 1;
    let mut tx = state.db.begin_write().await?;
    store::prune_before(&mut tx, first).await?;
    tx.commit().await?;
    Ok(())
}

/// Rebuilds the live counts once, on the first start after they were introduced.
pub async fn rebuild_live_if_new(state: &AppState) -> Result<()> {
    if store::live_from(&state.db.pool).await?.is_none() {
        rebuild_live(state).await?;
        tracing::info!("the dashboard's counts of the last days rebuilt from the messages");
    }
    Ok(())
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
    let (retention_days, own) = crate::privacy::retention::periods_of(&state.db.pool, &me.org_id).await?;
    Ok(Dashboard {
        retention_days,
        agents_with_own_period: own.len() as i64,
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

#[cfg(test)]
mod tests {
    use super::{bucket, bucket_floor};

    #[test]
    fn a_wait_falls_in_the_bucket_whose_bounds_hold_it_each_5_percent_wide() {
        for ms in (0..20_000).chain((20_000..10_000_000_000).step_by(9_999_991)) {
            let b = bucket(ms);
            assert!(bucket_floor(b) <= ms, "{ms} ms is in bucket {b}, from {}", bucket_floor(b));
            if b >= 1 {
                assert!(ms < bucket_floor(b + 1) || bucket_floor(b + 1) == bucket_floor(b), "{ms} ms belongs higher");
                assert!(bucket_floor(b) as f64 >= ms as f64 / 1.05 - 1.0, "{ms} ms: bucket {b} too wide");
            }
            // The logarithm says the same away from a bucket's edge.
            if ms >= 1 {
                let exact = (ms as f64).ln() / 1.05_f64.ln();
                if (exact - exact.round()).abs() > 1e-6 {
                    assert_eq!(b, exact.floor() as i64 + 1, "{ms} ms");
                }
            }
        }
        assert_eq!(bucket(0), 0);
    }
}
