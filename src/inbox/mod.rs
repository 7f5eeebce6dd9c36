//! The inbox: conversations listed, filtered and searched; one conversation's history with
//! delivery ticks and the brain's execution records; human takeover (pause the agent, reply as
//! staff, resume); the conversation lifecycle (ended after inactivity, reopened by a message);
//! exports as JSON and CSV.

use std::collections::HashMap;

use app::{
    accounts::{Me, Role},
    connectors::Provider,
    inbox::{
        ConversationDetail, ConversationState, Direction, ExecutionView, InboxFilter, InboxPage, InboxRow, MediaView,
        MessageView, SendRecord,
    },
    AppError,
};

pub mod agent;
pub mod export;
pub mod lifecycle;
mod port;
pub mod rest;
pub mod takeover;

use crate::{
    accounts::sessions::DbSessionStore,
    error::Result,
    mask_address, now_ms,
    pipeline::outbox::{self, Outgoing},
    state::AppState,
};

pub const PAGE_SIZE: usize = 25;
/// The most messages a conversation's page shows; the export has them all.
const HISTORY: i64 = 500;

/// How a guest's number is shown to `me`: whole to admins, masked to agent owners.
pub fn shown(me: &Me, address: &str) -> String {
    if me.role == Role::OrgAdmin {
        address.to_string()
    } else {
        mask_address(address)
    }
}

/// The WHERE clause and its arguments for the conversations `me` may see under `filter`.
/// `$1`…`$3` are the organization, role and user.
fn scope(me: &Me, filter: &InboxFilter) -> (String, Vec<String>) {
    let mut args = vec![me.org_id.clone(), me.role.as_str().to_string(), me.user_id.clone()];
    let mut sql = String::from("c.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3)");
    let mut push = |clause: &str, value: String, args: &mut Vec<String>| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(agent) = &filter.agent_id {
        push(" AND cv.agent_id = ?", agent.clone(), &mut args);
    }
    if let Some(p) = filter.provider {
        push(" AND n.provider = ?", if p == Provider::Sms { "sms" } else { "whatsapp" }.into(), &mut args);
    }
    if let Some(number) = &filter.number {
        push(" AND n.phone_number = ?", number.clone(), &mut args);
    }
    if let Some(state) = filter.state {
        push(" AND cv.state = ?", state.as_str().into(), &mut args);
    }
    let q = filter.q.trim().to_lowercase();
    if !q.is_empty() {
        args.push(format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let n = args.len();
        sql.push_str(&format!(
            " AND (LOWER(cv.guest_address) LIKE ${n} ESCAPE '\\' OR LOWER(COALESCE(cv.guest_name, '')) LIKE ${n} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM messages sm WHERE sm.conversation_id = cv.id AND LOWER(sm.body) LIKE ${n} ESCAPE '\\'))"
        ));
    }
    (sql, args)
}

const FROM: &str = "FROM conversations cv JOIN numbers n ON n.id = cv.number_id \
                    JOIN connectors c ON c.id = n.connector_id LEFT JOIN agents a ON a.id = cv.agent_id";

type RowTuple = (
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
);

async fn rows(state: &AppState, me: &Me, filter: &InboxFilter, limit: usize, offset: usize) -> Result<Vec<InboxRow>> {
    let (clause, args) = scope(me, filter);
    let sql = format!(
        "SELECT cv.id, cv.agent_id, a.name, cv.guest_address, cv.guest_name, n.provider, n.phone_number, cv.state, \
         cv.paused_at, cv.last_activity_at, cv.last_inbound_at, cv.window_closed_at, n.address, \
         (SELECT m.body FROM messages m WHERE m.conversation_id = cv.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1), \
         (SELECT m.direction FROM messages m WHERE m.conversation_id = cv.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) \
         {FROM} WHERE {clause} ORDER BY cv.last_activity_at DESC, cv.id DESC LIMIT {limit} OFFSET {offset}"
    );
    let mut query = sqlx::query_as::<_, RowTuple>(&sql);
    for a in &args {
        query = query.bind(a);
    }
    let now = now_ms();
    Ok(query
        .fetch_all(&state.db.pool)
        .await?
        .into_iter()
        .map(
            |(
                id,
                agent_id,
                agent_name,
                guest,
                guest_name,
                prov,
                number,
                st,
                paused,
                activity,
                inbound,
                closed,
                address,
                body,
                dir,
            )| {
                InboxRow {
                    id,
                    agent_id,
                    agent_name,
                    guest: shown(me, &guest),
                    guest_name,
                    provider: Provider::stored(&prov),
                    number,
                    state: ConversationState::parse(&st).unwrap_or(ConversationState::Live),
                    paused: paused.is_some(),
                    last_body: body.unwrap_or_default(),
                    last_from_guest: dir.as_deref() == Some("inbound"),
                    last_at_ms: activity.unwrap_or_default(),
                    window_open: crate::pipeline::sender::window_open(&address, now, inbound, closed),
                }
            },
        )
        .collect())
}

pub async fn list(state: &AppState, me: &Me, filter: &InboxFilter) -> Result<InboxPage> {
    if let Some(agent) = &filter.agent_id {
        crate::agents::require_agent(state, me, agent).await?;
    }
    let offset = filter.page as usize * PAGE_SIZE;
    let mut rows = rows(state, me, filter, PAGE_SIZE + 1, offset).await?;
    let has_more = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let numbers: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT n.phone_number FROM numbers n JOIN connectors c ON c.id = n.connector_id \
         WHERE c.org_id = $1 AND n.active = 1 ORDER BY n.phone_number",
    )
    .bind(&me.org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(InboxPage { rows, page: filter.page, has_more, numbers: numbers.into_iter().map(|n| n.0).collect() })
}

/// The conversation's agent, number and connector, if `me` may see it.
struct Access {
    agent_id: Option<String>,
    agent_name: Option<String>,
    guest: String,
    guest_name: Option<String>,
    provider: String,
    number: String,
    address: String,
    connector_id: String,
    state: String,
    ended_at: Option<i64>,
    paused_by: Option<String>,
    last_inbound_at: Option<i64>,
    window_closed_at: Option<i64>,
}

async fn access(state: &AppState, me: &Me, id: &str) -> Result<Access> {
    type Row = (
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT cv.agent_id, a.name, cv.guest_address, cv.guest_name, n.provider, n.phone_number, n.address, c.id, cv.state, \
         cv.ended_at, CASE WHEN cv.paused_at IS NOT NULL THEN COALESCE(u.email, 'staff') END, cv.last_inbound_at, \
         cv.window_closed_at {FROM} LEFT JOIN users u ON u.id = cv.paused_by \
         WHERE cv.id = $4 AND c.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3)"
    ))
    .bind(&me.org_id)
    .bind(me.role.as_str())
    .bind(&me.user_id)
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(r) = row else { return Err(AppError::NotFound("Conversation".into()).into()) };
    Ok(Access {
        agent_id: r.0,
        agent_name: r.1,
        guest: r.2,
        guest_name: r.3,
        provider: r.4,
        number: r.5,
        address: r.6,
        connector_id: r.7,
        state: r.8,
        ended_at: r.9,
        paused_by: r.10,
        last_inbound_at: r.11,
        window_closed_at: r.12,
    })
}

