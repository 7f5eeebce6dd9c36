//! The dashboard's rows: an organization's messages counted per day, its guests' messages with
//! the first reply after each, its delivery failures by error code, the webhook requests refused
//! (and their counting, [`add_rejections`]), and its connectors' health.

use sqlx::{AnyConnection, AnyPool};

/// Messages of one day (days since the epoch, UTC) and direction.
#[derive(sqlx::FromRow)]
pub(super) struct DayRow {
    pub(super) day: i64,
    pub(super) direction: String,
    pub(super) count: i64,
}

pub(super) async fn per_day(pool: &AnyPool, org_id: &str, since: i64) -> sqlx::Result<Vec<DayRow>> {
    sqlx::query_as(
        "SELECT m.created_at / 86400000 AS day, m.direction, COUNT(*) AS count FROM messages m \
         JOIN connectors c ON c.id = m.connector_id WHERE c.org_id = $1 AND m.created_at >= $2 \
         GROUP BY m.created_at / 86400000, m.direction",
    )
    .bind(org_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// A guest's message and when the agent's first reply after it was queued, if one was.
#[derive(sqlx::FromRow)]
pub(super) struct WaitRow {
    pub(super) asked_at: i64,
    pub(super) replied_at: Option<i64>,
}

/// The latest guest messages (at most 20,000) since `since`, each with its first reply.
pub(super) async fn waits(pool: &AnyPool, org_id: &str, since: i64) -> sqlx::Result<Vec<WaitRow>> {
    sqlx::query_as(
        "SELECT m.created_at AS asked_at, (SELECT MIN(o.created_at) FROM messages o \
           WHERE o.conversation_id = m.conversation_id AND o.direction = 'outbound' AND o.origin IS NULL \
           AND o.created_at >= m.created_at) AS replied_at \
         FROM messages m JOIN connectors c ON c.id = m.connector_id \
         WHERE c.org_id = $1 AND m.direction = 'inbound' AND m.origin IS NULL AND m.created_at >= $2 \
         ORDER BY m.created_at DESC LIMIT 20000",
    )
    .bind(org_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Replies that failed or went undelivered, by Twilio's error code.
#[derive(sqlx::FromRow)]
pub(super) struct FailureRow {
    pub(super) error_code: Option<i64>,
    pub(super) count: i64,
}

pub(super) async fn failures(pool: &AnyPool, org_id: &str, since: i64) -> sqlx::Result<Vec<FailureRow>> {
    sqlx::query_as(
        "SELECT m.error_code, COUNT(*) AS count FROM messages m JOIN connectors c ON c.id = m.connector_id \
         WHERE c.org_id = $1 AND m.direction = 'outbound' AND m.status IN ('failed', 'undelivered') \
         AND m.created_at >= $2 GROUP BY m.error_code ORDER BY COUNT(*) DESC",
    )
    .bind(org_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Webhook requests refused for one reason.
#[derive(sqlx::FromRow)]
pub(super) struct RejectionRow {
    pub(super) reason: String,
    pub(super) count: i64,
}

/// Requests refused since `first_day` (`YYYY-MM-DD`), by reason, most first.
pub(super) async fn rejections(pool: &AnyPool, org_id: &str, first_day: &str) -> sqlx::Result<Vec<RejectionRow>> {
    sqlx::query_as(
        "SELECT reason, CAST(SUM(count) AS BIGINT) AS count FROM webhook_rejections WHERE org_id = $1 AND day >= $2 \
         GROUP BY reason ORDER BY SUM(count) DESC",
    )
    .bind(org_id)
    .bind(first_day)
    .fetch_all(pool)
    .await
}

/// Adds `count` refusals for the connector's organization to the day's row.
pub(super) async fn add_rejections(
    tx: &mut AnyConnection,
    connector_id: &str,
    day: &str,
    reason: &str,
    count: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_rejections (org_id, day, reason, count) \
         SELECT org_id, $1, $2, $3 FROM connectors WHERE id = $4 \
         ON CONFLICT (org_id, day, reason) DO UPDATE SET count = webhook_rejections.count + excluded.count",
    )
    .bind(day)
    .bind(reason)
    .bind(count)
    .bind(connector_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// A connector's name, state and last health check.
#[derive(sqlx::FromRow)]
pub(super) struct HealthRow {
    pub(super) name: String,
    pub(super) state: String,
    pub(super) health: String,
}

pub(super) async fn health(pool: &AnyPool, org_id: &str) -> sqlx::Result<Vec<HealthRow>> {
    sqlx::query_as("SELECT name, state, health FROM connectors WHERE org_id = $1 ORDER BY name")
        .bind(org_id)
        .fetch_all(pool)
        .await
}
