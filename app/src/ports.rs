//! The port between the UI and the server: what server functions may ask of Switchboard.
//! The server crate implements it; server functions find it in Leptos context.

use async_trait::async_trait;

use crate::{error::AppError, model::*};

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

#[derive(Debug, Clone)]
pub struct TemplateChoice {
    pub connector_id: String,
    pub sid: String,
    pub variables: String,
}

/// "New agent" and an agent's edit. Empty texts mean none.
#[derive(Debug, Clone, Default)]
pub struct AgentInput {
    pub name: String,
    pub description: String,
    /// The system prompt of an LLM brain.
    pub instructions: String,
    /// Sent once, before the first reply of a new conversation.
    pub welcome_message: String,
    pub fallback_reply: String,
    pub faq: Vec<FaqEntry>,
    pub brain: BrainInput,
}

/// The brain an agent thinks with, as the form gives it.
#[derive(Clone, Default)]
pub enum BrainInput {
    /// The built-in FAQ: works offline.
    #[default]
    Faq,
    /// An OpenAI-compatible chat-completions API. `api_key: None` keeps the stored key.
    OpenAi { base_url: String, model: String, api_key: Option<String>, timeout_secs: Option<u64> },
    /// The customer's HTTP endpoint, called with the turn as signed JSON.
    Hook { url: String, timeout_secs: Option<u64> },
}

impl std::fmt::Debug for BrainInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrainInput::Faq => f.write_str("Faq"),
            BrainInput::OpenAi { base_url, model, api_key, timeout_secs } => f
                .debug_struct("OpenAi")
                .field("base_url", base_url)
                .field("model", model)
                .field("api_key", &api_key.as_ref().map(|_| "[redacted]"))
                .field("timeout_secs", timeout_secs)
                .finish(),
            BrainInput::Hook { url, timeout_secs } => {
                f.debug_struct("Hook").field("url", url).field("timeout_secs", timeout_secs).finish()
            }
        }
    }
}