type MessageRow = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The messages of the given conversations (each at most `limit`, the latest), oldest first, with their media.
pub async fn load_messages(
    state: &AppState,
    conversation_ids: &[String],
    limit: Option<i64>,
) -> Result<HashMap<String, Vec<MessageView>>> {
    let mut out: HashMap<String, Vec<MessageView>> = HashMap::new();
    for chunk in conversation_ids.chunks(200) {
        let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let limit_clause = limit.map_or(String::new(), |l| {
            format!(
                " AND m.id IN (SELECT l.id FROM messages l WHERE l.conversation_id = m.conversation_id \
                 ORDER BY l.created_at DESC, l.id DESC LIMIT {l})"
            )
        });
        let sql = format!(
            "SELECT m.conversation_id, m.id, m.direction, m.body, m.status, m.error_code, m.error_message, m.note, m.created_at, \
             m.origin, m.template_sid, m.execution_id, m.twilio_sid FROM messages m \
             WHERE m.conversation_id IN ({list}){limit_clause} ORDER BY m.created_at, m.id"
        );
        let mut q = sqlx::query_as::<_, MessageRow>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&state.db.pool).await?;
        let media_sql = format!(
            "SELECT md.message_id, md.id, md.content_type, md.state, md.error FROM media md \
             JOIN messages m ON m.id = md.message_id WHERE m.conversation_id IN ({list}) ORDER BY md.message_id, md.position"
        );
        let mut mq = sqlx::query_as::<_, (String, String, String, String, Option<String>)>(&media_sql);
        for id in chunk {
            mq = mq.bind(id);
        }
        let mut media: HashMap<String, Vec<MediaView>> = HashMap::new();
        for (message_id, id, content_type, state, error) in mq.fetch_all(&state.db.pool).await? {
            media.entry(message_id).or_default().push(MediaView { id, content_type, state, error });
        }
        for (
            conv,
            id,
            direction,
            body,
            status,
            code,
            error_message,
            note,
            at_ms,
            origin,
            template_sid,
            execution_id,
            sid,
        ) in rows
        {
            let meaning = code.and_then(crate::twilio::errors::describe);
            let error = match (code, error_message) {
                (Some(c), Some(m)) => Some(format!("{m} (error {c})")),
                (Some(c), None) => Some(meaning.map_or(format!("error {c}"), |m| format!("{m} (error {c})"))),
                (None, m) => m,
            };
            out.entry(conv).or_default().push(MessageView {
                media: media.remove(&id).unwrap_or_default(),
                id,
                direction: if direction == "inbound" { Direction::Inbound } else { Direction::Outbound },
                body,
                status,
                error,
                note,
                at_ms,
                origin,
                template_sid,
                execution_id,
                twilio_sid: sid,
                error_code: code,
            });
        }
    }
    Ok(out)
}

