//! `/metrics` in Prometheus' text format: webhook requests by outcome and their acknowledgement
//! latency, sends by outcome and Twilio error code, status callbacks, agent turn latency (kept
//! in this process since it started), and — read from the database at each scrape — queue depth
//! and the age of the oldest job, and connector health.

use std::{collections::BTreeMap, fmt::Write, sync::Mutex, time::Duration};

pub mod http;

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
        let status = if crate::twilio::status::status_rank(status) > 0 { status } else { "other" };
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
