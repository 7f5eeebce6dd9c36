//! The server functions of connectors: the browser's calls. Each checks the session (and through
//! [`super::port::ConnectorsPort`], the organization and role) before doing anything.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for connectors.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::ConnectorsPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "connector_choices")]
pub async fn connector_choices() -> Result<Vec<ConnectorChoice>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.connector_choices(&me).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "list_connectors")]
pub async fn list_connectors() -> Result<Vec<ConnectorSummary>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_connectors(&me).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "create_connector")]
pub async fn create_connector(
    name: String,
    account_sid: String,
    auth_token: String,
    #[server(default)] receive_inbound: Option<String>,
) -> Result<ConnectorSummary, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let input = super::port::ConnectorInput {
            name,
            account_sid,
            auth_token: Some(auth_token),
            receive_inbound: receive_inbound.is_some(),
        };
        svc.create_connector(&me, input).await
    })
    .await
}

/// Edits a connector; an empty token keeps the stored one.
#[server(prefix = "/ui", endpoint = "update_connector")]
pub async fn update_connector(
    id: String,
    name: String,
    account_sid: String,
    #[server(default)] auth_token: String,
    #[server(default)] receive_inbound: Option<String>,
) -> Result<ConnectorSummary, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let input = super::port::ConnectorInput {
            name,
            account_sid,
            auth_token: (!auth_token.trim().is_empty()).then_some(auth_token),
            receive_inbound: receive_inbound.is_some(),
        };
        svc.update_connector(&me, &id, input).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "verify_connector")]
pub async fn verify_connector(id: String) -> Result<ConnectorSummary, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.verify_connector(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "get_connector")]
pub async fn get_connector(id: String) -> Result<ConnectorDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.connector(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "list_numbers")]
pub async fn list_numbers(connector_id: String) -> Result<Vec<NumberRow>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_numbers(&me, &connector_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "save_numbers", input = Json)]
pub async fn save_numbers(
    connector_id: String,
    active: Vec<String>,
    #[server(default)] unbind: bool,
) -> Result<Vec<NumberRow>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.save_numbers(&me, &connector_id, active, unbind).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "add_sandbox")]
pub async fn add_sandbox(connector_id: String, join: String) -> Result<Vec<NumberRow>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.add_sandbox(&me, &connector_id, &join).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "set_all_webhooks")]
pub async fn set_all_webhooks(connector_id: String) -> Result<Vec<WebhookOutcome>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.set_all_webhooks(&me, &connector_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "delete_connector")]
pub async fn delete_connector(id: String) -> Result<DisconnectReport, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.delete_connector(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "set_webhook")]
pub async fn set_webhook(connector_id: String, number_id: String) -> Result<WebhookOutcome, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.set_webhook(&me, &connector_id, &number_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "regenerate_webhook_url")]
pub async fn regenerate_webhook_url(id: String) -> Result<ConnectorDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.regenerate_webhook_url(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "send_test_message")]
pub async fn send_test_message(connector_id: String, number_id: String, to: String) -> Result<String, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.send_test_message(&me, &connector_id, &number_id, &to).await
    })
    .await
}
