//! The audit log's CSV download (`/export/audit.csv`), for the organization's admins.

use app::{accounts::Role, AppError};

use super::{entries, record_now, Action};
use crate::{
    download::{problem, streamed, Format},
    state::AppState,
};

/// Lines of the audit log read and sent at a time by its export.
const EXPORT_CHUNK: i64 = 500;

/// `GET /export/audit.csv`: the organization's whole log, newest first, for its admins, read and
/// sent a chunk at a time ([`crate::download::streamed`]).
pub async fn export(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: tower_sessions::Session,
) -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if me.role != Role::OrgAdmin {
        return problem(AppError::Forbidden.into());
    }
    if let Err(e) = record_now(&state, &me, Action::Exported, "Audit log", "CSV.").await {
        return problem(e);
    }
    streamed(Format::Csv, "audit-log", move |w| async move {
        if !w.send(crate::csv::line(&["at_utc", "actor", "action", "subject", "detail"].map(str::to_string))).await {
            return Ok(());
        }
        let mut older: Option<String> = None;
        loop {
            let rows = entries(&state.db.pool, &me.org_id, older.as_deref(), EXPORT_CHUNK).await?;
            let mut out = String::new();
            for e in &rows {
                out.push_str(&crate::csv::line(&[
                    app::time::utc_minutes(e.at_ms),
                    e.actor.clone(),
                    e.action.clone(),
                    e.subject.clone(),
                    e.detail.clone(),
                ]));
            }
            if !out.is_empty() && !w.send(out).await {
                return Ok(());
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == EXPORT_CHUNK => older = Some(last.id.clone()),
                _ => return Ok(()),
            }
        }
    })
}
