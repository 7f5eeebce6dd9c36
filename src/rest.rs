//! The REST API under `/api`: everything the backoffice does, scriptable with a personal API
//! token (`Authorization: Bearer sbt_…`). It calls the same services as the pages, so roles and
//! organizations are checked the same way. Errors are JSON with a stable code:
//! `{"error": {"code": "not_found", "message": "Agent not found."}}`. The OpenAPI document is
//! generated from this file and served at `/api/openapi.json`.

use app::{
    model::{self, BrainKind, Me, Provider, WebhookState},
    ports::{AgentInput, BrainInput, ConnectorInput},
    AppError,
};
use axum::{
    extract::{rejection::JsonRejection, FromRequestParts, Path, State},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get, post, put},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub use crate::error::{ApiError, ErrorBody};
use crate::{agents, connectors, error::Error, inbox::agent as conversations, state::AppState, tokens};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/agents", get(list_agents).post(create_agent))
        .route("/api/agents/{name}", get(get_agent).put(update_agent).delete(delete_agent))
        .route("/api/agents/{name}/channels", get(list_channels).post(add_channel))
        .route("/api/agents/{name}/channels/{id}", put(set_routes).delete(remove_channel))
        .route("/api/agents/{name}/conversations", get(list_conversations))
        .route("/api/agents/{name}/messages", post(send_message))
        .route("/api/agents/{name}/whatsapp", get(whatsapp_status).put(whatsapp_configure).delete(whatsapp_remove))
        .route("/api/agents/{name}/whatsapp/test", post(whatsapp_test))
        .route("/api/connectors", get(list_connectors).post(create_connector))
        .route("/api/connectors/{id}", get(get_connector).put(update_connector).delete(delete_connector))
        .route("/api/connectors/{id}/numbers", get(list_numbers))
        .route(
            "/api/{*rest}",
            any(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such API route.") }),
        )
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Errors and authentication

type ApiResult<T> = Result<T, ApiError>;

/// The user a bearer token stands for.
pub struct ApiUser(Me);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a personal API token: Authorization: Bearer <token> (create one under API tokens).",
            ));
        };
        match tokens::authenticate(state, token).await? {
            Some(me) => Ok(ApiUser(me)),
            None => {
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "This token is unknown or was revoked."))
            }
        }
    }
}

/// A JSON body, or a `bad_request` error in the API's shape.
fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json.map(|Json(t)| t).map_err(ApiError::from)
}

// ---------------------------------------------------------------------------------------------
// Types of the API

#[derive(Debug, Serialize, ToSchema)]
pub struct Agent {
    id: String,
    name: String,
    description: String,
    instructions: String,
    welcome_message: Option<String>,
    fallback_reply: String,
    faq: Vec<FaqEntry>,
    brain: Brain,
    /// Only in the answer that created it: the HTTP hook's signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    hook_secret: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FaqEntry {
    question: String,
    answer: String,
}

/// An agent's brain; secrets only as "set".
#[derive(Debug, Serialize, ToSchema)]
pub struct Brain {
    /// `faq`, `openai` or `hook`.
    kind: String,
    url: Option<String>,
    model: Option<String>,
    api_key_set: bool,
    hook_secret_set: bool,
    timeout_secs: Option<u64>,
}

impl From<model::AgentDetail> for Agent {
    fn from(a: model::AgentDetail) -> Self {
        Agent {
            id: a.id,
            name: a.name,
            description: a.description,
            instructions: a.instructions,
            welcome_message: a.welcome_message,
            fallback_reply: a.fallback_reply,
            faq: a.faq.into_iter().map(|e| FaqEntry { question: e.question, answer: e.answer }).collect(),
            brain: Brain {
                kind: a.brain.kind.as_str().into(),
                url: a.brain.url,
                model: a.brain.model,
                api_key_set: a.brain.api_key_set,
                hook_secret_set: a.brain.hook_secret_set,
                timeout_secs: a.brain.timeout_secs,
            },
            hook_secret: a.new_hook_secret,
        }
    }
}

/// An agent to create, or its new settings (PUT replaces them all). No `Debug`: it may hold an API key.
#[derive(Deserialize, ToSchema)]
pub struct AgentBody {
    /// Letters, digits, dots, hyphens and underscores; used in the API's paths.
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    welcome_message: String,
    fallback_reply: String,
    #[serde(default)]
    faq: Vec<FaqEntry>,
    #[serde(default)]
    brain: Option<BrainBody>,
}

