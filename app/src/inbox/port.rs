//! What inbox's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

#[async_trait]
pub trait InboxPort: Send + Sync + 'static {
    async fn conversations(&self, me: &Me, agent_id: &str) -> Result<Vec<ConversationView>>;
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
}
