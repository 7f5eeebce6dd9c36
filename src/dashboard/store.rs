//! The dashboard's rows: an organization's messages counted per day, its guests' messages with
//! the first reply after each, its delivery failures by error code, the counts kept for days that
//! are over, the webhook requests refused (and their counting, [`add_rejections`]), and its
//! connectors' health.

use sqlx::{AnyConnection, AnyPool};

/// One count of one day (days since the epoch, UTC): `kind` is `inbound` or `outbound` (messages
/// created that day), `wait` (guests' messages of that day answered, `item` the wait's bucket,
/// [`super::bucket`]), `failure` (replies of that day failed or undelivered, `item` Twilio's error
/// code, 0 for none), or `sealed` (the day is counted in `dashboard_counts`, migration 0022).
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub(super) struct Count {
    pub(super) day: i64,
    pub(super) kind: String,
    pub(super) item: i64,
    pub(super) count: i64,
}

/// The organization's messages created in `[$2, $3)`, read through its conversations active since
/// `$2` (along their index on state and last activity) and each one's messages in the range (along
/// theirs on conversation and time), so a count reads the range's messages, not every message.
/// `CROSS JOIN` keeps the conversations SQLite's outer loop.
const RANGE: &str = "FROM conversations cv CROSS JOIN numbers n CROSS JOIN connectors c CROSS JOIN messages m \
                     WHERE cv.state IN ('live', 'ended') AND cv.last_activity_at >= $2 \
                     AND n.id = cv.number_id AND c.id = n.connector_id AND c.org_id = $1 \
                     AND m.conversation_id = cv.id AND m.created_at >= $2 AND m.created_at < $3";

/// Messages of one day and direction; `failure` is the error code (0 for none) of failed or
/// undelivered replies, -1 for every other message.
#[derive(sqlx::FromRow)]
struct CountRow {
    day: i64,
    direction: String,
    failure: i64,
    count: i64,
}

/// Messages per day and direction, and failed replies per day and error code, in `[from, to)`: one
/// read of the range.
pub(super) async fn counts(pool: &AnyPool, org_id: &str, from: i64, to: i64) -> sqlx::Result<Vec<Count>> {
    let rows: Vec<CountRow> = sqlx::query_as(&format!(
        "SELECT m.created_at / 86400000 AS day, m.direction AS direction, \
         CASE WHEN m.direction = 'outbound' AND m.status IN ('failed', 'undelivered') \
         THEN COALESCE(m.error_code, 0) ELSE -1 END AS failure, COUNT(*) AS count \
         {RANGE} GROUP BY m.created_at / 86400000, m.direction, \
         CASE WHEN m.direction = 'outbound' AND m.status IN ('failed', 'undelivered') \
         THEN COALESCE(m.error_code, 0) ELSE -1 END"
    ))
    .bind(org_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut counts = std::collections::BTreeMap::<(i64, String, i64), i64>::new();
    for r in rows {
        *counts.entry((r.day, r.direction, 0)).or_default() += r.count;
        if r.failure >= 0 {
            *counts.entry((r.day, "failure".into(), r.failure)).or_default() += r.count;
        }
    }
    Ok(counts.into_iter().map(|((day, kind, item), count)| Count { day, kind, item, count }).collect())
}

/// A guest's message and when the agent's first reply after it was queued, if one was.
#[derive(sqlx::FromRow)]
pub(super) struct WaitRow {
    pub(super) asked_at: i64,
    pub(super) replied_at: Option<i64>,
}

/// The guests' messages created in `[from, to)`, each with its first reply (at any time after).
pub(super) async fn waits(pool: &AnyPool, org_id: &str, from: i64, to: i64) -> sqlx::Result<Vec<WaitRow>> {
    sqlx::query_as(&format!(
        "SELECT m.created_at AS asked_at, (SELECT MIN(o.created_at) FROM messages o \
           WHERE o.conversation_id = m.conversation_id AND o.direction = 'outbound' AND o.origin IS NULL \
           AND o.created_at >= m.created_at) AS replied_at \
         {RANGE} AND m.direction = 'inbound' AND m.origin IS NULL"
    ))
    .bind(org_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The counts kept for the organization's days in `[first, end)` (days since the epoch).
pub(super) async fn kept(pool: &AnyPool, org_id: &str, first: i64, end: i64) -> sqlx::Result<Vec<Count>> {
    sqlx::query_as("SELECT day, kind, item, count FROM dashboard_counts WHERE org_id = $1 AND day >= $2 AND day < $3")
        .bind(org_id)
        .bind(first)
        .bind(end)
        .fetch_all(pool)
        .await
}

/// Keeps a day's counts, and that the day is counted; a day kept already (by another view at the
/// same moment) is left as it is.
pub(super) async fn keep(tx: &mut AnyConnection, org_id: &str, day: i64, counts: &[Count]) -> sqlx::Result<bool> {
    let sealed = sqlx::query(
        "INSERT INTO dashboard_counts (org_id, day, kind, item, count) VALUES ($1, $2, 'sealed', 0, 0) \
         ON CONFLICT (org_id, day, kind, item) DO NOTHING",
    )
    .bind(org_id)
    .bind(day)
    .execute(&mut *tx)
    .await?;
    if sealed.rows_affected() == 0 {
        return Ok(false);
    }
    for c in counts.iter().filter(|c| c.day == day) {
        sqlx::query("INSERT INTO dashboard_counts (org_id, day, kind, item, count) VALUES ($1, $2, $3, $4, $5)")
            .bind(org_id)
            .bind(day)
            .bind(&c.kind)
            .bind(c.item)
            .bind(c.count)
            .execute(&mut *tx)
            .await?;
    }
    Ok(true)
}

/// The counts the database keeps as messages are written (migration 0024), for the organization's
/// days in `[first, end)`, its connectors' shards added up (a wait moved to an earlier reply leaves
/// a count of 0 behind: left out).
pub(super) async fn live(pool: &AnyPool, org_id: &str, first: i64, end: i64) -> sqlx::Result<Vec<Count>> {
    sqlx::query_as(
        "SELECT l.day AS day, l.kind AS kind, l.item AS item, CAST(SUM(l.count) AS BIGINT) AS count \
         FROM connectors c JOIN dashboard_live l ON l.connector_id = c.id \
         WHERE c.org_id = $1 AND l.day >= $2 AND l.day < $3 GROUP BY l.day, l.kind, l.item HAVING SUM(l.count) <> 0",
    )
    .bind(org_id)
    .bind(first)
    .bind(end)
    .fetch_all(pool)
    .await
}

/// Drops the organization's live counts of days before `end`: those days are kept for good now.
pub(super) async fn prune_live(tx: &mut AnyConnection, org_id: &str, end: i64) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM dashboard_live WHERE day < $2 AND connector_id IN (SELECT id FROM connectors WHERE org_id = $1)",
    )
    .bind(org_id)
    .bind(end)
    .execute(tx)
    .await?;
    Ok(())
}

/// Drops every live count of the days before `day`.
pub(super) async fn prune_before(tx: &mut AnyConnection, day: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM dashboard_live WHERE day < $1").bind(day).execute(tx).await?;
    Ok(())
}

pub(super) async fn clear_live(tx: &mut AnyConnection) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM dashboard_live").execute(tx).await?;
    Ok(())
}

