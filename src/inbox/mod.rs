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
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_sessions::{Session, SessionManagerLayer};

pub mod agent;
mod port;
pub mod rest;

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

fn provider(p: &str) -> Provider {
    if p == "sms" {
        Provider::Sms
    } else {
        Provider::WhatsApp
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
                    provider: provider(&prov),
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
        provider: provider(&a.provider),
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

/// Human takeover: while paused, the agent does not answer this guest; staff do.
pub async fn set_paused(state: &AppState, me: &Me, id: &str, paused: bool) -> Result<()> {
    access(state, me, id).await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE conversations SET paused_at = $1, paused_by = $2 WHERE id = $3")
        .bind(paused.then(now_ms))
        .bind(paused.then(|| me.user_id.clone()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(conversation_id = id, paused, "conversation taken over by staff or handed back");
    state.events.changed(id);
    Ok(())
}

/// Ends a live conversation by hand; the guest's next message opens it again.
pub async fn end(state: &AppState, me: &Me, id: &str) -> Result<()> {
    access(state, me, id).await?;
    let mut tx = state.db.begin_write().await?;
    let ended = sqlx::query("UPDATE conversations SET state = 'ended', ended_at = $1 WHERE id = $2 AND state = 'live'")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if ended.rows_affected() == 0 {
        return Err(AppError::Conflict("This conversation has ended already.".into()).into());
    }
    tx.commit().await?;
    state.events.changed(id);
    Ok(())
}

/// A reply written by staff, sent by the same sender under the same rules: free text inside
/// the 24-hour window, an approved template (chosen by staff) at any time.
pub async fn staff_reply(
    state: &AppState,
    me: &Me,
    id: &str,
    body: &str,
    template: Option<(String, Option<String>)>,
) -> Result<String> {
    let a = access(state, me, id).await?;
    let body = body.trim().to_string();
    let template = match template {
        None => None,
        Some((sid, variables)) => {
            let valid = sid.len() == 34 && sid.starts_with("HX") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(AppError::invalid("template_sid", "Pick an approved template.").into());
            }
            Some((sid, crate::template_variables(variables.as_deref().unwrap_or(""))?))
        }
    };
    if template.is_none() && (body.is_empty() || body.chars().count() > 1600) {
        return Err(AppError::invalid("body", "Write a reply of 1 to 1,600 characters.").into());
    }
    if template.is_none()
        && !crate::pipeline::sender::window_open(&a.address, now_ms(), a.last_inbound_at, a.window_closed_at)
    {
        return Err(AppError::OutsideWindow(
            "The guest's 24-hour window has closed: free text cannot be sent. Pick an approved template instead."
                .into(),
        )
        .into());
    }
    let note = match &template {
        Some((sid, _)) => format!("Sent by {} (template {sid}).", me.email),
        None => format!("Sent by {}.", me.email),
    };
    let message = Outgoing { origin: Some("staff"), note: Some(note), template, ..Outgoing::text(body) };
    let message_id = message.id.clone();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    outbox::queue(&mut tx, id, &a.connector_id, &[message], now).await?;
    tx.commit().await?;
    state.wake_sends().await;
    state.events.changed(id);
    tracing::info!(conversation_id = id, message_id = %message_id, "staff reply queued");
    Ok(message_id)
}

/// The agent's inactivity period, in seconds.
pub async fn inactivity(state: &AppState, me: &Me, agent_id: &str) -> Result<i64> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let (secs,): (i64,) = sqlx::query_as("SELECT inactivity_secs FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok(secs)
}

pub async fn set_inactivity(state: &AppState, me: &Me, agent_id: &str, seconds: i64) -> Result<i64> {
    crate::agents::require_agent(state, me, agent_id).await?;
    if !(5..=7 * 86_400).contains(&seconds) {
        return Err(AppError::invalid(
            "minutes",
            "Choose between 0.1 minutes (6 seconds) and 7 days (10,080 minutes).",
        )
        .into());
    }
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE agents SET inactivity_secs = $1 WHERE id = $2")
        .bind(seconds)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(seconds)
}

/// Ends the conversations whose guest and agent have both been quiet for the agent's
/// inactivity period. Returns how many ended.
pub async fn end_idle(state: &AppState) -> sqlx::Result<u64> {
    let now = now_ms();
    // Found without the write lock (the webhook's writer goes on meanwhile), on the index of live
    // conversations by activity, bounded by the shortest inactivity period of any agent.
    let due: Vec<(String,)> = sqlx::query_as(
        "SELECT cv.id FROM conversations cv JOIN agents a ON a.id = cv.agent_id \
         WHERE cv.state = 'live' AND cv.last_activity_at < $1 - (SELECT COALESCE(MIN(inactivity_secs), 0) FROM agents) * 1000 \
           AND cv.last_activity_at < $1 - a.inactivity_secs * 1000 LIMIT 500",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut ended = 0;
    let mut tx = state.db.begin_write().await?;
    for (id,) in &due {
        // Still quiet now that the lock is held: a message that came in meanwhile keeps it live.
        let done = sqlx::query(
            "UPDATE conversations SET state = 'ended', ended_at = $1 WHERE id = $2 AND state = 'live' \
             AND last_activity_at < $1 - (SELECT inactivity_secs FROM agents WHERE agents.id = conversations.agent_id) * 1000",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        ended += done.rows_affected();
    }
    tx.commit().await?;
    for (id,) in &due {
        state.events.changed(id);
    }
    Ok(ended)
}

/// The lifecycle worker: ends idle conversations every `interval`.
pub async fn lifecycle(state: AppState, interval: std::time::Duration) {
    while !state.workers.stopping() {
        if let Err(e) = state.rejections.flush(&state.db).await {
            tracing::warn!(error = %e, "cannot record webhook rejections");
        }
        match end_idle(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ended = n, "conversations ended after inactivity"),
            Err(e) => tracing::warn!(error = %e, "cannot end idle conversations"),
        }
        tokio::time::sleep(interval).await;
    }
}

// --- Live updates and exports, for signed-in users of the backoffice ---

pub fn router(state: AppState, sessions: SessionManagerLayer<DbSessionStore>) -> Router {
    Router::new()
        .route("/events", get(crate::events::stream::stream))
        .route("/export/conversations/{file}", get(export_one))
        .route("/export/{file}", get(export_list))
        .with_state(state)
        .layer(sessions)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format_of(file: &str) -> Option<(&str, Format)> {
    if let Some(stem) = file.strip_suffix(".json") {
        Some((stem, Format::Json))
    } else {
        file.strip_suffix(".csv").map(|stem| (stem, Format::Csv))
    }
}

/// One CSV field: quoted when it must be, and never read as a formula by a spreadsheet.
/// A CSV field, always quoted: a spreadsheet that splits on `;` (or tabs) would otherwise split an
/// unquoted field and let a formula start the second part. A leading formula character is
/// defused with an apostrophe.
fn csv_field(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    format!("\"{}\"", value.replace('"', "\"\""))
}

fn csv_line(fields: &[String]) -> String {
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

fn download(format: Format, name: &str, body: String) -> Response {
    let content_type = match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
    };
    let extension = if format == Format::Json { "json" } else { "csv" };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.{extension}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// An export's failure, answered as the REST API answers its errors.
fn problem(e: crate::error::Error) -> Response {
    crate::error::ApiError::from(e).into_response()
}

fn message_json(m: &MessageView) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "at": app::time::utc_minutes(m.at_ms),
        "at_ms": m.at_ms,
        "from": m.who(),
        "direction": if m.direction == Direction::Inbound { "inbound" } else { "outbound" },
        "body": m.body,
        "status": m.status,
        "error": m.error,
        "template_sid": m.template_sid,
        "twilio_sid": m.twilio_sid,
        "note": m.note,
        "media": m.media.iter().map(|md| md.content_type.clone()).collect::<Vec<_>>(),
    })
}

const MESSAGE_HEADER: [&str; 10] =
    ["conversation_id", "at", "from", "direction", "body", "status", "error", "template_sid", "twilio_sid", "note"];

fn message_csv(conversation_id: &str, m: &MessageView) -> String {
    csv_line(&[
        conversation_id.to_string(),
        app::time::utc_minutes(m.at_ms),
        m.who().to_string(),
        if m.direction == Direction::Inbound { "inbound" } else { "outbound" }.to_string(),
        m.body.clone(),
        m.status.clone(),
        m.error.clone().unwrap_or_default(),
        m.template_sid.clone().unwrap_or_default(),
        m.twilio_sid.clone().unwrap_or_default(),
        m.note.clone().unwrap_or_default(),
    ])
}

/// `GET /export/conversations/{id}.json|.csv`: one conversation with every message.
async fn export_one(State(state): State<AppState>, session: Session, Path(file): Path<String>) -> Response {
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some((id, format)) = format_of(&file) else { return StatusCode::NOT_FOUND.into_response() };
    let result = async {
        let d = detail(&state, &me, id).await?;
        let messages = load_messages(&state, &[id.to_string()], None).await?.remove(id).unwrap_or_default();
        Ok::<_, crate::error::Error>((d, messages))
    }
    .await;
    let (d, messages) = match result {
        Ok(x) => x,
        Err(e) => return problem(e),
    };
    let body = match format {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "id": d.id,
            "agent": d.agent_name,
            "guest": d.guest,
            "guest_name": d.guest_name,
            "provider": d.provider.label(),
            "number": d.number,
            "state": d.state.as_str(),
            "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
        }))
        .unwrap_or_default(),
        Format::Csv => {
            let mut out = csv_line(&MESSAGE_HEADER.map(str::to_string));
            for m in &messages {
                out.push_str(&message_csv(&d.id, m));
            }
            out
        }
    };
    tracing::info!(conversation_id = id, "conversation exported");
    download(format, &format!("conversation-{id}"), body)
}

