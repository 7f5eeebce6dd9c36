//! The inbox's rows: one conversation with who may see it, messages with their media, execution
//! records, and the conversation's state (takeover, ended). Every query of this feature is here,
//! in [`list`] (conversations listed under a filter, and searched), in [`agent`] (an agent's
//! conversations, proactive messages, the lifecycle's columns) or in [`search`] (the search
//! indexes' queues), each row decoded once into a named struct.

mod agent;
mod list;
mod search;

pub(super) use agent::*;
pub(super) use list::*;
pub(super) use search::*;

use app::{accounts::Me, inbox::MediaView};
use sqlx::{AnyConnection, AnyPool};

const FROM: &str = "FROM conversations cv JOIN numbers n ON n.id = cv.number_id \
                    JOIN connectors c ON c.id = n.connector_id LEFT JOIN agents a ON a.id = cv.agent_id";

/// The organization's active numbers, for the inbox's filter.
pub(super) async fn active_numbers(db: &AnyPool, org_id: &str) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT n.phone_number FROM numbers n JOIN connectors c ON c.id = n.connector_id \
         WHERE c.org_id = $1 AND n.active = 1 ORDER BY n.phone_number",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// The conversation's agent, number and connector, if `me` may see it.
#[derive(sqlx::FromRow)]
pub(super) struct Access {
    pub(super) agent_id: Option<String>,
    pub(super) agent_name: Option<String>,
    pub(super) guest: String,
    pub(super) guest_name: Option<String>,
    pub(super) provider: String,
    pub(super) number: String,
    pub(super) address: String,
    pub(super) connector_id: String,
    pub(super) state: String,
    pub(super) ended_at: Option<i64>,
    /// Who took the conversation over (their email, or `staff` for a deleted user).
    pub(super) paused_by: Option<String>,
    pub(super) last_inbound_at: Option<i64>,
    pub(super) window_closed_at: Option<i64>,
}

pub(super) async fn access(db: &AnyPool, me: &Me, id: &str) -> sqlx::Result<Option<Access>> {
    sqlx::query_as(&format!(
        "SELECT cv.agent_id AS agent_id, a.name AS agent_name, cv.guest_address AS guest, cv.guest_name AS guest_name, \
         n.provider AS provider, n.phone_number AS number, n.address AS address, c.id AS connector_id, \
         cv.state AS state, cv.ended_at AS ended_at, \
         CASE WHEN cv.paused_at IS NOT NULL THEN COALESCE(u.email, 'staff') END AS paused_by, \
         cv.last_inbound_at AS last_inbound_at, cv.window_closed_at AS window_closed_at \
         {FROM} LEFT JOIN users u ON u.id = cv.paused_by \
         WHERE cv.id = $4 AND c.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3)"
    ))
    .bind(&me.org_id)
    .bind(me.role.as_str())
    .bind(&me.user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

pub(super) async fn message_count(db: &AnyPool, conversation_id: &str) -> sqlx::Result<i64> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
        .bind(conversation_id)
        .fetch_one(db)
        .await?;
    Ok(count)
}

/// A message as the inbox shows it (its media apart).
#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    pub(super) conversation_id: String,
    pub(super) id: String,
    pub(super) direction: String,
    pub(super) body: String,
    pub(super) status: String,
    pub(super) error_code: Option<i64>,
    pub(super) error_message: Option<String>,
    pub(super) note: Option<String>,
    pub(super) created_at: i64,
    pub(super) origin: Option<String>,
    pub(super) template_sid: Option<String>,
    pub(super) execution_id: Option<String>,
    pub(super) twilio_sid: Option<String>,
    /// Twilio's webhook parameters of an inbound message, as JSON.
    pub(super) params: Option<String>,
    /// The choices an agent's reply offered, as JSON.
    pub(super) choices: Option<String>,
}

/// Conversations of each of `states` read on their own, `read(state)` ordered along the index on
/// (state, last activity, id) (migration 0021) and limited, and the reads merged in `order` (of
/// the rows' names): one read ordered by activity across the states would sort every conversation
/// it finds. The inbox's list and an agent's REST pages read this way.
fn each_state_merged(states: &[&str], read: impl Fn(&str) -> String, order: &str, limit: usize) -> String {
    let reads: Vec<String> = states.iter().map(|state| format!("SELECT * FROM ({}) AS {state}", read(state))).collect();
    format!("{} ORDER BY {order} LIMIT {limit}", reads.join(" UNION ALL "))
}

/// `$1, $2, …` for `n` values.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The messages of the given conversations (each at most `limit`, the latest), oldest first.
pub(super) async fn messages(
    db: &AnyPool,
    conversation_ids: &[String],
    limit: Option<i64>,
) -> sqlx::Result<Vec<MessageRow>> {
    let limit_clause = limit.map_or(String::new(), |l| {
        format!(
            " AND m.id IN (SELECT l.id FROM messages l WHERE l.conversation_id = m.conversation_id \
             ORDER BY l.created_at DESC, l.id DESC LIMIT {l})"
        )
    });
    let sql = format!(
        "SELECT m.conversation_id AS conversation_id, m.id AS id, m.direction AS direction, m.body AS body, \
         m.status AS status, m.error_code AS error_code, m.error_message AS error_message, m.note AS note, \
         m.created_at AS created_at, m.origin AS origin, m.template_sid AS template_sid, \
         m.execution_id AS execution_id, m.twilio_sid AS twilio_sid, m.params AS params, m.choices AS choices FROM messages m \
         WHERE m.conversation_id IN ({}){limit_clause} ORDER BY m.created_at, m.id",
        placeholders(conversation_ids.len())
    );
    let mut q = sqlx::query_as::<_, MessageRow>(&sql);
    for id in conversation_ids {
        q = q.bind(id);
    }
    q.fetch_all(db).await
}

