//! Live updates for the backoffice: every change to a conversation (a message stored, queued,
//! sent, its delivery status, the conversation ended or taken over) is announced in-process;
//! `GET /events` streams them to signed-in users as server-sent events, only for conversations
//! they may see, at most a few times a second.

use std::{collections::BTreeSet, convert::Infallible, sync::Arc, time::Duration};

use app::model::Me;
use axum::{
    extract::State,
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use tokio::sync::{broadcast, mpsc};
use tower_sessions::Session;

use crate::state::AppState;

/// How long changes are gathered before one event goes out.
const GATHER: Duration = Duration::from_millis(250);

/// The PostgreSQL channel that carries changes to the other instances.
pub const EVENTS_CHANNEL: &str = "switchboard_events";

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<str>>,
    /// Live streams open, per user.
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// With several instances (PostgreSQL), changes also go to the relay, which tells the others.
    relay: Option<mpsc::UnboundedSender<Arc<str>>>,
    /// This instance, so it can ignore its own relayed changes.
    instance: Arc<str>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Events {
    pub fn new(relay: Option<mpsc::UnboundedSender<Arc<str>>>) -> Self {
        Self { tx: broadcast::channel(4096).0, open: Default::default(), relay, instance: crate::new_id().into() }
    }

    /// Announces that a conversation changed. Costs little when no one listens.
    pub fn changed(&self, conversation_id: &str) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(conversation_id.into());
        }
        if let Some(relay) = &self.relay {
            let _ = relay.send(conversation_id.into());
        }
    }

    /// Changes another instance relayed (`instance|id,id,…`).
    pub fn from_other_instance(&self, payload: &str) {
        let Some((instance, ids)) = payload.split_once('|') else { return };
        if instance == &*self.instance || self.tx.receiver_count() == 0 {
            return;
        }
        for id in ids.split(',').filter(|id| !id.is_empty()) {
            let _ = self.tx.send(id.into());
        }
    }

    /// Tells the other instances, a few times a second, which conversations changed here.
    pub async fn relay(self, state: AppState, mut changes: mpsc::UnboundedReceiver<Arc<str>>) {
        while let Some(first) = changes.recv().await {
            tokio::time::sleep(GATHER).await;
            let mut ids = BTreeSet::from([first]);
            while let Ok(id) = changes.try_recv() {
                ids.insert(id);
            }
            // A notification's payload stays under PostgreSQL's 8,000 bytes.
            let ids: Vec<Arc<str>> = ids.into_iter().collect();
            for chunk in ids.chunks(200) {
                let payload = format!("{}|{}", self.instance, chunk.join(","));
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(EVENTS_CHANNEL)
                    .bind(payload)
                    .execute(&state.db.pool)
                    .await
                {
                    tracing::warn!(error = %e, "cannot relay live updates to the other instances");
                }
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }
}

/// Live streams one user may hold open at once (tabs); one more is refused with 429.
pub const STREAMS_PER_USER: usize = 8;

/// How often a live stream checks that its session is still signed in (a logout, an expired
/// session or a removed user ends the stream within this long).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// One open stream of a user, counted while it lives.
struct Open {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    user_id: String,
}

impl Open {
    fn new(events: &Events, user_id: &str) -> Option<Self> {
        let mut counts = events.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(user_id.to_string()).or_default();
        if *count >= STREAMS_PER_USER {
            return None;
        }
        *count += 1;
        Some(Self { counts: events.open.clone(), user_id: user_id.to_string() })
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user_id);
            }
        }
    }
}

/// Whether the stream's session is still in the store and its user still exists.
async fn still_signed_in(state: &AppState, session: Option<tower_sessions::session::Id>, me: &Me) -> bool {
    use tower_sessions::SessionStore;
    let Some(id) = session else { return false };
    let store = crate::sessions::DbSessionStore::new(state.db.clone());
    matches!(store.load(&id).await, Ok(Some(_)))
        && matches!(crate::accounts::user(&state.db, &me.user_id).await, Ok(Some(_)))
}

/// `GET /events`: `event: changed` with the ids of the conversations that changed, as JSON.
/// After a gap (the listener fell behind), `event: reload`.
pub async fn stream(State(state): State<AppState>, session: Session) -> Response {
    let Some(me) = crate::sessions::signed_in(&state, &session).await else {
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
