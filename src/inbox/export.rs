//! A conversation and the inbox's list, downloaded as JSON or CSV by signed-in users of the
//! backoffice (`/conversations/{id}.json`, `/conversations.csv`, …), as each may see them.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_sessions::{Session, SessionManagerLayer};

use super::*;
use crate::{
    csv::line as csv_line,
    download::{problem, streamed, Format, Writer},
};

pub fn router(state: AppState, sessions: SessionManagerLayer<DbSessionStore>) -> Router {
    Router::new()
        .route("/events", get(crate::events::stream::stream))
        .route("/export/conversations/{file}", get(export_one))
        .route("/export/audit.csv", get(crate::audit::export::export))
        .route("/export/{file}", get(export_list))
        .with_state(state)
        .layer(sessions)
}

fn format_of(file: &str) -> Option<(&str, Format)> {
    if let Some(stem) = file.strip_suffix(".json") {
        Some((stem, Format::Json))
    } else {
        file.strip_suffix(".csv").map(|stem| (stem, Format::Csv))
    }
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
        "files": m.media.iter().map(|md| md.name.clone()).collect::<Vec<_>>(),
        "transcripts": transcripts(m).collect::<Vec<_>>(),
        "location": m.location,
        "choice": m.choice,
    })
}

/// The words of the message's voice notes that were transcribed.
fn transcripts(m: &MessageView) -> impl Iterator<Item = &str> {
    m.media.iter().filter_map(|md| md.transcript.as_deref())
}

const MESSAGE_HEADER: [&str; 17] = [
    "conversation_id",
    "at",
    "from",
    "direction",
    "body",
    "status",
    "error",
    "template_sid",
    "twilio_sid",
    "note",
    "media",
    "files",
    "transcript",
    "latitude",
    "longitude",
    "place",
    "choice",
];

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
        m.media.iter().map(|md| md.content_type.as_str()).collect::<Vec<_>>().join(" "),
        m.media.iter().map(|md| md.name.as_str()).collect::<Vec<_>>().join(" "),
        transcripts(m).collect::<Vec<_>>().join("\n"),
        m.location.as_ref().map(|l| l.latitude.clone()).unwrap_or_default(),
        m.location.as_ref().map(|l| l.longitude.clone()).unwrap_or_default(),
        m.location
            .as_ref()
            .map(|l| [&l.label, &l.address].into_iter().flatten().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        m.choice.as_ref().map(|c| c.text.clone()).unwrap_or_default(),
    ])
}

/// Messages and conversations read at a time by an export.
const PAGE: i64 = 500;
const CONVERSATIONS_PAGE: usize = 100;

/// A JSON object's text without its closing brace, to append a streamed `"messages"` array to.
fn open_object(value: serde_json::Value) -> String {
    let mut text = value.to_string();
    text.pop();
    text
}

/// A read-only transaction whose reads all see the database as it was when it began (its first
/// read, on SQLite): an export read a page at a time neither misses a conversation that moves up
/// the list meanwhile nor shows one twice.
async fn snapshot(state: &AppState) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
    match state.db.backend {
        crate::db::Backend::Sqlite => state.db.pool.begin_with("BEGIN").await,
        crate::db::Backend::Postgres => {
            state.db.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await
        }
    }
}