#[derive(Deserialize, ToSchema)]
pub struct BrainBody {
    /// `faq` (the default), `openai` or `hook`.
    kind: String,
    /// The OpenAI-compatible base URL, or the hook's URL.
    #[serde(default)]
    url: String,
    #[serde(default)]
    model: String,
    /// Kept as it is when absent on an update.
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

impl TryFrom<AgentBody> for AgentInput {
    type Error = AppError;

    fn try_from(b: AgentBody) -> Result<Self, AppError> {
        let brain = match b.brain {
            None => BrainInput::Faq,
            Some(brain) => match BrainKind::parse(&brain.kind) {
                Some(BrainKind::Faq) => BrainInput::Faq,
                Some(BrainKind::OpenAi) => BrainInput::OpenAi {
                    base_url: brain.url,
                    model: brain.model,
                    api_key: brain.api_key,
                    timeout_secs: brain.timeout_secs,
                },
                Some(BrainKind::Hook) => BrainInput::Hook { url: brain.url, timeout_secs: brain.timeout_secs },
                None => return Err(AppError::invalid("brain.kind", "The brain is faq, openai or hook.")),
            },
        };
        if let Some(t) = brain_timeout(&brain) {
            if !(1..=120).contains(&t) {
                return Err(AppError::invalid("brain.timeout_secs", "The timeout is 1 to 120 seconds."));
            }
        }
        Ok(AgentInput {
            name: b.name,
            description: b.description,
            instructions: b.instructions,
            welcome_message: b.welcome_message,
            fallback_reply: b.fallback_reply,
            faq: b.faq.into_iter().map(|e| model::FaqEntry { question: e.question, answer: e.answer }).collect(),
            brain,
        })
    }
}

fn brain_timeout(b: &BrainInput) -> Option<u64> {
    match b {
        BrainInput::Faq => None,
        BrainInput::OpenAi { timeout_secs, .. } | BrainInput::Hook { timeout_secs, .. } => *timeout_secs,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentSummary {
    id: String,
    name: String,
    channels: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    id: String,
    connector: String,
    number: String,
    /// `whatsapp` or `sms`.
    provider: String,
    /// Inbound route: only messages from this number reach the agent.
    inbound_from: Option<String>,
    /// Outbound route: replies go to this fixed number instead of the sender.
    outbound_to: Option<String>,
}

fn provider(p: Provider) -> String {
    match p {
        Provider::WhatsApp => "whatsapp".into(),
        Provider::Sms => "sms".into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelBody {
    /// The id of an active number (see `GET /api/connectors/{id}/numbers`).
    number_id: String,
    #[serde(default)]
    inbound_from: Option<String>,
    #[serde(default)]
    outbound_to: Option<String>,
}

/// A channel's routes; absent or empty clears one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoutesBody {
    #[serde(default)]
    inbound_from: Option<String>,
    #[serde(default)]
    outbound_to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Connector {
    id: String,
    name: String,
    account_sid: String,
    /// `active` or `error`.
    state: String,
    /// `connected`, `credentials_rejected`, `unreachable` or `checking`.
    health: String,
    reason: Option<String>,
    active_numbers: i64,
}

impl From<model::ConnectorSummary> for Connector {
    fn from(c: model::ConnectorSummary) -> Self {
        Connector {
            id: c.id,
            name: c.name,
            account_sid: c.account_sid,
            state: match c.state {
                model::ConnectorState::Active => "active".into(),
                model::ConnectorState::Error => "error".into(),
            },
            health: match c.health {
                model::Health::Connected => "connected".into(),
                model::Health::CredentialsRejected => "credentials_rejected".into(),
                model::Health::Unreachable => "unreachable".into(),
                model::Health::Checking => "checking".into(),
            },
            reason: c.reason,
            active_numbers: c.active_numbers,
        }
    }
}

/// A connector with what its page shows; the Auth Token never leaves Switchboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorDetail {
    #[serde(flatten)]
    summary: Connector,
    receive_inbound: bool,
    account_name: Option<String>,
    trial: bool,
    inbound_webhook_url: String,
    last_checked: Option<String>,
}

/// No `Debug`: it holds the Auth Token.
#[derive(Deserialize, ToSchema)]
pub struct ConnectorBody {
    name: String,
    account_sid: String,
    /// Required to create; kept as it is when absent on an update.
    #[serde(default)]
    auth_token: Option<String>,
    #[serde(default = "yes")]
    receive_inbound: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Number {
    id: String,
    number: String,
    provider: String,
    display_name: Option<String>,
    sender_status: Option<String>,
    active: bool,
    /// `unknown`, `configured`, `not_configured` or `manual`.
    webhook: String,
    webhook_detail: Option<String>,
    agent: Option<String>,
}

fn webhook_str(w: WebhookState) -> String {
    match w {
        WebhookState::Unknown => "unknown",
        WebhookState::Configured => "configured",
        WebhookState::NotConfigured => "not_configured",
        WebhookState::Manual => "manual",
    }
    .into()
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
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageBody {
    /// The guest's number, E.164.
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

/// The agent's WhatsApp binding, as Trinity's API reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappStatus {
    bound: bool,
    bindings: Vec<WhatsappBinding>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappBinding {
    channel_id: String,
    connector_id: String,
    connector: String,
    number: String,
    /// The URL Twilio must post this number's messages to.
    webhook_url: String,
    /// `unknown`, `configured`, `not_configured` or `manual`.
    webhook: String,
}

impl From<agents::whatsapp::Binding> for WhatsappBinding {
    fn from(b: agents::whatsapp::Binding) -> Self {
        Self {
            channel_id: b.channel_id,
            connector_id: b.connector_id,
            connector: b.connector,
            number: b.number,
            webhook_url: b.webhook_url,
            webhook: b.webhook,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WhatsappConfig {
    /// The connector's id or name.
    connector: String,
    /// The WhatsApp number, E.164 (it must be active on the connector).
    number: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WhatsappTest {
    /// Send a test message to this number; without it, only the credentials are checked.
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappTestResult {
    connector: String,
    /// `connected`, `credentials_rejected`, `unreachable` or `checking`.
    health: String,
    reason: Option<String>,
    /// Twilio's Message SID of the test message, when one was sent.
    message_sid: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Agents

#[utoipa::path(get, path = "/api/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = [AgentSummary]), (status = 401, body = ErrorBody)))]
async fn list_agents(State(state): State<AppState>, ApiUser(me): ApiUser) -> ApiResult<Json<Vec<AgentSummary>>> {
    let list = agents::list(&state, &me).await?;
    Ok(Json(list.into_iter().map(|a| AgentSummary { id: a.id, name: a.name, channels: a.channels }).collect()))
}

#[utoipa::path(post, path = "/api/agents", tag = "agents", security(("bearer" = [])), request_body = AgentBody,
    responses((status = 201, body = Agent), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_agent(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    json: Result<Json<AgentBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    let input = AgentInput::try_from(body(json)?)?;
    let created = agents::create(&state, &me, input).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/agents/{name}", tag = "agents", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn get_agent(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Agent>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    Ok(Json(agents::detail(&state, &me, &id).await?.into()))
}

#[utoipa::path(put, path = "/api/agents/{name}", tag = "agents", security(("bearer" = [])), request_body = AgentBody,
    params(("name" = String, Path)),
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_agent(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    json: Result<Json<AgentBody>, JsonRejection>,
) -> ApiResult<Json<Agent>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let input = AgentInput::try_from(body(json)?)?;
    Ok(Json(agents::update(&state, &me, &id, input).await?.into()))
}

#[utoipa::path(delete, path = "/api/agents/{name}", tag = "agents", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_agent(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    agents::delete(&state, &me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Channels

fn channel(c: model::ChannelRow) -> Channel {
    Channel {
        id: c.id,
        connector: c.connector_name,
        number: c.phone_number,
        provider: provider(c.provider),
        inbound_from: c.inbound_from,
        outbound_to: c.outbound_to,
    }
}

#[utoipa::path(get, path = "/api/agents/{name}/channels", tag = "channels", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = [Channel]), (status = 404, body = ErrorBody)))]
async fn list_channels(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Channel>>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    Ok(Json(agents::channels(&state, &me, &id).await?.into_iter().map(channel).collect()))
}

#[utoipa::path(post, path = "/api/agents/{name}/channels", tag = "channels", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = ChannelBody,
    responses((status = 201, body = Channel), (status = 409, body = ErrorBody, description = "Already bound, or not active"),
        (status = 404, body = ErrorBody)))]
async fn add_channel(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    json: Result<Json<ChannelBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let mut row = agents::add_channel(&state, &me, &id, &b.number_id).await?;
    if b.inbound_from.is_some() || b.outbound_to.is_some() {
        let routed =
            agents::set_routes(&state, &me, &id, &row.id, b.inbound_from.as_deref(), b.outbound_to.as_deref()).await;
        row = match routed {
            Ok(row) => row,
            Err(e) => {
                // Nothing half-saved: a refused route takes the new channel back.
                agents::remove_channel(&state, &me, &id, &row.id).await?;
                return Err(e.into());
            }
        };
    }
    Ok((StatusCode::CREATED, Json(channel(row))))
}

#[utoipa::path(put, path = "/api/agents/{name}/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = String, Path)), request_body = RoutesBody,
    responses((status = 200, body = Channel), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_routes(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path((name, channel_id)): Path<(String, String)>,
    json: Result<Json<RoutesBody>, JsonRejection>,
) -> ApiResult<Json<Channel>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let row =
        agents::set_routes(&state, &me, &id, &channel_id, b.inbound_from.as_deref(), b.outbound_to.as_deref()).await?;
    Ok(Json(channel(row)))
}

#[utoipa::path(delete, path = "/api/agents/{name}/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_channel(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path((name, channel_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    agents::remove_channel(&state, &me, &id, &channel_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Conversations and messages

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
    let page = conversations::page_for_agent(&state, &me, &id, limit, page.cursor.as_deref()).await?;
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
                        model::Direction::Inbound => "inbound".into(),
                        model::Direction::Outbound => "outbound".into(),
                    },
                    body: m.body,
                    status: m.status,
                    error: m.error,
                    note: m.note,
                    at_ms: m.at_ms,
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
    let p = conversations::Proactive { to: b.to, body: b.body, template, from: b.from };
    let (message, conversation) = conversations::send_proactive(&state, &me, &id, p).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { id: message, conversation_id: conversation, status: "queued" })))
}

// ---------------------------------------------------------------------------------------------
// The WhatsApp binding (`crate::agents::whatsapp`), with Trinity's routes

async fn whatsapp_bindings(state: &AppState, me: &Me, agent_id: &str) -> ApiResult<Vec<WhatsappBinding>> {
    Ok(agents::whatsapp::bindings(state, me, agent_id).await?.into_iter().map(WhatsappBinding::from).collect())
}

#[utoipa::path(get, path = "/api/agents/{name}/whatsapp", tag = "whatsapp", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = WhatsappStatus), (status = 404, body = ErrorBody)))]
async fn whatsapp_status(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<WhatsappStatus>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let bindings = whatsapp_bindings(&state, &me, &id).await?;
    Ok(Json(WhatsappStatus { bound: !bindings.is_empty(), bindings }))
}

/// Binds the agent to one WhatsApp number (replacing its other WhatsApp bindings).
#[utoipa::path(put, path = "/api/agents/{name}/whatsapp", tag = "whatsapp", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = WhatsappConfig,
    responses((status = 200, body = WhatsappStatus), (status = 409, body = ErrorBody, description = "Already bound elsewhere, or not active"),
        (status = 404, body = ErrorBody)))]
async fn whatsapp_configure(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    json: Result<Json<WhatsappConfig>, JsonRejection>,
) -> ApiResult<Json<WhatsappStatus>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let bindings: Vec<WhatsappBinding> = agents::whatsapp::bind(&state, &me, &id, &b.connector, &b.number)
        .await?
        .into_iter()
        .map(WhatsappBinding::from)
        .collect();
    Ok(Json(WhatsappStatus { bound: !bindings.is_empty(), bindings }))
}

#[utoipa::path(delete, path = "/api/agents/{name}/whatsapp", tag = "whatsapp", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn whatsapp_remove(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    agents::whatsapp::unbind(&state, &me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the credentials of the connector behind the agent's WhatsApp number (nothing is
/// sent), or sends a test message from that number when `to` is given.
#[utoipa::path(post, path = "/api/agents/{name}/whatsapp/test", tag = "whatsapp", security(("bearer" = [])),
    params(("name" = String, Path)), request_body(content = WhatsappTest, description = "Optional"),
    responses((status = 200, body = WhatsappTestResult), (status = 409, body = ErrorBody, description = "Not bound"),
        (status = 502, body = ErrorBody, description = "Twilio refused the test message")))]
async fn whatsapp_test(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    json: Option<Json<WhatsappTest>>,
) -> ApiResult<Json<WhatsappTestResult>> {
    let id = agents::id_by_name(&state, &me, &name).await?;
    let b = json.map(|Json(b)| b).unwrap_or_default();
    let Some(binding) = agents::whatsapp::bindings(&state, &me, &id).await?.into_iter().next() else {
        return Err(AppError::Conflict("This agent is not bound to a WhatsApp number.".into()).into());
    };
    let checked: Connector = connectors::manage::verify_unchecked(&state, &me, &binding.connector_id).await?.into();
    let message_sid = match b.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(to) => {
            Some(connectors::manage::send_test_from(&state, &me, &binding.connector_id, &binding.number_id, to).await?)
        }
    };
    Ok(Json(WhatsappTestResult {
        connector: checked.name,
        health: checked.health,
        reason: checked.reason,
        message_sid,
    }))
}

