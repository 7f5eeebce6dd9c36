//! Backoffice sessions stored in Switchboard's own database, so they survive a restart and
//! are shared by every instance. A row is found by the SHA-256 of the session id and its data
//! does not hold the id: whoever reads the table (a backup, a leaked dump) holds no cookie.

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, SessionStore},
};

use crate::db::Db;

#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Removes expired sessions; run now and then.
    pub async fn delete_expired(&self) -> sqlx::Result<u64> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(sqlx::query("DELETE FROM sessions WHERE expiry < $1")
            .bind(now)
            .execute(&self.db.pool)
            .await?
            .rows_affected())
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The key a session is stored under: the hex SHA-256 of its id.
fn key(id: &Id) -> String {
    crate::crypto::digest(&id.to_string())
}

/// The record's data and expiry, without its id.
fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    let stored = Record { id: Id(0), data: record.data.clone(), expiry_date: record.expiry_date };
    serde_json::to_vec(&stored).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let inserted =
                sqlx::query("INSERT INTO sessions (id, data, expiry) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                    .bind(key(&record.id))
                    .bind(encode(record)?)
                    .bind(record.expiry_date.unix_timestamp())
                    .execute(&self.db.pool)
                    .await
                    .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, data, expiry) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry = excluded.expiry",
        )
        .bind(key(&record.id))
        .bind(encode(record)?)
        .bind(record.expiry_date.unix_timestamp())
        .execute(&self.db.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT data FROM sessions WHERE id = $1 AND expiry > $2")
            .bind(key(id))
            .bind(now)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(backend)?;
        row.map(|(data,)| {
            serde_json::from_slice::<Record>(&data)
                .map(|record| Record { id: *id, ..record })
                .map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(key(id))
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// The signed-in user of a backoffice request (the session cookie), if any.
pub async fn signed_in(state: &crate::state::AppState, session: &tower_sessions::Session) -> Option<app::accounts::Me> {
    let user_id: String = session.get(app::accounts::session::USER_KEY).await.ok().flatten()?;
    super::user(&state.db, &user_id).await.ok().flatten()
}
