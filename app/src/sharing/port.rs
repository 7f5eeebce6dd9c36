//! What sharing's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

#[async_trait]
pub trait SharingPort: Send + Sync + 'static {
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
}