// ---------------------------------------------------------------------------------------------
// Connectors (organization admins)

#[utoipa::path(get, path = "/api/connectors", tag = "connectors", security(("bearer" = [])),
    responses((status = 200, body = [Connector]), (status = 403, body = ErrorBody)))]
async fn list_connectors(State(state): State<AppState>, ApiUser(me): ApiUser) -> ApiResult<Json<Vec<Connector>>> {
    Ok(Json(connectors::manage::list(&state, &me).await?.into_iter().map(Connector::from).collect()))
}

fn connector_input(b: ConnectorBody) -> ConnectorInput {
    ConnectorInput {
        name: b.name,
        account_sid: b.account_sid,
        auth_token: b.auth_token.filter(|t| !t.trim().is_empty()),
        receive_inbound: b.receive_inbound,
    }
}

fn connector_detail(d: model::ConnectorDetail) -> ConnectorDetail {
    ConnectorDetail {
        summary: d.summary.into(),
        receive_inbound: d.receive_inbound,
        account_name: d.account_name,
        trial: d.trial,
        inbound_webhook_url: d.inbound_webhook_url,
        last_checked: d.last_checked,
    }
}

/// Creates a connector after checking its credentials with Twilio: rejected credentials still
/// create it, in state `error` with the reason.
#[utoipa::path(post, path = "/api/connectors", tag = "connectors", security(("bearer" = [])), request_body = ConnectorBody,
    responses((status = 201, body = ConnectorDetail), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_connector(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    json: Result<Json<ConnectorBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ConnectorDetail>)> {
    let created = connectors::manage::create(&state, &me, connector_input(body(json)?)).await?;
    Ok((StatusCode::CREATED, Json(connector_detail(connectors::manage::detail(&state, &me, &created.id).await?))))
}

#[utoipa::path(get, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ConnectorDetail), (status = 404, body = ErrorBody)))]
async fn get_connector(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectorDetail>> {
    Ok(Json(connector_detail(connectors::manage::detail(&state, &me, &id).await?)))
}

#[utoipa::path(put, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ConnectorBody,
    responses((status = 200, body = ConnectorDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_connector(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
    json: Result<Json<ConnectorBody>, JsonRejection>,
) -> ApiResult<Json<ConnectorDetail>> {
    connectors::manage::update(&state, &me, &id, connector_input(body(json)?)).await?;
    Ok(Json(connector_detail(connectors::manage::detail(&state, &me, &id).await?)))
}

#[utoipa::path(delete, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_connector(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    connectors::manage::delete(&state, &me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The connector's WhatsApp senders and numbers, read from Twilio.
#[utoipa::path(get, path = "/api/connectors/{id}/numbers", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = [Number]), (status = 404, body = ErrorBody)))]
async fn list_numbers(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Number>>> {
    let rows = connectors::numbers::list_numbers(&state, &me, &id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| Number {
                id: r.id,
                number: r.phone_number,
                provider: provider(r.provider),
                display_name: r.display_name,
                sender_status: r.sender_status,
                active: r.active,
                webhook: webhook_str(r.webhook),
                webhook_detail: r.webhook_detail,
                agent: r.bound_agent,
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token, created under API tokens in the backoffice."))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "Agents, channels, connectors, conversations and messages of one organization, as the token's user may see them."),
    paths(
        list_agents, create_agent, get_agent, update_agent, delete_agent,
        list_channels, add_channel, set_routes, remove_channel,
        list_conversations, send_message,
        whatsapp_status, whatsapp_configure, whatsapp_remove, whatsapp_test,
        list_connectors, create_connector, get_connector, update_connector, delete_connector, list_numbers,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "agents"), (name = "channels"), (name = "conversations"),
        (name = "whatsapp", description = "The routes Trinity's users know"), (name = "connectors", description = "Organization admins only"),
    )
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
