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
pub mod search;
mod store;
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

/// Up to `limit` rows of the list from `place` the `way` given, in the list's order (newest first).
async fn rows(
    state: &AppState,
    me: &Me,
    filter: &InboxFilter,
    place: Option<&store::Place>,
    way: store::Way,
    limit: usize,
) -> Result<Vec<InboxRow>> {
    if !filter.q.trim().is_empty() {
        // A search finds every message stored before it, however far behind the indexer is.
        search::index_queued(&state.db).await?;
    }
    let mut conn = state.db.pool.acquire().await?;
    let (walk_from, guest_walk_from) = (state.tuning.search_walk_from, state.tuning.guest_walk_from);
    let plan = store::plan(&mut conn, state.db.backend, &me.org_id, filter, walk_from, guest_walk_from).await?;
    let rows = store::list(&mut conn, state.db.backend, me, filter, &plan, place, way, limit).await?;
    Ok(shown_rows(me, rows, way))
}

/// The same, read on `conn` (an export's snapshot) with the search's `plan` ([`store::plan`]); a
/// search's queue is indexed by the caller first.
async fn rows_on(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    me: &Me,
    filter: &InboxFilter,
    plan: &store::Plan,
    place: Option<&store::Place>,
    limit: usize,
) -> Result<Vec<InboxRow>> {
    let rows = store::list(&mut *conn, state.db.backend, me, filter, plan, place, store::Way::Older, limit).await?;
    Ok(shown_rows(me, rows, store::Way::Older))
}

/// The list's rows as `me` sees them, newest first.
fn shown_rows(me: &Me, mut rows: Vec<store::ListRow>, way: store::Way) -> Vec<InboxRow> {
    let now = now_ms();
    if way == store::Way::Newer {
        rows.reverse();
    }
    rows.into_iter()
        .map(|r| InboxRow {
            guest: shown(me, &r.guest_address),
            provider: Provider::stored(&r.provider),
            state: ConversationState::parse(&r.state).unwrap_or(ConversationState::Live),
            paused: r.paused_at.is_some(),
            last_body: r.last_body.unwrap_or_default(),
            last_from_guest: r.last_direction.as_deref() == Some("inbound"),
            last_at_ms: r.last_activity_at.unwrap_or_default(),
            window_open: crate::pipeline::sender::window_open(&r.address, now, r.last_inbound_at, r.window_closed_at),
            id: r.id,
            agent_id: r.agent_id,
            agent_name: r.agent_name,
            guest_name: r.guest_name,
            number: r.phone_number,
        })
        .collect()
}

pub async fn list(state: &AppState, me: &Me, filter: &InboxFilter) -> Result<InboxPage> {
    if let Some(agent) = &filter.agent_id {
        crate::agents::require_agent(state, me, agent).await?;
    }
    let invalid = || AppError::invalid("cursor", "This place in the list is not one a page of the inbox gave.");
    let place =
        |cursor: &Option<String>| cursor.as_deref().map(|c| store::Place::parse(c).ok_or_else(invalid)).transpose();
    let (after, before) = (place(&filter.after)?, place(&filter.before)?);
    let (rows, newer, older) = match (after, before) {
        (Some(after), _) => {
            let mut rows = rows(state, me, filter, Some(&after), store::Way::Older, PAGE_SIZE + 1).await?;
            let more = rows.len() > PAGE_SIZE;
            rows.truncate(PAGE_SIZE);
            // Newer ones come before this page (before the place itself, if the page is empty).
            let newer = rows.first().map(place_of).unwrap_or_else(|| after.cursor());
            let older = rows.last().filter(|_| more).map(place_of);
            (rows, Some(newer), older)
        }
        (None, Some(before)) => {
            let mut rows = rows(state, me, filter, Some(&before), store::Way::Newer, PAGE_SIZE + 1).await?;
            if rows.len() > PAGE_SIZE {
                rows.remove(0);
                let (newer, older) = (rows.first().map(place_of), rows.last().map(place_of));
                (rows, newer, older)
            } else {
                // Back at the top: the first page, full.
                first_page(state, me, filter).await?
            }
        }
        (None, None) => first_page(state, me, filter).await?,
    };
    let numbers = store::active_numbers(&state.db.pool, &me.org_id).await?;
    Ok(InboxPage { rows, newer, older, numbers })
}

/// Where a row is in the list, as a cursor.
fn place_of(r: &InboxRow) -> String {
    store::Place { at: r.last_at_ms, id: r.id.clone() }.cursor()
}

/// The list's first page, and where the older page starts.
async fn first_page(
    state: &AppState,
    me: &Me,
    filter: &InboxFilter,
) -> Result<(Vec<InboxRow>, Option<String>, Option<String>)> {
    let mut rows = rows(state, me, filter, None, store::Way::Older, PAGE_SIZE + 1).await?;
    let more = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let older = rows.last().filter(|_| more).map(place_of);
    Ok((rows, None, older))
}