/// Writes one conversation's messages, a page at a time: JSON objects separated by commas (the
/// caller writes the brackets), or CSV lines. False when the reader has gone.
async fn write_messages(
    conn: &mut sqlx::AnyConnection,
    w: &Writer,
    conversation_id: &str,
    format: Format,
) -> crate::error::Result<bool> {
    let mut after: Option<(i64, String)> = None;
    let mut first = true;
    loop {
        let page = messages_page(&mut *conn, conversation_id, after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else { return Ok(true) };
        after = Some((last.at_ms, last.id.clone()));
        let mut out = String::new();
        for m in &page {
            match format {
                Format::Json => {
                    if !first {
                        out.push(',');
                    }
                    out.push_str(&message_json(m).to_string());
                }
                Format::Csv => out.push_str(&message_csv(conversation_id, m)),
            }
            first = false;
        }
        if !w.send(out).await {
            return Ok(false);
        }
        if (page.len() as i64) < PAGE {
            return Ok(true);
        }
    }
}

/// `GET /export/conversations/{id}.json|.csv`: one conversation with every message, streamed.
async fn export_one(State(state): State<AppState>, session: Session, Path(file): Path<String>) -> Response {
    let Some(me) = crate::accounts::sessions::signed_in(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some((id, format)) = format_of(&file) else { return StatusCode::NOT_FOUND.into_response() };
    let d = match detail(&state, &me, id).await {
        Ok(d) => d,
        Err(e) => return problem(e),
    };
    let subject = format!("Conversation {id}");
    let what = if format == Format::Json { "JSON." } else { "CSV." };
    if let Err(e) = crate::audit::record_now(&state, &me, crate::audit::Action::Exported, &subject, what).await {
        return problem(e);
    }
    tracing::info!(conversation_id = id, "conversation exported");
    let name = format!("conversation-{id}");
    streamed(format, &name, move |w| async move {
        let mut tx = snapshot(&state).await?;
        match format {
            Format::Json => {
                let head = open_object(serde_json::json!({
                    "id": d.id,
                    "agent": d.agent_name,
                    "guest": d.guest,
                    "guest_name": d.guest_name,
                    "provider": d.provider.label(),
                    "number": d.number,
                    "state": d.state.as_str(),
                }));
                if w.send(format!("{head},\"messages\":[")).await && write_messages(&mut tx, &w, &d.id, format).await? {
                    w.send("]}".into()).await;
                }
            }
            Format::Csv => {
                if w.send(csv_line(&MESSAGE_HEADER.map(str::to_string))).await {
                    write_messages(&mut tx, &w, &d.id, format).await?;
                }
            }
        }
        tx.rollback().await?;
        Ok(())
    })
}

/// `GET /export/conversations.json|.csv?<inbox filter>`: the filtered list, every page, streamed
/// a page of conversations at a time (and each conversation's messages a page at a time). JSON
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
    if let Some(agent) = &filter.agent_id {
        if let Err(e) = crate::agents::require_agent(&state, &me, agent).await {
            return problem(e);
        }
    }
    let what = if format == Format::Json { "JSON." } else { "CSV." };
    if let Err(e) =
        crate::audit::record_now(&state, &me, crate::audit::Action::Exported, "The inbox's list", what).await
    {
        return problem(e);
    }
    streamed(format, "conversations", move |w| async move {
        if !filter.q.trim().is_empty() {
            // A search finds every message stored before it, however far behind the indexer is.
            super::search::index_queued(&state.db).await?;
        }
        let mut tx = snapshot(&state).await?;
        let head = match format {
            Format::Json => "[".to_string(),
            Format::Csv => csv_line(
                &[
                    "conversation_id",
                    "agent",
                    "guest",
                    "guest_name",
                    "provider",
                    "number",
                    "state",
                    "last_activity",
                    "last_message",
                ]
                .map(str::to_string),
            ),
        };
        if !w.send(head).await {
            return Ok(());
        }
        let plan = store::plan(
            &mut tx,
            state.db.backend,
            &me.org_id,
            &filter,
            state.tuning.search_walk_from,
            state.tuning.guest_walk_from,
        )
        .await?;
        let mut place: Option<store::Place> = None;
        let mut count = 0;
        loop {
            let page = rows_on(&state, &mut tx, &me, &filter, &plan, place.as_ref(), CONVERSATIONS_PAGE).await?;
            for r in &page {
                let more = match format {
                    Format::Json => {
                        let head = open_object(serde_json::json!({
                            "id": r.id,
                            "agent": r.agent_name,
                            "guest": r.guest,
                            "guest_name": r.guest_name,
                            "provider": r.provider.label(),
                            "number": r.number,
                            "state": r.state.as_str(),
                            "last_activity": app::time::utc_minutes(r.last_at_ms),
                        }));
                        let comma = if count > 0 { "," } else { "" };
                        w.send(format!("{comma}{head},\"messages\":[")).await
                            && write_messages(&mut tx, &w, &r.id, format).await?
                            && w.send("]}".into()).await
                    }
                    Format::Csv => {
                        w.send(csv_line(&[
                            r.id.clone(),
                            r.agent_name.clone().unwrap_or_default(),
                            r.guest.clone(),
                            r.guest_name.clone().unwrap_or_default(),
                            r.provider.label().to_string(),
                            r.number.clone(),
                            r.state.as_str().to_string(),
                            app::time::utc_minutes(r.last_at_ms),
                            r.last_body.clone(),
                        ]))
                        .await
                    }
                };
                if !more {
                    return Ok(());
                }
                count += 1;
            }
            match page.last() {
                Some(last) if page.len() == CONVERSATIONS_PAGE => {
                    place = Some(store::Place { at: last.last_at_ms, id: last.id.clone() });
                }
                _ => break,
            }
        }
        tx.rollback().await?;
        if format == Format::Json {
            w.send("]".into()).await;
        }
        tracing::info!(conversations = count, "conversations exported");
        Ok(())
    })
}
