//! The backoffice's privacy pages ([`app::privacy::port::PrivacyPort`]), answered by the services here.

use app::{
    accounts::Me,
    privacy::{
        port::{PrivacyPort, Result},
        *,
    },
};
use async_trait::async_trait;

use crate::{audit, privacy, state::AppState};

#[async_trait]
impl PrivacyPort for AppState {
    async fn privacy(&self, me: &Me) -> Result<Privacy> {
        Ok(privacy::privacy(self, me).await?)
    }

    async fn set_forget_mode(&self, me: &Me, mode: ForgetMode) -> Result<ForgetMode> {
        Ok(privacy::set_forget_mode(self, me, mode).await?)
    }

    async fn forget_guest(&self, me: &Me, conversation_id: &str) -> Result<Forgotten> {
        Ok(privacy::forget_guest(self, me, conversation_id).await?)
    }

    async fn decide_forget(&self, me: &Me, request_id: &str, approve: bool) -> Result<String> {
        Ok(privacy::decide(self, me, request_id, approve).await?)
    }

    async fn audit(&self, me: &Me, older: Option<String>) -> Result<AuditPage> {
        Ok(audit::page(self, me, older).await?)
    }

    async fn set_retention(&self, me: &Me, agent_id: &str, days: &str) -> Result<()> {
        let days = privacy::retention::parse_days(days)?;
        let agent = (!agent_id.is_empty()).then_some(agent_id);
        Ok(privacy::retention::set(self, me, agent, days).await?)
    }
}