/// The conversation's agent, number and connector, if `me` may see it.
async fn access(state: &AppState, me: &Me, id: &str) -> Result<store::Access> {
    store::access(&state.db.pool, me, id).await?.ok_or_else(|| AppError::NotFound("Conversation".into()).into())
}

/// The messages of the given conversations (each at most `limit`, the latest), oldest first, with their media.
pub async fn load_messages(
    state: &AppState,
    conversation_ids: &[String],
    limit: Option<i64>,
) -> Result<HashMap<String, Vec<MessageView>>> {
    let mut out: HashMap<String, Vec<MessageView>> = HashMap::new();
    for chunk in conversation_ids.chunks(200) {
        let rows = store::messages(&state.db.pool, chunk, limit).await?;
        let mut media: HashMap<String, Vec<MediaView>> = HashMap::new();
        for (message_id, item) in store::media(&state.db.pool, chunk).await? {
            media.entry(message_id).or_default().push(item);
        }
        for m in rows {
            let item = media.remove(&m.id).unwrap_or_default();
            out.entry(m.conversation_id.clone()).or_default().push(view_of(m, item));
        }
    }
    Ok(out)
}

/// A message as the pages and exports show it.
fn view_of(m: store::MessageRow, media: Vec<MediaView>) -> MessageView {
    let code = m.error_code;
    let meaning = code.and_then(crate::twilio::errors::describe);
    let error = match (code, m.error_message) {
        (Some(c), Some(text)) => Some(format!("{text} (error {c})")),
        (Some(c), None) => Some(meaning.map_or(format!("error {c}"), |text| format!("{text} (error {c})"))),
        (None, text) => text,
    };
    let params = crate::twilio::inbound::stored(m.params.as_deref());
    let offered: Option<crate::brain::choices::Choices> =
        m.choices.as_deref().and_then(|c| serde_json::from_str(c).ok());
    MessageView {
        offered: offered.map(|c| c.options.into_iter().map(|o| o.title).collect()).unwrap_or_default(),
        location: crate::twilio::inbound::location(&params),
        choice: crate::twilio::inbound::choice(&params),
        media,
        id: m.id,
        direction: if m.direction == "inbound" { Direction::Inbound } else { Direction::Outbound },
        body: m.body,
        status: m.status,
        error,
        note: m.note,
        at_ms: m.created_at,
        origin: m.origin,
        template_sid: m.template_sid,
        execution_id: m.execution_id,
        twilio_sid: m.twilio_sid,
        error_code: code,
    }
}

/// One conversation's messages after `after` (the last one a page gave: its time and id), oldest
/// first, at most `limit`, with their media.
pub async fn messages_page(
    conn: &mut sqlx::AnyConnection,
    conversation_id: &str,
    after: Option<&(i64, String)>,
    limit: i64,
) -> Result<Vec<MessageView>> {
    let rows = store::messages_page(&mut *conn, conversation_id, after, limit).await?;
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut media: HashMap<String, Vec<MediaView>> = HashMap::new();
    for (message_id, item) in store::media_of_messages(&mut *conn, &ids).await? {
        media.entry(message_id).or_default().push(item);
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let item = media.remove(&m.id).unwrap_or_default();
            view_of(m, item)
        })
        .collect())
}

pub async fn detail(state: &AppState, me: &Me, id: &str) -> Result<ConversationDetail> {
    let a = access(state, me, id).await?;
    let count = store::message_count(&state.db.pool, id).await?;
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
        can_forget: me.role == Role::OrgAdmin,
    })
}

pub async fn execution(state: &AppState, me: &Me, execution_id: &str) -> Result<ExecutionView> {
    let Some(e) = store::execution(&state.db.pool, execution_id).await? else {
        return Err(AppError::NotFound("Execution record".into()).into());
    };
    access(state, me, &e.conversation_id).await?;
    let sends = store::sends(&state.db.pool, &e.conversation_id, execution_id).await?;
    let input = serde_json::from_str::<serde_json::Value>(&e.input)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(e.input);
    Ok(ExecutionView {
        id: execution_id.to_string(),
        conversation_id: e.conversation_id,
        brain: e.brain,
        input,
        output: e.output,
        error: e.error,
        latency_ms: e.latency_ms,
        at_ms: e.created_at,
        sends: sends
            .into_iter()
            .map(|r| SendRecord {
                message_id: r.message_id,
                body: r.body,
                status: r.status,
                twilio_sid: r.twilio_sid,
                attempts: r.attempts.unwrap_or_default(),
                last_error: r.last_error,
                error: r.error_code.map(|c| {
                    let meaning = r.error_message.or_else(|| crate::twilio::errors::describe(c).map(str::to_string));
                    meaning.map_or(format!("error {c}"), |m| format!("{m} (error {c})"))
                }),
            })
            .collect(),
    })
}
