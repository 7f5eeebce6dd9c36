//! The audit log's CSV download (`/export/audit.csv`), for the organization's admins.

use app::{accounts::Role, AppError};

use super::{entries, record_now, Action};
use crate::state::AppState;

/// Lines of the audit log read and sent at a time by its export.
const EXPORT_CHUNK: i64 = 500;

/// `GET /export/audit.csv`: the organization's whole log, newest first, for its admins. Read
/// and sent a chunk at a time, so it takes the same memory however long the log is; a failure
/// midway ends the download with an error instead of a file that looks whole.
pub async fn export(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: tower_sessions::Session,
) -> axum::response::Response {
    use axum::{
        http::{header, StatusCode},
        response::IntoResponse,
    };
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let refused = |e: crate::error::Error| crate::error::ApiError::from(e).into_response();
    if me.role != Role::OrgAdmin {
        return refused(AppError::Forbidden.into());
    }
    if let Err(e) = record_now(&state, &me, Action::Exported, "Audit log", "CSV.").await {
        return refused(e);
    }
    let header_line = crate::csv::line(&["at_utc", "actor", "action", "subject", "detail"].map(str::to_string));
    let start = (state, me.org_id, None::<String>, Some(header_line));
    let chunks = futures_util::stream::unfold(Some(start), |next| async move {
        let (state, org_id, older, header) = next?;
        match entries(&state.db.pool, &org_id, older.as_deref(), EXPORT_CHUNK).await {
            Err(e) => {
                tracing::warn!(error = %e, "audit log export stopped");
                Some((Err(std::io::Error::other("the audit log could not be read")), None))
            }
            Ok(rows) if rows.is_empty() => header.map(|h| (Ok(h), None)),
            Ok(rows) => {
                let mut out = header.unwrap_or_default();
                for e in &rows {
                    out.push_str(&crate::csv::line(&[
                        app::time::utc_minutes(e.at_ms),
                        e.actor.clone(),
                        e.action.clone(),
                        e.subject.clone(),
                        e.detail.clone(),
                    ]));
                }
                let older = rows.last().map(|e| e.id.clone());
                let more = rows.len() as i64 == EXPORT_CHUNK;
                Some((Ok(out), more.then_some((state, org_id, older, None))))
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit-log.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}
