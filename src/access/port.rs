//! The backoffice's sharing ([`app::sharing::port::SharingPort`]), answered by the services here.

use app::{
    accounts::Me,
    sharing::{
        port::{Result, SharingPort},
        *,
    },
};
use async_trait::async_trait;

use crate::{access, state::AppState};

#[async_trait]
impl SharingPort for AppState {
    async fn sharing(&self, me: &Me, agent_id: &str) -> Result<SharingView> {
        Ok(access::sharing::sharing(self, me, agent_id).await?)
    }
    async fn set_access(&self, me: &Me, agent_id: &str, settings: AccessSettings) -> Result<SharingView> {
        access::sharing::set_access(self, me, agent_id, settings).await?;
        Ok(access::sharing::sharing(self, me, agent_id).await?)
    }
    async fn add_shared_email(&self, me: &Me, agent_id: &str, email: &str) -> Result<SharingView> {
        access::sharing::add_shared_email(self, me, agent_id, email).await?;
        Ok(access::sharing::sharing(self, me, agent_id).await?)
    }
    async fn remove_shared_email(&self, me: &Me, agent_id: &str, email: &str) -> Result<SharingView> {
        access::sharing::remove_shared_email(self, me, agent_id, email).await?;
        Ok(access::sharing::sharing(self, me, agent_id).await?)
    }
    async fn decide_access(&self, me: &Me, agent_id: &str, request_id: &str, approve: bool) -> Result<String> {
        Ok(access::sharing::decide(self, me, agent_id, request_id, approve).await?)
    }
    async fn revoke_guest(&self, me: &Me, agent_id: &str, guest_key: &str) -> Result<SharingView> {
        access::sharing::revoke(self, me, agent_id, guest_key).await?;
        Ok(access::sharing::sharing(self, me, agent_id).await?)
    }
}
