//! The backoffice's connectors ([`app::connectors::port::ConnectorsPort`]), answered by the services here.

use app::{
    accounts::Me,
    connectors::{
        port::{ConnectorInput, ConnectorsPort, Result},
        *,
    },
};
use async_trait::async_trait;

use crate::{connectors, state::AppState};

#[async_trait]
impl ConnectorsPort for AppState {
    async fn connector_choices(&self, me: &Me) -> Result<Vec<ConnectorChoice>> {
        Ok(connectors::manage::choices(self, me).await?)
    }
    async fn list_connectors(&self, me: &Me) -> Result<Vec<ConnectorSummary>> {
        Ok(connectors::manage::list(self, me).await?)
    }
    async fn create_connector(&self, me: &Me, input: ConnectorInput) -> Result<ConnectorSummary> {
        Ok(connectors::manage::create(self, me, input).await?)
    }
    async fn update_connector(&self, me: &Me, id: &str, input: ConnectorInput) -> Result<ConnectorSummary> {
        Ok(connectors::manage::update(self, me, id, input).await?)
    }
    async fn verify_connector(&self, me: &Me, id: &str) -> Result<ConnectorSummary> {
        Ok(connectors::manage::verify(self, me, id).await?)
    }
    async fn connector(&self, me: &Me, id: &str) -> Result<ConnectorDetail> {
        Ok(connectors::manage::detail(self, me, id).await?)
    }
    async fn list_numbers(&self, me: &Me, connector_id: &str) -> Result<Vec<NumberRow>> {
        Ok(connectors::numbers::list_numbers(self, me, connector_id).await?)
    }
    async fn save_numbers(
        &self,
        me: &Me,
        connector_id: &str,
        active: Vec<String>,
        unbind: bool,
    ) -> Result<Vec<NumberRow>> {
        Ok(connectors::numbers::save_numbers(self, me, connector_id, active, unbind).await?)
    }
    async fn add_sandbox(&self, me: &Me, connector_id: &str, join: &str) -> Result<Vec<NumberRow>> {
        Ok(connectors::numbers::add_sandbox(self, me, connector_id, join).await?)
    }
    async fn set_all_webhooks(&self, me: &Me, connector_id: &str) -> Result<Vec<WebhookOutcome>> {
        Ok(connectors::webhooks::set_all_webhooks(self, me, connector_id).await?)
    }
    async fn delete_connector(&self, me: &Me, id: &str) -> Result<DisconnectReport> {
        Ok(connectors::manage::delete(self, me, id).await?)
    }
    async fn regenerate_webhook_url(&self, me: &Me, id: &str) -> Result<ConnectorDetail> {
        Ok(connectors::manage::regenerate_webhook_url(self, me, id).await?)
    }
    async fn send_test_message(&self, me: &Me, connector_id: &str, number_id: &str, to: &str) -> Result<String> {
        Ok(connectors::manage::send_test_message(self, me, connector_id, number_id, to).await?)
    }
    async fn set_webhook(&self, me: &Me, connector_id: &str, number_id: &str) -> Result<WebhookOutcome> {
        Ok(connectors::webhooks::set_webhook(self, me, connector_id, number_id).await?)
    }
}
