//! The types the browser sees of connectors. None of them carries a secret.

use serde::{Deserialize, Serialize};

/// A connector as agent owners see it: a name to pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorChoice {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectorState {
    Active,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    Connected,
    CredentialsRejected,
    Unreachable,
    Checking,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Connected => "Connected",
            Health::CredentialsRejected => "Credentials rejected",
            Health::Unreachable => "Unreachable",
            Health::Checking => "Checking",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorSummary {
    pub id: String,
    pub name: String,
    pub account_sid: String,
    pub state: ConnectorState,
    pub health: Health,
    /// Why the connector is in Error, in Twilio's words where it gave some.
    pub reason: Option<String>,
    pub active_numbers: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorDetail {
    pub summary: ConnectorSummary,
    pub receive_inbound: bool,
    pub account_name: Option<String>,
    pub trial: bool,
    /// When Twilio was last asked about these credentials, e.g. `2026-11-21 18:40 UTC`.
    pub last_checked: Option<String>,
    /// Set while the public URL the webhook URLs are built from is unset or not https.
    pub public_url_warning: Option<String>,
    /// The URL to paste into Twilio by hand, if one prefers not to use "Set webhook".
    pub inbound_webhook_url: String,
    /// Whether the Auth Token is stored (it is never sent back).
    pub auth_token_set: bool,
    /// The agents answering on this connector's numbers: deleting it unbinds them.
    pub bound_channels: Vec<BoundChannel>,
    /// Conversations held on this connector's numbers (deleted with it).
    pub conversations: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundChannel {
    pub agent: String,
    pub phone_number: String,
    pub provider: Provider,
}

/// What deleting a connector did to each number's webhook in Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectReport {
    pub connector: String,
    pub numbers: Vec<CleanupLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupLine {
    pub phone_number: String,
    pub provider: Provider,
    pub outcome: Cleanup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cleanup {
    /// It pointed at this connector and was cleared.
    Cleared,
    /// Someone points it elsewhere now: left as it is.
    LeftElsewhere(String),
    /// Twilio shows no webhook on it.
    NoneSet,
    /// Twilio could not be asked; the reason, to clear it by hand.
    Failed(String),
}

impl Cleanup {
    pub fn describe(&self) -> String {
        match self {
            Cleanup::Cleared => "Webhook cleared in Twilio.".into(),
            Cleanup::LeftElsewhere(url) => format!("Left as it is: its webhook now points at {url}."),
            Cleanup::NoneSet => "No webhook was set in Twilio.".into(),
            Cleanup::Failed(why) => format!("Not cleared ({why}). Clear it in the Twilio Console."),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provider {
    WhatsApp,
    Sms,
}

impl Provider {
    /// As the REST API and links say it: `whatsapp` or `sms`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::WhatsApp => "whatsapp",
            Provider::Sms => "sms",
        }
    }

    /// Reads [`Self::as_str`]'s words back; anything else is no provider.
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "whatsapp" => Some(Provider::WhatsApp),
            "sms" => Some(Provider::Sms),
            _ => None,
        }
    }

    /// A provider as the database stores it (`whatsapp` or `sms`, checked by the schema).
    pub fn stored(s: &str) -> Provider {
        Provider::parse(s).unwrap_or(Provider::WhatsApp)
    }

    pub fn label(self) -> &'static str {
        match self {
            Provider::WhatsApp => "WhatsApp",
            Provider::Sms => "SMS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookState {
    Unknown,
    Configured,
    NotConfigured,
    /// The WhatsApp sandbox: its webhook is set in the Twilio Console, there is no API for it.
    Manual,
}

impl WebhookState {
    pub fn label(self) -> &'static str {
        match self {
            WebhookState::Unknown => "Webhook not checked",
            WebhookState::Configured => "Webhook configured",
            WebhookState::NotConfigured => "Webhook not set up in provider",
            WebhookState::Manual => "Set by hand in the Twilio Console",
        }
    }
}

/// One row of a connector's Phone Numbers checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberRow {
    pub id: String,
    pub phone_number: String,
    pub provider: Provider,
    pub display_name: Option<String>,
    pub sender_status: Option<String>,
    pub active: bool,
    pub webhook: WebhookState,
    pub webhook_detail: Option<String>,
    pub bound_agent: Option<String>,
    /// For the WhatsApp sandbox: the message testers send to join it, e.g. `join silver-tiger`.
    pub sandbox_join: Option<String>,
}

/// The number of the WhatsApp sandbox every Twilio account shares.
pub const SANDBOX_NUMBER: &str = "+14155238886";

/// One phone number of the checklist with what it can do: its WhatsApp sender and its SMS
/// number are separate resources in Twilio, each activated and given a webhook on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberGroup {
    pub phone_number: String,
    pub display_name: Option<String>,
    pub sender_status: Option<String>,
    pub capabilities: Vec<NumberRow>,
}

/// Merges the checklist into one group per phone number, WhatsApp before SMS, in the rows' order.
pub fn group_numbers(rows: Vec<NumberRow>) -> Vec<NumberGroup> {
    let mut groups: Vec<NumberGroup> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|g| g.phone_number == row.phone_number) {
            Some(g) => {
                g.display_name = g.display_name.take().or_else(|| row.display_name.clone());
                g.sender_status = g.sender_status.take().or_else(|| row.sender_status.clone());
                g.capabilities.push(row);
                g.capabilities.sort_by_key(|r| r.provider == Provider::Sms);
            }
            None => groups.push(NumberGroup {
                phone_number: row.phone_number.clone(),
                display_name: row.display_name.clone(),
                sender_status: row.sender_status.clone(),
                capabilities: vec![row],
            }),
        }
    }
    groups
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookOutcome {
    pub number_id: String,
    pub phone_number: String,
    pub provider: Provider,
    pub state: WebhookState,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phone: &str, provider: Provider, name: Option<&str>) -> NumberRow {
        NumberRow {
            id: format!("{phone}-{}", provider.label()),
            phone_number: phone.into(),
            provider,
            display_name: name.map(str::to_string),
            sender_status: None,
            active: false,
            webhook: WebhookState::Unknown,
            webhook_detail: None,
            bound_agent: None,
            sandbox_join: None,
        }
    }

    #[test]
    fn numbers_group_by_phone_number_with_whatsapp_first() {
        let groups = group_numbers(vec![
            row("+1555", Provider::Sms, Some("Line")),
            row("+1666", Provider::WhatsApp, None),
            row("+1555", Provider::WhatsApp, None),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].phone_number, "+1555");
        assert_eq!(groups[0].display_name.as_deref(), Some("Line"));
        let providers: Vec<Provider> = groups[0].capabilities.iter().map(|r| r.provider).collect();
        assert_eq!(providers, vec![Provider::WhatsApp, Provider::Sms]);
        assert_eq!(groups[1].capabilities.len(), 1);
    }
}