pub async fn detail(state: &AppState, me: &Me, id: &str) -> Result<ConversationDetail> {
    let a = access(state, me, id).await?;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
        .bind(id)
        .fetch_one(&state.db.pool)
        .await?;
    let messages = load_messages(state, &[id.to_string()], Some(HISTORY)).await?.remove(id).unwrap_or_default();
    Ok(ConversationDetail {
        id: id.to_string(),
        agent_id: a.agent_id,
        agent_name: a.agent_name,
        guest: shown(me, &a.guest),
        guest_name: a.guest_name,
        provider: Provider::stored(&a.provider),
        number: a.number,
        connector_id: a.connector_id,
        state: ConversationState::parse(&a.state).unwrap_or(ConversationState::Live),
        ended_at_ms: a.ended_at,
        paused_by: a.paused_by,
        window_open: crate::pipeline::sender::window_open(&a.address, now_ms(), a.last_inbound_at, a.window_closed_at),
        messages,
        earlier_messages: count > HISTORY,
    })
}

pub async fn execution(state: &AppState, me: &Me, execution_id: &str) -> Result<ExecutionView> {
    type Row = (String, String, String, Option<String>, Option<String>, i64, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT conversation_id, brain, input, output, error, latency_ms, created_at FROM executions WHERE id = $1",
    )
    .bind(execution_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((conversation_id, brain, input, output, error, latency_ms, at_ms)) = row else {
        return Err(AppError::NotFound("Execution record".into()).into());
    };
    access(state, me, &conversation_id).await?;
    type SendRow = (String, String, String, Option<String>, Option<i64>, Option<String>, Option<i64>, Option<String>);
    let sends: Vec<SendRow> = sqlx::query_as(
        "SELECT m.id, m.body, m.status, m.twilio_sid, o.attempts, o.last_error, m.error_code, m.error_message \
         FROM messages m LEFT JOIN outbox o ON o.message_id = m.id WHERE m.conversation_id = $1 AND m.execution_id = $2 \
         ORDER BY m.created_at, m.id",
    )
    .bind(&conversation_id)
    .bind(execution_id)
    .fetch_all(&state.db.pool)
    .await?;
    let input = serde_json::from_str::<serde_json::Value>(&input)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(input);
    Ok(ExecutionView {
        id: execution_id.to_string(),
        conversation_id,
        brain,
        input,
        output,
        error,
        latency_ms,
        at_ms,
        sends: sends
            .into_iter()
            .map(|(message_id, body, status, twilio_sid, attempts, last_error, code, message)| SendRecord {
                message_id,
                body,
                status,
                twilio_sid,
                attempts: attempts.unwrap_or_default(),
                last_error,
                error: code.map(|c| {
                    let meaning = message.or_else(|| crate::twilio::errors::describe(c).map(str::to_string));
                    meaning.map_or(format!("error {c}"), |m| format!("{m} (error {c})"))
                }),
            })
            .collect(),
    })
}