#[async_trait]
pub trait Backoffice: Send + Sync + 'static {
    async fn needs_setup(&self) -> Result<bool>;
    /// Creates the organization and its first admin, given a setup token Switchboard printed at
    /// start; refused once any user exists.
    async fn setup(&self, setup_token: String, org_name: String, email: String, password: String) -> Result<Me>;
    /// Checks a password, counting failures against the account and the client's address.
    async fn authenticate(&self, email: String, password: String, client: Option<std::net::IpAddr>) -> Result<Me>;
    async fn user(&self, user_id: &str) -> Result<Option<Me>>;

    async fn list_users(&self, me: &Me) -> Result<Vec<UserRow>>;
    async fn add_user(&self, me: &Me, email: &str, role: Role, password: String) -> Result<UserRow>;
    async fn remove_user(&self, me: &Me, user_id: &str) -> Result<()>;

    /// The signed-in user's own API tokens.
    async fn list_tokens(&self, me: &Me) -> Result<Vec<ApiTokenRow>>;
    async fn create_token(&self, me: &Me, name: &str) -> Result<NewApiToken>;
    async fn revoke_token(&self, me: &Me, id: &str) -> Result<()>;

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

    async fn list_agents(&self, me: &Me) -> Result<Vec<AgentSummary>>;
    /// Creates an agent; with the HTTP hook brain, its signing secret is in the answer, once.
    async fn create_agent(&self, me: &Me, input: AgentInput) -> Result<AgentDetail>;
    async fn agent(&self, me: &Me, id: &str) -> Result<AgentDetail>;
    /// Saves an edit; switching to the HTTP hook brain creates its signing secret, returned once.
    async fn update_agent(&self, me: &Me, id: &str, input: AgentInput) -> Result<AgentDetail>;
    /// Deletes the agent; its channels go with it, its numbers and conversations stay.
    async fn delete_agent(&self, me: &Me, id: &str) -> Result<()>;
    /// "Try the agent": runs its brain on a chat typed in the backoffice, without WhatsApp.
    async fn try_agent(&self, me: &Me, id: &str, chat: Vec<ChatLine>) -> Result<TryReply>;
    /// A new signing secret for the HTTP hook brain, returned once.
    async fn regenerate_hook_secret(&self, me: &Me, id: &str) -> Result<String>;
    async fn list_channels(&self, me: &Me, agent_id: &str) -> Result<Vec<ChannelRow>>;
    async fn channel_options(&self, me: &Me, agent_id: &str, connector_id: &str) -> Result<Vec<ChannelOption>>;
    async fn add_channel(&self, me: &Me, agent_id: &str, number_id: &str) -> Result<ChannelRow>;
    async fn remove_channel(&self, me: &Me, agent_id: &str, channel_id: &str) -> Result<()>;
    /// A channel's routes: only messages from `inbound_from` reach the agent; replies go to
    /// `outbound_to` instead of the sender. Empty clears either.
    async fn set_channel_routes(
        &self,
        me: &Me,
        agent_id: &str,
        channel_id: &str,
        inbound_from: Option<String>,
        outbound_to: Option<String>,
    ) -> Result<ChannelRow>;
    async fn conversations(&self, me: &Me, agent_id: &str) -> Result<Vec<ConversationView>>;
    /// The account's WhatsApp templates, read live from Twilio's Content API.
    async fn list_templates(&self, me: &Me, connector_id: &str) -> Result<Vec<TemplateOption>>;
    /// Chooses (or, with `None`, clears) the approved template sent outside the 24-hour window.
    async fn set_agent_template(&self, me: &Me, agent_id: &str, choice: Option<TemplateChoice>) -> Result<AgentDetail>;
    /// The agent's Sharing page: its access policy and onboarding, shared list, access requests
    /// and verified guests.
    async fn sharing(&self, me: &Me, agent_id: &str) -> Result<SharingView>;
    async fn set_access(&self, me: &Me, agent_id: &str, settings: AccessSettings) -> Result<SharingView>;
    async fn add_shared_email(&self, me: &Me, agent_id: &str, email: &str) -> Result<SharingView>;
    async fn remove_shared_email(&self, me: &Me, agent_id: &str, email: &str) -> Result<SharingView>;
    /// Approves or denies an access request and tells the guest; the answer says whether they
    /// could be told (inside their 24-hour window, or with the agent's template).
    async fn decide_access(&self, me: &Me, agent_id: &str, request_id: &str, approve: bool) -> Result<String>;
    /// Unlinks a guest's verified email address: they must /login again.
    async fn revoke_guest(&self, me: &Me, agent_id: &str, guest_key: &str) -> Result<SharingView>;
    /// The inbox: one agent's conversations or the organization's, filtered, a page at a time.
    async fn inbox(&self, me: &Me, filter: InboxFilter) -> Result<InboxPage>;
    async fn conversation(&self, me: &Me, id: &str) -> Result<ConversationDetail>;
    async fn execution(&self, me: &Me, id: &str) -> Result<ExecutionView>;
    /// Human takeover: pauses (or hands back) the agent in one conversation.
    async fn set_paused(&self, me: &Me, id: &str, paused: bool) -> Result<ConversationDetail>;
    async fn end_conversation(&self, me: &Me, id: &str) -> Result<ConversationDetail>;
    /// A reply written by staff: free text inside the 24-hour window, a template (Content SID
    /// and variables) at any time.
    async fn staff_reply(
        &self,
        me: &Me,
        id: &str,
        body: String,
        template: Option<(String, String)>,
    ) -> Result<ConversationDetail>;
    /// How long a conversation may be quiet before it ends, in seconds.
    async fn set_inactivity(&self, me: &Me, agent_id: &str, seconds: i64) -> Result<i64>;
    async fn inactivity(&self, me: &Me, agent_id: &str) -> Result<i64>;
    async fn dashboard(&self, me: &Me) -> Result<Dashboard>;
}
