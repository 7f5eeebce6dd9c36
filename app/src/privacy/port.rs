//! What privacy's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

#[async_trait]
pub trait PrivacyPort: Send + Sync + 'static {
    async fn privacy(&self, me: &Me) -> Result<Privacy>;
    async fn set_forget_mode(&self, me: &Me, mode: ForgetMode) -> Result<ForgetMode>;
    /// Forgets the guest of a conversation, across the organization.
    async fn forget_guest(&self, me: &Me, conversation_id: &str) -> Result<Forgotten>;
    /// Approves (forgets the guest) or declines a guest's `/forget`.
    async fn decide_forget(&self, me: &Me, request_id: &str, approve: bool) -> Result<String>;
    async fn audit(&self, me: &Me, older: Option<String>) -> Result<AuditPage>;
    /// Sets the organization's retention period (`agent_id` empty) or an agent's; `days` empty:
    /// keep until deleted (for an agent: follow the organization).
    async fn set_retention(&self, me: &Me, agent_id: &str, days: &str) -> Result<()>;
}
