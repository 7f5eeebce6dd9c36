//! Storing inbound messages, batched: webhook requests that arrive together are written in one
//! transaction (group commit), each answered once its batch is durable. Lookups the webhook
//! makes on every request are cached for a few seconds.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};

use crate::{crypto::Secret, new_id, now_ms, state::AppState};

/// How long a cached connector or number may be used before it is read again. Edits made
/// through this process clear the cache at once; other instances see them after this long.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// The most messages one transaction takes.
const MAX_BATCH: usize = 256;

pub struct HookConnector {
    pub id: String,
    pub account_sid: String,
    pub auth_token: Secret,
    pub receive_inbound: bool,
}

type NumberEntry = Option<(String, bool)>;

#[derive(Default)]
pub struct HookCache {
    connectors: RwLock<HashMap<String, (Instant, Option<Arc<HookConnector>>)>>,
    numbers: RwLock<HashMap<(String, String), (Instant, NumberEntry)>>,
}

impl HookCache {
    pub fn clear(&self) {
        self.connectors.write().unwrap().clear();
        self.numbers.write().unwrap().clear();
    }

    /// The connector a webhook key names, with its Auth Token opened.
    pub async fn connector(&self, state: &AppState, key: &str) -> anyhow::Result<Option<Arc<HookConnector>>> {
        if let Some((at, hit)) = self.connectors.read().unwrap().get(key) {
            if at.elapsed() < CACHE_TTL {
                return Ok(hit.clone());
            }
        }
        let row: Option<(String, String, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT id, account_sid, auth_token_enc, receive_inbound FROM connectors WHERE webhook_key = $1",
        )
        .bind(key)
        .fetch_optional(&state.db.pool)
        .await?;
        let found = match row {
            Some((id, account_sid, sealed, receive_inbound)) => Some(Arc::new(HookConnector {
                auth_token: state.secrets.open(&sealed, &id)?,
                id,
                account_sid,
                receive_inbound: receive_inbound != 0,
            })),
            None => None,
        };
        self.connectors.write().unwrap().insert(key.to_string(), (Instant::now(), found.clone()));
        Ok(found)
    }

    /// The connector's number Twilio addressed (`To`), and whether it is active.
    pub async fn number(&self, state: &AppState, connector_id: &str, address: &str) -> sqlx::Result<NumberEntry> {
        let key = (connector_id.to_string(), address.to_string());
        if let Some((at, hit)) = self.numbers.read().unwrap().get(&key) {
            if at.elapsed() < CACHE_TTL {
                return Ok(hit.clone());
            }
        }
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT id, active FROM numbers WHERE connector_id = $1 AND address = $2")
                .bind(connector_id)
                .bind(address)
                .fetch_optional(&state.db.pool)
                .await?;
        let found = row.map(|(id, active)| (id, active != 0));
        self.numbers.write().unwrap().insert(key, (Instant::now(), found.clone()));
        Ok(found)
    }
}

/// One inbound message to store.
pub struct Inbound {
    pub connector_id: String,
    pub number_id: String,
    /// Whether the message goes to an agent (the connector receives inbound data and the
    /// number is active).
    pub turn: bool,
    pub message_sid: String,
    pub from: String,
    pub profile_name: Option<String>,
    pub body: String,
    /// Every parameter Twilio sent, as JSON.
    pub params: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New { turn: bool },
    Duplicate,
}

pub type IngestJob = (Inbound, oneshot::Sender<Result<Stored, String>>);

/// The webhook's side of the batcher.
#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<IngestJob>,
}

pub fn queue() -> (IngestQueue, mpsc::Receiver<IngestJob>) {
    let (tx, rx) = mpsc::channel(4096);
    (IngestQueue { tx }, rx)
}

impl IngestQueue {
    /// Stores the message; returns once it is durable (or failed).
    pub async fn store(&self, inbound: Inbound) -> Result<Stored, String> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((inbound, reply)).await.map_err(|_| "the ingest task has stopped".to_string())?;
        answer.await.map_err(|_| "the ingest task has stopped".to_string())?
    }
}

