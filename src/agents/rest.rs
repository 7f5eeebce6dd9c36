//! The agents' REST routes (`/api/agents…`): agents, their channels, and the WhatsApp binding
//! with the routes Trinity's users know (`/api/agents/{name}/whatsapp`). Only translation: the
//! services in this folder do the work.

use app::{
    accounts::Me,
    agents::{
        port::{AgentInput, BrainInput},
        BrainKind,
    },
    AppError,
};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    routing::{get, post, put},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    connectors::{self, rest::Connector},
    http::auth::{body, ApiResult, ApiUser, ErrorBody},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list_agents).post(create_agent))
        .route("/api/agents/{name}", get(get_agent).put(update_agent).delete(delete_agent))
        .route("/api/agents/{name}/senses", put(set_senses))
        .route("/api/transcription", get(get_transcription).put(set_transcription))
        .route("/api/agents/{name}/channels", get(list_channels).post(add_channel))
        .route("/api/agents/{name}/channels/{id}", put(set_routes).delete(remove_channel))
        .route("/api/agents/{name}/whatsapp", get(whatsapp_status).put(whatsapp_configure).delete(whatsapp_remove))
        .route("/api/agents/{name}/whatsapp/test", post(whatsapp_test))
}

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
    senses: Senses,
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

/// What the agent perceives of guests' files; the transcription key only as "set".
#[derive(Debug, Serialize, ToSchema)]
pub struct Senses {
    /// The OpenAI-compatible transcription API's base URL; none: voice notes are not transcribed.
    transcription_url: Option<String>,
    transcription_model: Option<String>,
    transcription_key_set: bool,
    /// Voice notes are never transcribed, not even with the organization's API (`/api/transcription`).
    transcription_off: bool,
    /// How an OpenAI-compatible brain is shown photos: `off` (described in words), `link` or `inline`.
    images: String,
}

/// The organization's transcription API, which every agent without its own uses; the key only as
/// "set".
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcription {
    /// The OpenAI-compatible transcription API's base URL; none: the organization has none.
    transcription_url: Option<String>,
    transcription_model: Option<String>,
    transcription_key_set: bool,
}

impl From<app::agents::Transcription> for Transcription {
    fn from(t: app::agents::Transcription) -> Self {
        Self { transcription_url: t.url, transcription_model: t.model, transcription_key_set: t.key_set }
    }
}

/// The organization's transcription API (PUT replaces it). No `Debug`: it may hold an API key.
#[derive(Deserialize, ToSchema)]
pub struct TranscriptionBody {
    /// The base URL (`https://api.openai.com/v1`); empty or absent: none for the organization.
    #[serde(default)]
    transcription_url: String,
    #[serde(default)]
    transcription_model: String,
    /// Kept as it is when absent, while the URL's host stays the same.
    #[serde(default)]
    transcription_key: Option<String>,
}

/// What the agent perceives of guests' files (PUT replaces it). No `Debug`: it may hold an API key.
#[derive(Deserialize, ToSchema)]
pub struct SensesBody {
    /// The transcription API's base URL (`https://api.openai.com/v1`); empty or absent: the
    /// organization's, if it has one (`/api/transcription`).
    #[serde(default)]
    transcription_url: String,
    #[serde(default)]
    transcription_model: String,
    /// Kept as it is when absent, while the URL's host stays the same.
    #[serde(default)]
    transcription_key: Option<String>,
    /// True: voice notes are never transcribed, not even with the organization's API.
    #[serde(default)]
    transcription_off: bool,
    /// `off` (the default), `link` or `inline`.
    #[serde(default)]
    images: Option<String>,
}

