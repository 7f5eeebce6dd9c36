//! The REST API under `/api`: everything the backoffice does, scriptable with a personal API
//! token (`Authorization: Bearer sbt_…`). Each feature serves its own routes (`rest.rs` in
//! `agents/`, `connectors/`, `inbox/`, `privacy/`), calling the same services as the pages, so roles and
//! organizations are checked the same way. Errors are JSON with a stable code:
//! `{"error": {"code": "not_found", "message": "Agent not found."}}`. The OpenAPI document is
//! generated from the routes' annotations and served at `/api/openapi.json`.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{any, get},
    Json, Router,
};
use utoipa::OpenApi;

use crate::{
    agents::rest as agents, connectors::rest as connectors, error::ApiError, inbox::rest as inbox,
    privacy::rest as privacy, state::AppState,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .merge(agents::routes())
        .merge(connectors::routes())
        .merge(inbox::routes())
        .merge(privacy::routes())
        .route(
            "/api/{*rest}",
            any(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such API route.") }),
        )
        .with_state(state)
}

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
        agents::list_agents, agents::create_agent, agents::get_agent, agents::update_agent, agents::set_senses,
        agents::get_transcription, agents::set_transcription,
        agents::delete_agent,
        agents::list_channels, agents::add_channel, agents::set_routes, agents::remove_channel,
        inbox::list_conversations, inbox::send_message,
        agents::whatsapp_status, agents::whatsapp_configure, agents::whatsapp_remove, agents::whatsapp_test,
        connectors::list_connectors, connectors::create_connector, connectors::get_connector,
        connectors::update_connector, connectors::delete_connector, connectors::list_numbers,
        privacy::forget_guest, privacy::list_audit,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "agents"), (name = "channels"), (name = "conversations"),
        (name = "whatsapp", description = "The routes Trinity's users know"), (name = "connectors", description = "Organization admins only"),
        (name = "privacy", description = "Organization admins only: guests forgotten, the audit log"),
    )
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
