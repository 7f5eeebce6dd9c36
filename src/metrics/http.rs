//! `GET /metrics`: this process's counters, and gauges read from the database at each scrape.

use std::fmt::Write;

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{now_ms, state::AppState};

/// `GET /metrics`.
/// `/metrics`, for the operator's scraper: with `SWITCHBOARD_METRICS_TOKEN` set, only with
/// `Authorization: Bearer <token>`; without it, only from this machine (loopback).
pub async fn handler(
    State(state): State<AppState>,
    client: Option<axum::Extension<app::accounts::session::ClientAddr>>,
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
