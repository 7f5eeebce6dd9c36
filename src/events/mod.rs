//! Live updates for the backoffice: every change to a conversation (a message stored, queued,
//! sent, its delivery status, the conversation ended or taken over) is announced in-process;
//! `GET /events` streams them to signed-in users as server-sent events, only for conversations
//! they may see, at most a few times a second.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio::sync::{broadcast, mpsc};

use crate::db::Db;

pub mod stream;

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
    pub async fn relay(self, db: Db, mut changes: mpsc::UnboundedReceiver<Arc<str>>) {
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
                if let Err(e) =
                    sqlx::query("SELECT pg_notify($1, $2)").bind(EVENTS_CHANNEL).bind(payload).execute(&db.pool).await
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