/// The batcher: takes what is waiting (up to [`MAX_BATCH`]), writes it in one transaction, answers.
pub async fn run(state: AppState, mut rx: mpsc::Receiver<IngestJob>) {
    let mut batch: Vec<IngestJob> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let items: Vec<&Inbound> = batch.iter().map(|(i, _)| i).collect();
        let outcomes = match store_batch(&state, &items).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) if batch.len() > 1 => {
                // One bad message must not fail the others: store each on its own.
                tracing::warn!(error = %e, size = batch.len(), "batch failed; storing its messages one by one");
                let mut outcomes = Vec::with_capacity(batch.len());
                for item in &items {
                    outcomes.push(store_one(&state, item).await);
                }
                outcomes
            }
            Err(_) => vec![store_one(&state, items[0]).await],
        };
        if outcomes.iter().any(|o| matches!(o, Ok(Stored::New { turn: true }))) {
            state.wake_turns().await;
        }
        for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

/// Stores one message, trying again a few times: a transient error (a deadlock victim, a busy
/// database) should not cost Twilio's request.
async fn store_one(state: &AppState, item: &Inbound) -> Result<Stored, String> {
    let mut last = String::new();
    for attempt in 0..3u64 {
        match store_batch(state, &[item]).await {
            Ok(mut outcomes) => return Ok(outcomes.remove(0)),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "storing an inbound message failed");
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
            }
        }
    }
    Err(last)
}

/// Stores the messages and marks their conversations' turns pending, in one transaction; a
/// MessageSid already stored changes nothing.
async fn store_batch(state: &AppState, items: &[&Inbound]) -> sqlx::Result<Vec<Stored>> {
    let now = now_ms();
    let mut tx = state.db.begin_write_urgent().await?;
    let mut outcomes = Vec::with_capacity(items.len());
    for m in items {
        let (conversation_id,): (String,) = sqlx::query_as(
            "INSERT INTO conversations (id, number_id, guest_address, guest_name, agent_id, last_inbound_at, created_at) \
             VALUES ($1, $2, $3, $4, (SELECT agent_id FROM channels WHERE number_id = $2), $5, $5) \
             ON CONFLICT (number_id, guest_address) DO UPDATE SET \
               guest_name = COALESCE(excluded.guest_name, conversations.guest_name), \
               agent_id = excluded.agent_id, last_inbound_at = excluded.last_inbound_at \
             RETURNING id",
        )
        .bind(new_id())
        .bind(&m.number_id)
        .bind(&m.from)
        .bind(&m.profile_name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO messages (id, conversation_id, connector_id, direction, body, twilio_sid, status, params, answered, \
             created_at) VALUES ($1, $2, $3, 'inbound', $4, $5, 'received', $6, $7, $8) \
             ON CONFLICT (connector_id, twilio_sid) DO NOTHING",
        )
        .bind(new_id())
        .bind(&conversation_id)
        .bind(&m.connector_id)
        .bind(&m.body)
        .bind(&m.message_sid)
        .bind(&m.params)
        .bind(i64::from(!m.turn))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            outcomes.push(Stored::Duplicate);
            continue;
        }
        if m.turn {
            // The conversation owes the guest a turn. A turn under way sees the new generation
            // and leaves the row pending, so this message is answered by the next turn.
            sqlx::query(
                "INSERT INTO turns (conversation_id, state, generation, run_at, updated_at) VALUES ($1, 'pending', 1, $2, $2) \
                 ON CONFLICT (conversation_id) DO UPDATE SET state = 'pending', generation = turns.generation + 1, \
                 run_at = CASE WHEN turns.state = 'idle' THEN excluded.run_at ELSE turns.run_at END, \
                 updated_at = excluded.updated_at",
            )
            .bind(&conversation_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        outcomes.push(Stored::New { turn: m.turn });
    }
    tx.commit().await?;
    Ok(outcomes)
}
