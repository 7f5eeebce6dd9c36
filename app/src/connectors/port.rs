//! What connectors's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

/// Input of "New connector" and of a credential edit. The token is absent on an edit that
/// keeps the stored one.
#[derive(Clone)]
pub struct ConnectorInput {
    pub name: String,
    pub account_sid: String,
    pub auth_token: Option<String>,
    pub receive_inbound: bool,
}

impl ConnectorInput {
    /// A new connector as "New connector" starts it: receiving guests' messages.
    pub fn new(name: impl Into<String>, account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            account_sid: account_sid.into(),
            auth_token: Some(auth_token.into()),
            receive_inbound: true,
        }
    }
}

impl std::fmt::Debug for ConnectorInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorInput")
            .field("name", &self.name)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "[redacted]"))
            .field("receive_inbound", &self.receive_inbound)
            .finish()
    }
}

#[async_trait]
pub trait ConnectorsPort: Send + Sync + 'static {
    async fn list_connectors(&self, me: &Me) -> Result<Vec<ConnectorSummary>>;
    /// The organization's connectors as names to pick from (for agent owners too).
    async fn connector_choices(&self, me: &Me) -> Result<Vec<ConnectorChoice>>;
    async fn create_connector(&self, me: &Me, input: ConnectorInput) -> Result<ConnectorSummary>;
    async fn update_connector(&self, me: &Me, id: &str, input: ConnectorInput) -> Result<ConnectorSummary>;
    async fn connector(&self, me: &Me, id: &str) -> Result<ConnectorDetail>;
    /// Checks the stored credentials with Twilio again; nothing is sent.
    async fn verify_connector(&self, me: &Me, id: &str) -> Result<ConnectorSummary>;
    /// Reads the account's senders and numbers from Twilio and merges them with Switchboard's.
    async fn list_numbers(&self, me: &Me, connector_id: &str) -> Result<Vec<NumberRow>>;
    /// Activates exactly the `active` numbers. Deactivating a number an agent answers on is
    /// refused unless `unbind` confirms that its channel goes too.
    async fn save_numbers(
        &self,
        me: &Me,
        connector_id: &str,
        active: Vec<String>,
        unbind: bool,
    ) -> Result<Vec<NumberRow>>;
    /// Adds the WhatsApp sandbox, with the keyword testers send to join it.
    async fn add_sandbox(&self, me: &Me, connector_id: &str, join: &str) -> Result<Vec<NumberRow>>;
    async fn set_webhook(&self, me: &Me, connector_id: &str, number_id: &str) -> Result<WebhookOutcome>;
    /// "Set webhook on all active numbers": a result per number.
    async fn set_all_webhooks(&self, me: &Me, connector_id: &str) -> Result<Vec<WebhookOutcome>>;
    /// Deletes the connector (its numbers, channels and conversations) after clearing each
    /// number's webhook in Twilio where it still points at this connector.
    async fn delete_connector(&self, me: &Me, id: &str) -> Result<DisconnectReport>;
    /// A new inbound webhook URL; the old one stops working and every number needs its webhook set again.
    async fn regenerate_webhook_url(&self, me: &Me, id: &str) -> Result<ConnectorDetail>;
    /// Sends one test message from an active number; returns Twilio's Message SID.
    async fn send_test_message(&self, me: &Me, connector_id: &str, number_id: &str, to: &str) -> Result<String>;
}