/// The media of the given conversations' messages, each message's in order, keyed by message.
/// One conversation's messages after `after` (a message's time and id), oldest first, at most
/// `limit`: an export reads a long history a page at a time along the conversation's index.
pub(super) async fn messages_page<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    db: E,
    conversation_id: &str,
    after: Option<&(i64, String)>,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    let (at, id) = after.map_or((i64::MIN, String::new()), |(at, id)| (*at, id.clone()));
    sqlx::query_as(
        "SELECT m.conversation_id AS conversation_id, m.id AS id, m.direction AS direction, m.body AS body, \
         m.status AS status, m.error_code AS error_code, m.error_message AS error_message, m.note AS note, \
         m.created_at AS created_at, m.origin AS origin, m.template_sid AS template_sid, \
         m.execution_id AS execution_id, m.twilio_sid AS twilio_sid, m.params AS params, m.choices AS choices FROM messages m \
         WHERE m.conversation_id = $1 AND (m.created_at > $2 OR (m.created_at = $2 AND m.id > $3)) \
         ORDER BY m.created_at, m.id LIMIT $4",
    )
    .bind(conversation_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The media of these messages, in order.
pub(super) async fn media_of_messages<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    db: E,
    message_ids: &[String],
) -> sqlx::Result<Vec<(String, MediaView)>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    media_where(db, "md.message_id", message_ids).await
}

/// The media of these conversations' messages, in order.
pub(super) async fn media(db: &AnyPool, conversation_ids: &[String]) -> sqlx::Result<Vec<(String, MediaView)>> {
    media_where(db, "m.conversation_id", conversation_ids).await
}

/// Media whose `column` (of the media `md` or their message `m`) is one of `ids`, by message and position.
async fn media_where<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    db: E,
    column: &str,
    ids: &[String],
) -> sqlx::Result<Vec<(String, MediaView)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        message_id: String,
        id: String,
        content_type: String,
        url: String,
        position: i64,
        state: String,
        error: Option<String>,
        transcript: Option<String>,
        transcript_error: Option<String>,
    }
    let sql = format!(
        "SELECT md.message_id AS message_id, md.id AS id, md.content_type AS content_type, md.url AS url, \
         md.position AS position, md.state AS state, \
         md.error AS error, md.transcript AS transcript, md.transcript_error AS transcript_error FROM media md \
         JOIN messages m ON m.id = md.message_id WHERE {column} IN ({}) ORDER BY md.message_id, md.position",
        placeholders(ids.len())
    );
    let mut q = sqlx::query_as::<_, Row>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.fetch_all(db)
        .await?
        .into_iter()
        .map(|r| {
            let view = MediaView {
                name: crate::media::file_name(&r.url, &r.content_type, r.position),
                id: r.id,
                content_type: r.content_type,
                state: r.state,
                error: r.error,
                transcript: r.transcript,
                transcript_error: r.transcript_error,
            };
            (r.message_id, view)
        })
        .collect())
}

/// A brain's execution record, as stored.
#[derive(sqlx::FromRow)]
pub(super) struct ExecutionRow {
    pub(super) conversation_id: String,
    pub(super) brain: String,
    pub(super) input: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) latency_ms: i64,
    pub(super) created_at: i64,
}

pub(super) async fn execution(db: &AnyPool, id: &str) -> sqlx::Result<Option<ExecutionRow>> {
    sqlx::query_as(
        "SELECT conversation_id, brain, input, output, error, latency_ms, created_at FROM executions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One reply an execution produced, with its delivery so far.
#[derive(sqlx::FromRow)]
pub(super) struct SendRow {
    pub(super) message_id: String,
    pub(super) body: String,
    pub(super) status: String,
    pub(super) twilio_sid: Option<String>,
    pub(super) attempts: Option<i64>,
    pub(super) last_error: Option<String>,
    pub(super) error_code: Option<i64>,
    pub(super) error_message: Option<String>,
}

pub(super) async fn sends(db: &AnyPool, conversation_id: &str, execution_id: &str) -> sqlx::Result<Vec<SendRow>> {
    sqlx::query_as(
        "SELECT m.id AS message_id, m.body AS body, m.status AS status, m.twilio_sid AS twilio_sid, \
         o.attempts AS attempts, o.last_error AS last_error, m.error_code AS error_code, \
         m.error_message AS error_message \
         FROM messages m LEFT JOIN outbox o ON o.message_id = m.id WHERE m.conversation_id = $1 AND m.execution_id = $2 \
         ORDER BY m.created_at, m.id",
    )
    .bind(conversation_id)
    .bind(execution_id)
    .fetch_all(db)
    .await
}

// ---- takeover and ending ----

/// Pauses the agent in the conversation for `by` (staff), or hands back with `None`.
pub(super) async fn set_paused(tx: &mut AnyConnection, id: &str, by: Option<&str>, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE conversations SET paused_at = $1, paused_by = $2 WHERE id = $3")
        .bind(by.map(|_| now))
        .bind(by)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Ends a live conversation; false when it had ended already.
pub(super) async fn end(tx: &mut AnyConnection, id: &str, now: i64) -> sqlx::Result<bool> {
    let ended = sqlx::query("UPDATE conversations SET state = 'ended', ended_at = $1 WHERE id = $2 AND state = 'live'")
        .bind(now)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(ended.rows_affected() > 0)
}