impl From<app::agents::AgentDetail> for Agent {
    fn from(a: app::agents::AgentDetail) -> Self {
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
            senses: Senses {
                transcription_url: a.senses.transcription_url,
                transcription_model: a.senses.transcription_model,
                transcription_key_set: a.senses.transcription_key_set,
                transcription_off: a.senses.transcription_off,
                images: a.senses.images.as_str().into(),
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
            faq: b.faq.into_iter().map(|e| app::agents::FaqEntry { question: e.question, answer: e.answer }).collect(),
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
    /// Inbound route: only messages from this guest reach the agent: a number in E.164, or on
    /// WhatsApp a user id (`US.13491208655302741918`).
    inbound_from: Option<String>,
    /// Outbound route: replies go to this fixed recipient (a number, or on WhatsApp a user id)
    /// instead of the sender.
    outbound_to: Option<String>,
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

impl From<super::whatsapp::Binding> for WhatsappBinding {
    fn from(b: super::whatsapp::Binding) -> Self {
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

// Agents
#[utoipa::path(get, path = "/api/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = [AgentSummary]), (status = 401, body = ErrorBody)))]
async fn list_agents(State(state): State<AppState>, ApiUser(me): ApiUser) -> ApiResult<Json<Vec<AgentSummary>>> {
    let list = super::list(&state, &me).await?;
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
    let created = super::create(&state, &me, input).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/agents/{name}", tag = "agents", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn get_agent(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Agent>> {
    let id = super::id_by_name(&state, &me, &name).await?;
    Ok(Json(super::detail(&state, &me, &id).await?.into()))
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
    let id = super::id_by_name(&state, &me, &name).await?;
    let input = AgentInput::try_from(body(json)?)?;
    Ok(Json(super::update(&state, &me, &id, input).await?.into()))
}

#[utoipa::path(put, path = "/api/agents/{name}/senses", tag = "agents", security(("bearer" = [])),
    request_body = SensesBody, params(("name" = String, Path)),
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_senses(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
    json: Result<Json<SensesBody>, JsonRejection>,
) -> ApiResult<Json<Agent>> {
    let id = super::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let images = match b.images.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        None => app::agents::ImageInput::Off,
        Some(images) => app::agents::ImageInput::parse(images)
            .ok_or_else(|| AppError::invalid("images", "Photos go to the model as off, link or inline."))?,
    };
    let input = app::agents::port::SensesInput {
        transcription_url: b.transcription_url,
        transcription_model: b.transcription_model,
        transcription_key: b.transcription_key,
        transcription_off: b.transcription_off,
        images,
    };
    Ok(Json(super::senses::set_senses(&state, &me, &id, input).await?.into()))
}

#[utoipa::path(get, path = "/api/transcription", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Transcription)))]
async fn get_transcription(State(state): State<AppState>, ApiUser(me): ApiUser) -> ApiResult<Json<Transcription>> {
    Ok(Json(super::senses::organization(&state, &me).await?.into()))
}

#[utoipa::path(put, path = "/api/transcription", tag = "agents", security(("bearer" = [])),
    request_body = TranscriptionBody,
    responses((status = 200, body = Transcription), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_transcription(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    json: Result<Json<TranscriptionBody>, JsonRejection>,
) -> ApiResult<Json<Transcription>> {
    let b = body(json)?;
    let input = app::agents::port::TranscriptionInput {
        url: b.transcription_url,
        model: b.transcription_model,
        key: b.transcription_key,
    };
    Ok(Json(super::senses::set_organization(&state, &me, input).await?.into()))
}

#[utoipa::path(delete, path = "/api/agents/{name}", tag = "agents", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_agent(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let id = super::id_by_name(&state, &me, &name).await?;
    super::delete(&state, &me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Channels
fn channel(c: app::agents::ChannelRow) -> Channel {
    Channel {
        id: c.id,
        connector: c.connector_name,
        number: c.phone_number,
        provider: (c.provider).as_str().into(),
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
    let id = super::id_by_name(&state, &me, &name).await?;
    Ok(Json(super::channels::channels(&state, &me, &id).await?.into_iter().map(channel).collect()))
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
    let id = super::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    super::channels::check_routes(&state, &me, &b.number_id, b.inbound_from.as_deref(), b.outbound_to.as_deref())
        .await?;
    let mut row = super::channels::add_channel(&state, &me, &id, &b.number_id).await?;
    if b.inbound_from.is_some() || b.outbound_to.is_some() {
        let routed =
            super::channels::set_routes(&state, &me, &id, &row.id, b.inbound_from.as_deref(), b.outbound_to.as_deref())
                .await;
        row = match routed {
            Ok(row) => row,
            Err(e) => {
                // Nothing half-saved: a route refused after all (the number changed meanwhile)
                // takes the new channel back.
                super::channels::remove_channel(&state, &me, &id, &row.id).await?;
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
    let id = super::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let row =
        super::channels::set_routes(&state, &me, &id, &channel_id, b.inbound_from.as_deref(), b.outbound_to.as_deref())
            .await?;
    Ok(Json(channel(row)))
}

#[utoipa::path(delete, path = "/api/agents/{name}/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_channel(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path((name, channel_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = super::id_by_name(&state, &me, &name).await?;
    super::channels::remove_channel(&state, &me, &id, &channel_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// The WhatsApp binding (`crate::agents::whatsapp`), with Trinity's routes
async fn whatsapp_bindings(state: &AppState, me: &Me, agent_id: &str) -> ApiResult<Vec<WhatsappBinding>> {
    Ok(super::whatsapp::bindings(state, me, agent_id).await?.into_iter().map(WhatsappBinding::from).collect())
}

#[utoipa::path(get, path = "/api/agents/{name}/whatsapp", tag = "whatsapp", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = WhatsappStatus), (status = 404, body = ErrorBody)))]
async fn whatsapp_status(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<WhatsappStatus>> {
    let id = super::id_by_name(&state, &me, &name).await?;
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
    let id = super::id_by_name(&state, &me, &name).await?;
    let b = body(json)?;
    let bindings: Vec<WhatsappBinding> = super::whatsapp::bind(&state, &me, &id, &b.connector, &b.number)
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
    let id = super::id_by_name(&state, &me, &name).await?;
    super::whatsapp::unbind(&state, &me, &id).await?;
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
    let id = super::id_by_name(&state, &me, &name).await?;
    let b = json.map(|Json(b)| b).unwrap_or_default();
    let Some(binding) = super::whatsapp::bindings(&state, &me, &id).await?.into_iter().next() else {
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
