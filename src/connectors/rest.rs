//! The connectors' REST routes (`/api/connectors…`, organization admins only). Only
//! translation: the services in this folder do the work; the Auth Token never leaves Switchboard.

use app::connectors::{port::ConnectorInput, WebhookState};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    http::auth::{body, ApiResult, ApiUser, ErrorBody},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/connectors", get(list_connectors).post(create_connector))
        .route("/api/connectors/{id}", get(get_connector).put(update_connector).delete(delete_connector))
        .route("/api/connectors/{id}/numbers", get(list_numbers))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Connector {
    id: String,
    pub(crate) name: String,
    account_sid: String,
    /// `active` or `error`.
    state: String,
    /// `connected`, `credentials_rejected`, `unreachable` or `checking`.
    pub(crate) health: String,
    pub(crate) reason: Option<String>,
    active_numbers: i64,
}

impl From<app::connectors::ConnectorSummary> for Connector {
    fn from(c: app::connectors::ConnectorSummary) -> Self {
        Connector {
            id: c.id,
            name: c.name,
            account_sid: c.account_sid,
            state: match c.state {
                app::connectors::ConnectorState::Active => "active".into(),
                app::connectors::ConnectorState::Error => "error".into(),
            },
            health: match c.health {
                app::connectors::Health::Connected => "connected".into(),
                app::connectors::Health::CredentialsRejected => "credentials_rejected".into(),
                app::connectors::Health::Unreachable => "unreachable".into(),
                app::connectors::Health::Checking => "checking".into(),
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

#[utoipa::path(get, path = "/api/connectors", tag = "connectors", security(("bearer" = [])),
    responses((status = 200, body = [Connector]), (status = 403, body = ErrorBody)))]
async fn list_connectors(State(state): State<AppState>, ApiUser(me): ApiUser) -> ApiResult<Json<Vec<Connector>>> {
    Ok(Json(super::manage::list(&state, &me).await?.into_iter().map(Connector::from).collect()))
}

fn connector_input(b: ConnectorBody) -> ConnectorInput {
    ConnectorInput {
        name: b.name,
        account_sid: b.account_sid,
        auth_token: b.auth_token.filter(|t| !t.trim().is_empty()),
        receive_inbound: b.receive_inbound,
    }
}

fn connector_detail(d: app::connectors::ConnectorDetail) -> ConnectorDetail {
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
    let created = super::manage::create(&state, &me, connector_input(body(json)?)).await?;
    Ok((StatusCode::CREATED, Json(connector_detail(super::manage::detail(&state, &me, &created.id).await?))))
}

#[utoipa::path(get, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ConnectorDetail), (status = 404, body = ErrorBody)))]
async fn get_connector(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectorDetail>> {
    Ok(Json(connector_detail(super::manage::detail(&state, &me, &id).await?)))
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
    super::manage::update(&state, &me, &id, connector_input(body(json)?)).await?;
    Ok(Json(connector_detail(super::manage::detail(&state, &me, &id).await?)))
}

#[utoipa::path(delete, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_connector(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    super::manage::delete(&state, &me, &id).await?;
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
    let rows = super::numbers::list_numbers(&state, &me, &id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| Number {
                id: r.id,
                number: r.phone_number,
                provider: (r.provider).as_str().into(),
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
