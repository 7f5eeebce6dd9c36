//! A conversation and the inbox's list, downloaded as JSON or CSV by signed-in users of the
//! backoffice (`/conversations/{id}.json`, `/conversations.csv`, …), as each may see them.

use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_sessions::{Session, SessionManagerLayer};

use super::*;

pub fn router(state: AppState, sessions: SessionManagerLayer<DbSessionStore>) -> Router {
    Router::new()
        .route("/events", get(crate::events::stream::stream))
        .route("/export/conversations/{file}", get(export_one))
        .route("/export/audit.csv", get(crate::audit::export))
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

pub(crate) fn csv_line(fields: &[String]) -> String {
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
    let (subject, detail) = (format!("Conversation {id}"), format!("{} messages.", messages.len()));
    if let Err(e) = crate::audit::record_now(&state, &me, crate::audit::Action::Exported, &subject, &detail).await {
        return problem(e);
    }
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
        let list = rows(&state, &me, &filter, None, store::Way::Older, EXPORT_LIMIT).await?;
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
    let detail = format!("{} conversations.", list.len());
    if let Err(e) =
        crate::audit::record_now(&state, &me, crate::audit::Action::Exported, "The inbox's list", &detail).await
    {
        return problem(e);
    }
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
