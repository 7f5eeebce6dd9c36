//! The conversations' REST routes: an agent's conversations a page at a time, and messages sent
//! first (proactive, a template outside the 24-hour window).

use app::AppError;
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    agents,
    error::Error,
    http::auth::{body, ApiResult, ApiUser, ErrorBody},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agents/{name}/conversations", get(list_conversations))
        .route("/api/agents/{name}/messages", post(send_message))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    id: String,
    guest: String,
    guest_name: Option<String>,
    number: String,
    messages: Vec<Message>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    id: String,
    /// `inbound` or `outbound`.
    direction: String,
    body: String,
    /// Twilio's status of an outbound message: `pending`, `queued`, `sent`, `delivered`, `read`, `failed`, …
    status: String,
    error: Option<String>,
    note: Option<String>,
    /// Unix milliseconds.
    at_ms: i64,
    /// The place a guest shared: `latitude` and `longitude` (decimal degrees, as text), `label`
    /// and `address` when WhatsApp gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    location: Option<app::inbox::SharedLocation>,
    /// The reply button or list item a guest tapped: its `text` and `id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    choice: Option<app::inbox::Choice>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageBody {
    /// The guest's number, E.164; on WhatsApp also their user id (`US.13491208655302741918`).
    to: String,
    /// Free text: only within the guest's 24-hour window on WhatsApp.
    #[serde(default)]
    body: Option<String>,
    /// An approved template: sent whatever the window.
    #[serde(default)]
    template: Option<TemplateBody>,
    /// One of the agent's numbers; its first WhatsApp number when absent.
    #[serde(default)]
    from: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TemplateBody {
    /// The Content SID, `HX…`.
    sid: String,
    /// The template's variables, e.g. `{"1": "Ana"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    variables: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    id: String,
    conversation_id: String,
    /// `queued`: the sender posts it to Twilio; its delivery shows in the conversation.
    status: &'static str,
}

/// Which page of conversations: at most `limit` (1–200, 50 when absent), after `cursor` (from the
/// `Link` header of the page before).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/agents/{name}/conversations", tag = "conversations", security(("bearer" = [])),
    params(("name" = String, Path), PageQuery),
    responses((status = 200, body = [Conversation],
        description = "Most recently active first. `X-Total-Count` says how many there are in all; \
                       `Link: <…?limit=…&cursor=…>; rel=\"next\"` gives the next page, absent on the last.",
        headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 422, body = ErrorBody, description = "`limit` not 1–200, or a `cursor` this API did not give"),
        (status = 404, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    axum::extract::Query(page): axum::extract::Query<PageQuery>,
) -> ApiResult<Response> {
    let limit = match page.limit.as_deref() {
        None => 50,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => {
                return Err(
                    Error::from(AppError::invalid("limit", "Give a number of conversations from 1 to 200.")).into()
                )
            }
        },
    };
    let id = agents::id_by_name(&state, &me, &name).await?;
    let page = super::agent::page_for_agent(&state, &me, &id, limit, page.cursor.as_deref()).await?;
    let list: Vec<Conversation> = page
        .conversations
        .into_iter()
        .map(|c| Conversation {
            id: c.id,
            guest: c.guest,
            guest_name: c.guest_name,
            number: c.number,
            messages: c
                .messages
                .into_iter()
                .map(|m| Message {
                    id: m.id,
                    direction: match m.direction {
                        app::inbox::Direction::Inbound => "inbound".into(),
                        app::inbox::Direction::Outbound => "outbound".into(),
                    },
                    body: m.body,
                    status: m.status,
                    error: m.error,
                    note: m.note,
                    at_ms: m.at_ms,
                    location: m.location,
                    choice: m.choice,
                })
                .collect(),
        })
        .collect();
    let mut response = Json(list).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", page.total.into());
    if let Some(next) = page.next {
        let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let link = format!("</api/agents/{name}/conversations?limit={limit}&cursor={next}>; rel=\"next\"");
        if let Ok(value) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, value);
        }
    }
    Ok(response)
}

#[utoipa::path(post, path = "/api/agents/{name}/messages", tag = "conversations", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = MessageBody,
    responses((status = 202, body = Queued),
        (status = 409, body = ErrorBody, description = "`outside_window`: free text outside the 24-hour window; or the agent has no number"),
        (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    json: Result<Json<MessageBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let template = b.template.map(|t| (t.sid, t.variables.map(|v| v.to_string())));
    let p = super::agent::Proactive { to: b.to, body: b.body, template, from: b.from };
    let (message, conversation) = super::agent::send_proactive(&state, &me, &id, p).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { id: message, conversation_id: conversation, status: "queued" })))
}