/// The most conversations one list export holds.
const EXPORT_LIMIT: usize = 10_000;

/// `GET /export/conversations.json|.csv?<inbox filter>`: the filtered list, every page. JSON
/// carries each conversation's messages; CSV has a line per conversation.
async fn export_list(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(("conversations", format)) = format_of(&file) else { return StatusCode::NOT_FOUND.into_response() };
    let filter = InboxFilter::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let result = async {
        if let Some(agent) = &filter.agent_id {
            crate::agents::require_agent(&state, &me, agent).await?;
        }
        let list = rows(&state, &me, &filter, EXPORT_LIMIT, 0).await?;
        let messages = match format {
            Format::Json => load_messages(&state, &list.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), None).await?,
            Format::Csv => HashMap::new(),
        };
        Ok::<_, crate::error::Error>((list, messages))
    }
    .await;
    let (list, mut messages) = match result {
        Ok(x) => x,
        Err(e) => return problem(e),
    };
    let body = match format {
        Format::Json => serde_json::to_string_pretty(
            &list
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id,
                        "agent": r.agent_name,
                        "guest": r.guest,
                        "guest_name": r.guest_name,
                        "provider": r.provider.label(),
                        "number": r.number,
                        "state": r.state.as_str(),
                        "last_activity": app::time::utc_minutes(r.last_at_ms),
                        "messages": messages.remove(&r.id).unwrap_or_default().iter().map(message_json).collect::<Vec<_>>(),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default(),
        Format::Csv => {
            let mut out = csv_line(
                &["conversation_id", "agent", "guest", "guest_name", "provider", "number", "state", "last_activity", "last_message"]
                    .map(str::to_string),
            );
            for r in &list {
                out.push_str(&csv_line(&[
                    r.id.clone(),
                    r.agent_name.clone().unwrap_or_default(),
                    r.guest.clone(),
                    r.guest_name.clone().unwrap_or_default(),
                    r.provider.label().to_string(),
                    r.number.clone(),
                    r.state.as_str().to_string(),
                    app::time::utc_minutes(r.last_at_ms),
                    r.last_body.clone(),
                ]));
            }
            out
        }
    };
    tracing::info!(conversations = list.len(), "conversations exported");
    download(format, "conversations", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1555"), "\"'+1555\"");
        // In a locale whose spreadsheets split on `;`, the quotes keep this one field.
        assert_eq!(csv_field("x;=cmd|' /C calc'!A0"), "\"x;=cmd|' /C calc'!A0\"");
    }
}