/// Counts the messages created since `since` into the live counts, in and out and failed (by
/// error code), per connector and day, as the triggers do.
pub(super) async fn count_live(tx: &mut AnyConnection, since: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count) \
         SELECT connector_id, created_at / 86400000, direction, 0, '0', COUNT(*) FROM messages \
         WHERE created_at >= $1 GROUP BY connector_id, created_at / 86400000, direction",
    )
    .bind(since)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count) \
         SELECT connector_id, created_at / 86400000, 'failure', COALESCE(error_code, 0), '0', COUNT(*) FROM messages \
         WHERE created_at >= $1 AND direction = 'outbound' AND status IN ('failed', 'undelivered') \
         GROUP BY connector_id, created_at / 86400000, COALESCE(error_code, 0)",
    )
    .bind(since)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A guest's message answered, and when its first reply was queued.
#[derive(sqlx::FromRow)]
pub(super) struct LiveWait {
    pub(super) connector_id: String,
    pub(super) asked_at: i64,
    pub(super) replied_at: i64,
}

/// The guests' messages created since `since` that have a reply, each with its first.
pub(super) async fn live_waits(tx: &mut AnyConnection, since: i64) -> sqlx::Result<Vec<LiveWait>> {
    sqlx::query_as(
        "SELECT connector_id, asked_at, replied_at FROM (SELECT m.connector_id AS connector_id, m.created_at AS asked_at, \
           (SELECT MIN(o.created_at) FROM messages o WHERE o.conversation_id = m.conversation_id \
            AND o.direction = 'outbound' AND o.origin IS NULL AND o.created_at >= m.created_at) AS replied_at \
         FROM messages m WHERE m.created_at >= $1 AND m.direction = 'inbound' AND m.origin IS NULL) w \
         WHERE replied_at IS NOT NULL",
    )
    .bind(since)
    .fetch_all(tx)
    .await
}

/// Whether any message was created before `at`.
pub(super) async fn any_before(tx: &mut AnyConnection, at: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM messages WHERE created_at < $1 LIMIT 1").bind(at).fetch_optional(tx).await?.is_some())
}

pub(super) async fn add_live(
    tx: &mut AnyConnection,
    connector_id: &str,
    day: i64,
    kind: &str,
    item: i64,
    count: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count) VALUES ($1, $2, $3, $4, '0', $5)",
    )
    .bind(connector_id)
    .bind(day)
    .bind(kind)
    .bind(item)
    .bind(count)
    .execute(tx)
    .await?;
    Ok(())
}

/// The first day the live counts hold whole (the last rebuild's first day; every message written
/// since is counted as it is written), or none before the first rebuild.
pub(super) async fn live_from(pool: &AnyPool) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT from_day FROM dashboard_live_state WHERE id = 1").fetch_optional(pool).await?;
    Ok(row.map(|(day,)| day))
}

pub(super) async fn set_rebuilt(tx: &mut AnyConnection, at: i64, from_day: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_live_state (id, rebuilt_at, from_day) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET rebuilt_at = excluded.rebuilt_at, from_day = excluded.from_day",
    )
    .bind(at)
    .bind(from_day)
    .execute(tx)
    .await?;
    Ok(())
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
