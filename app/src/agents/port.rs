//! What agents's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

#[derive(Debug, Clone)]
pub struct TemplateChoice {
    pub connector_id: String,
    pub sid: String,
    pub variables: String,
}

/// An agent's senses as the form gives them: an empty URL turns transcription off; an empty key
/// keeps the stored one.
#[derive(Clone, Default)]
pub struct SensesInput {
    pub transcription_url: String,
    pub transcription_model: String,
    pub transcription_key: Option<String>,
    /// Voice notes are never transcribed, not even with the organization's API.
    pub transcription_off: bool,
    pub images: ImageInput,
}

impl std::fmt::Debug for SensesInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensesInput")
            .field("transcription_url", &self.transcription_url)
            .field("transcription_model", &self.transcription_model)
            .field("transcription_key", &self.transcription_key.as_ref().map(|_| "[redacted]"))
            .field("transcription_off", &self.transcription_off)
            .field("images", &self.images)
            .finish()
    }
}

/// The organization's transcription API as its form gives it: an empty URL turns it off; an empty
/// key keeps the stored one.
#[derive(Clone, Default)]
pub struct TranscriptionInput {
    pub url: String,
    pub model: String,
    pub key: Option<String>,
}

impl std::fmt::Debug for TranscriptionInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptionInput")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
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
pub trait AgentsPort: Send + Sync + 'static {
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
    /// The account's WhatsApp templates, read live from Twilio's Content API.
    async fn list_templates(&self, me: &Me, connector_id: &str) -> Result<Vec<TemplateOption>>;
    /// Chooses (or, with `None`, clears) the approved template sent outside the 24-hour window.
    async fn set_agent_template(&self, me: &Me, agent_id: &str, choice: Option<TemplateChoice>) -> Result<AgentDetail>;
    /// Saves what the agent perceives of guests' files (voice notes, photos).
    async fn set_agent_senses(&self, me: &Me, agent_id: &str, input: SensesInput) -> Result<AgentDetail>;
    /// The organization's transcription API (any member reads it; admins change it).
    async fn transcription(&self, me: &Me) -> Result<Transcription>;
    async fn set_transcription(&self, me: &Me, input: TranscriptionInput) -> Result<Transcription>;
}
