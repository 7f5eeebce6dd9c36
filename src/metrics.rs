//! `/metrics` in Prometheus' text format: webhook requests by outcome and their acknowledgement
//! latency, sends by outcome and Twilio error code, status callbacks, agent turn latency (kept
//! in this process since it started), and — read from the database at each scrape — queue depth
//! and the age of the oldest job, and connector health.

use std::{collections::BTreeMap, fmt::Write, sync::Mutex, time::Duration};

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{now_ms, state::AppState};

/// Latency buckets, in seconds.
const ACK_BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const TURN_BUCKETS: [f64; 11] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, seconds: f64) {
        for (bound, count) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            self.count, self.sum, self.count
        );
    }
}

struct Inner {
    webhooks: BTreeMap<(&'static str, &'static str), u64>,
    ack: Histogram,
    sends: BTreeMap<(&'static str, String), u64>,
    statuses: BTreeMap<String, u64>,
    turns: Histogram,
}

pub struct Metrics(Mutex<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Mutex::new(Inner {
            webhooks: BTreeMap::new(),
            ack: Histogram::new(&ACK_BUCKETS),
            sends: BTreeMap::new(),
            statuses: BTreeMap::new(),
            turns: Histogram::new(&TURN_BUCKETS),
        }))
    }
}

impl Metrics {
    /// A webhook request (`kind`: inbound or status) and how it ended, with the time to answer.
    pub fn webhook(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        let mut m = self.0.lock().unwrap();
        *m.webhooks.entry((kind, outcome)).or_default() += 1;
        if kind == "inbound" {
            m.ack.observe(took.as_secs_f64());
        }
    }

    /// A call to Twilio's Messages API: `sent`, `retry` or `failed`, with Twilio's error code.
    pub fn send(&self, outcome: &'static str, code: Option<i64>) {
        let code = code.map(|c| c.to_string()).unwrap_or_default();
        *self.0.lock().unwrap().sends.entry((outcome, code)).or_default() += 1;
    }

    pub fn status_callback(&self, status: &str) {
        // Twilio's statuses are a short known list; anything else is counted as "other".
        let status = if crate::webhook::status_rank(status) > 0 { status } else { "other" };
        *self.0.lock().unwrap().statuses.entry(status.to_string()).or_default() += 1;
    }

    pub fn turn(&self, took: Duration) {
        self.0.lock().unwrap().turns.observe(took.as_secs_f64());
    }

    fn render(&self, out: &mut String) {
        let m = self.0.lock().unwrap();
        let _ = writeln!(
            out,
            "# HELP switchboard_webhook_requests_total Webhook requests from Twilio, by kind and outcome.\n\
             # TYPE switchboard_webhook_requests_total counter"
        );
        for ((kind, outcome), n) in &m.webhooks {
            let _ = writeln!(out, "switchboard_webhook_requests_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}");
        }
        m.ack.render(
            out,
            "switchboard_webhook_ack_seconds",
            "Time from an inbound webhook's arrival to Switchboard's answer.",
        );
        let _ = writeln!(
            out,
            "# HELP switchboard_sends_total Calls to Twilio's Messages API, by outcome and Twilio error code.\n\
             # TYPE switchboard_sends_total counter"
        );
        for ((outcome, code), n) in &m.sends {
            let _ = writeln!(out, "switchboard_sends_total{{outcome=\"{outcome}\",code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP switchboard_status_callbacks_total Delivery status callbacks received, by status.\n\
             # TYPE switchboard_status_callbacks_total counter"
        );
        for (status, n) in &m.statuses {
            let _ = writeln!(out, "switchboard_status_callbacks_total{{status=\"{status}\"}} {n}");
        }
        m.turns.render(out, "switchboard_turn_seconds", "Time an agent's brain took for a turn.");
    }
}

/// `GET /metrics`.
/// `/metrics`, for the operator's scraper: with `SWITCHBOARD_METRICS_TOKEN` set, only with
/// `Authorization: Bearer <token>`; without it, only from this machine (loopback).
pub async fn handler(
    State(state): State<AppState>,
    client: Option<axum::Extension<app::api::ssr::ClientAddr>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let allowed = match &state.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| crate::crypto::constant_time_eq(given.as_bytes(), token.expose().as_bytes())),
        None => client.is_some_and(|c| c.0 .0.is_loopback()),
    };
    if !allowed {
        return (axum::http::StatusCode::FORBIDDEN, "metrics are for the operator: set SWITCHBOARD_METRICS_TOKEN")
            .into_response();
    }
    let mut out = String::new();
    state.metrics.render(&mut out);
    if let Err(e) = from_database(&state, &mut out).await {
        tracing::warn!(error = %e, "metrics: cannot read the queues");
        let _ = writeln!(out, "# the database did not answer: queue and connector gauges omitted");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

async fn from_database(state: &AppState, out: &mut String) -> sqlx::Result<()> {
    let now = now_ms();
    let _ = writeln!(
        out,
        "# HELP switchboard_queue_depth Jobs waiting, by queue.\n# TYPE switchboard_queue_depth gauge\n\
         # HELP switchboard_queue_oldest_seconds Age of the oldest waiting job, by queue.\n\
         # TYPE switchboard_queue_oldest_seconds gauge"
    );
    for (queue, sql) in [
        ("turns", "SELECT COUNT(*), MIN(updated_at) FROM turns WHERE state = 'pending'"),
        ("sends", "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'"),
        ("media", "SELECT COUNT(*), MIN(created_at) FROM media WHERE state = 'pending'"),
    ] {
        let (depth, oldest): (i64, Option<i64>) = sqlx::query_as(sql).fetch_one(&state.db.pool).await?;
        let age = oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
        let _ = writeln!(out, "switchboard_queue_depth{{queue=\"{queue}\"}} {depth}");
        let _ = writeln!(out, "switchboard_queue_oldest_seconds{{queue=\"{queue}\"}} {age}");
    }
    let health: Vec<(String, i64)> =
        sqlx::query_as("SELECT health, COUNT(*) FROM connectors GROUP BY health").fetch_all(&state.db.pool).await?;
    let _ = writeln!(out, "# HELP switchboard_connectors Connectors by health.\n# TYPE switchboard_connectors gauge");
    for kind in ["connected", "rejected", "unreachable", "checking"] {
        let n = health.iter().find(|(h, _)| h == kind).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "switchboard_connectors{{health=\"{kind}\"}} {n}");
    }
    Ok(())
}
