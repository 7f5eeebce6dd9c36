//! `GET /events`: the live stream of a signed-in user's conversations, as server-sent events.

use std::{collections::BTreeSet, convert::Infallible, sync::Arc, time::Duration};

use app::accounts::Me;
use axum::{
    extract::State,
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use tower_sessions::Session;

use tokio::sync::broadcast;

use super::{Open, GATHER};
use crate::state::AppState;

/// How often a live stream checks that its session is still signed in (a logout, an expired
/// session or a removed user ends the stream within this long).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// Whether the stream's session is still in the store and its user still exists.
async fn still_signed_in(state: &AppState, session: Option<tower_sessions::session::Id>, me: &Me) -> bool {
    use tower_sessions::SessionStore;
    let Some(id) = session else { return false };
    let store = crate::accounts::sessions::DbSessionStore::new(state.db.clone());
    matches!(store.load(&id).await, Ok(Some(_)))
        && matches!(crate::accounts::user(&state.db, &me.user_id).await, Ok(Some(_)))
}

/// `GET /events`: `event: changed` with the ids of the conversations that changed, as JSON.
/// After a gap (the listener fell behind), `event: reload`.
pub async fn stream(State(state): State<AppState>, session: Session) -> Response {
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(open) = Open::new(&state.events, &me.user_id) else {
        return (StatusCode::TOO_MANY_REQUESTS, "too many live pages open; close some tabs").into_response();
    };
    let session_id = session.id();
    let rx = state.events.subscribe();
    let recheck = tokio::time::Instant::now() + SESSION_RECHECK;
    let stream = futures_util::stream::unfold(
        (rx, state, me, open, recheck),
        move |(mut rx, state, me, open, mut recheck)| async move {
            loop {
                let mut changed = BTreeSet::new();
                let mut reload = false;
                let received = tokio::select! {
                    received = rx.recv() => received,
                    () = tokio::time::sleep_until(recheck) => {
                        if !still_signed_in(&state, session_id, &me).await {
                            return None;
                        }
                        recheck = tokio::time::Instant::now() + SESSION_RECHECK;
                        continue;
                    }
                };
                match received {
                    Ok(id) => {
                        changed.insert(id);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => reload = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
                let until = tokio::time::Instant::now() + GATHER;
                loop {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Ok(id)) => {
                            changed.insert(id);
                        }
                        Ok(Err(broadcast::error::RecvError::Lagged(_))) => reload = true,
                        Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                        Err(_) => break,
                    }
                }
                let event = if reload {
                    Some(Event::default().event("reload").data("{}"))
                } else {
                    match visible(&state, &me, &changed).await {
                        Ok(ids) if ids.is_empty() => None,
                        Ok(ids) => Some(
                            Event::default().event("changed").data(serde_json::to_string(&ids).unwrap_or_default()),
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot filter live updates");
                            None
                        }
                    }
                };
                if let Some(event) = event {
                    return Some((Ok::<_, Infallible>(event), (rx, state, me, open, recheck)));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The conversations among `ids` that `me` may see: their organization's, and for an agent
/// owner, only their agents'.
async fn visible(state: &AppState, me: &Me, ids: &BTreeSet<Arc<str>>) -> sqlx::Result<Vec<String>> {
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT cv.id FROM conversations cv JOIN numbers n ON n.id = cv.number_id JOIN connectors c ON c.id = n.connector_id \
         LEFT JOIN agents a ON a.id = cv.agent_id \
         WHERE c.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3) AND cv.id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(&me.org_id).bind(me.role.as_str()).bind(&me.user_id);
    for id in ids {
        query = query.bind(id.to_string());
    }
    Ok(query.fetch_all(&state.db.pool).await?.into_iter().map(|r| r.0).collect())
}
