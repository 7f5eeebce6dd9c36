//! What the webhook looks up on every request (the connector a key names, with its Auth Token
//! opened; the number Twilio addressed), cached for a few seconds and bounded in size.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::{
    crypto::{Secret, SecretBox},
    db::Db,
};

/// How long a cached connector or number may be used before it is read again. Edits made
/// through this process clear the cache at once; other instances see them after this long.
const CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a lookup may wait for the database. A webhook must be answered within Twilio's
/// 15 s: two lookups and the store's own limit ([`super::batch::STORE_TIMEOUT`], 8 s) fit in
/// 12 s. A database that is away (a stopped server makes the pool wait for a connection) gets a
/// 503 in time instead of a request Twilio gives up on.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The query, or a timeout error once [`LOOKUP_TIMEOUT`] has passed.
async fn in_time<T>(query: impl std::future::Future<Output = sqlx::Result<T>>) -> sqlx::Result<T> {
    tokio::time::timeout(LOOKUP_TIMEOUT, query).await.unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

pub struct HookConnector {
    pub id: String,
    pub account_sid: String,
    pub auth_token: Secret,
    pub receive_inbound: bool,
}

/// A number Twilio addressed: its id, whether it is active, and the channel's inbound route
/// (only messages from this number reach the agent).
#[derive(Debug, Clone)]
pub struct HookNumber {
    pub id: String,
    pub active: bool,
    pub inbound_from: Option<String>,
}

type NumberEntry = Option<HookNumber>;

/// How many lookups of each kind are kept at most. Keys and numbers come from requests, so
/// the cache must not grow with whatever an outsider sends: when it is full it starts again
/// empty (a cost of one database read per key in use, every ten thousand new keys).
const CACHE_ENTRIES: usize = 10_000;

/// Lookups kept for [`CACHE_TTL`], at most [`CACHE_ENTRIES`] of them.
pub struct Cached<K, V>(RwLock<HashMap<K, (Instant, V)>>);

impl<K, V> Default for Cached<K, V> {
    fn default() -> Self {
        Self(RwLock::default())
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Cached<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|(at, _)| at.elapsed() < CACHE_TTL).map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHE_ENTRIES && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    fn clear(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Default)]
pub struct HookCache {
    pub connectors: Cached<String, Option<Arc<HookConnector>>>,
    pub numbers: Cached<(String, String), NumberEntry>,
}

impl HookCache {
    pub fn clear(&self) {
        self.connectors.clear();
        self.numbers.clear();
    }

    /// The connector a webhook key names, with its Auth Token opened.
    pub async fn connector(
        &self,
        db: &Db,
        secrets: &SecretBox,
        key: &str,
    ) -> anyhow::Result<Option<Arc<HookConnector>>> {
        if let Some(hit) = self.connectors.get(key) {
            return Ok(hit);
        }
        let row: Option<(String, String, Vec<u8>, i64)> = in_time(
            sqlx::query_as(
                "SELECT id, account_sid, auth_token_enc, receive_inbound FROM connectors WHERE webhook_key = $1",
            )
            .bind(key)
            .fetch_optional(&db.pool),
        )
        .await?;
        let found = match row {
            Some((id, account_sid, sealed, receive_inbound)) => Some(Arc::new(HookConnector {
                auth_token: secrets.open(&sealed, &id)?,
                id,
                account_sid,
                receive_inbound: receive_inbound != 0,
            })),
            None => None,
        };
        self.connectors.put(key.to_string(), found.clone());
        Ok(found)
    }

    /// The connector's number Twilio addressed (`To`), whether it is active, and its route.
    pub async fn number(&self, db: &Db, connector_id: &str, address: &str) -> sqlx::Result<NumberEntry> {
        let key = (connector_id.to_string(), address.to_string());
        if let Some(hit) = self.numbers.get(&key) {
            return Ok(hit);
        }
        let row: Option<(String, i64, Option<String>)> = in_time(
            sqlx::query_as(
                "SELECT n.id, n.active, ch.inbound_from FROM numbers n LEFT JOIN channels ch ON ch.number_id = n.id \
                 WHERE n.connector_id = $1 AND n.address = $2",
            )
            .bind(connector_id)
            .bind(address)
            .fetch_optional(&db.pool),
        )
        .await?;
        let found = row.map(|(id, active, inbound_from)| HookNumber { id, active: active != 0, inbound_from });
        self.numbers.put(key, found.clone());
        Ok(found)
    }
}
