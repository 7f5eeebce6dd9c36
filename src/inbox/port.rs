//! The backoffice's inbox ([`app::inbox::port::InboxPort`]), answered by the services here.

use app::{
    accounts::Me,
    inbox::{
        port::{InboxPort, Result},
        *,
    },
};
use async_trait::async_trait;

use crate::{inbox, state::AppState};

#[async_trait]
impl InboxPort for AppState {
    async fn conversations(&self, me: &Me, agent_id: &str) -> Result<Vec<ConversationView>> {
        Ok(inbox::agent::for_agent(self, me, agent_id).await?)
    }
    async fn inbox(&self, me: &Me, filter: InboxFilter) -> Result<InboxPage> {
        Ok(inbox::list(self, me, &filter).await?)
    }
    async fn conversation(&self, me: &Me, id: &str) -> Result<ConversationDetail> {
        Ok(inbox::detail(self, me, id).await?)
    }
    async fn execution(&self, me: &Me, id: &str) -> Result<ExecutionView> {
        Ok(inbox::execution(self, me, id).await?)
    }
    async fn set_paused(&self, me: &Me, id: &str, paused: bool) -> Result<ConversationDetail> {
        inbox::takeover::set_paused(self, me, id, paused).await?;
        Ok(inbox::detail(self, me, id).await?)
    }
    async fn end_conversation(&self, me: &Me, id: &str) -> Result<ConversationDetail> {
        inbox::takeover::end(self, me, id).await?;
        Ok(inbox::detail(self, me, id).await?)
    }
    async fn staff_reply(
        &self,
        me: &Me,
        id: &str,
        body: String,
        template: Option<(String, String)>,
    ) -> Result<ConversationDetail> {
        inbox::takeover::staff_reply(self, me, id, &body, template.map(|(sid, vars)| (sid, Some(vars)))).await?;
        Ok(inbox::detail(self, me, id).await?)
    }
    async fn set_inactivity(&self, me: &Me, agent_id: &str, seconds: i64) -> Result<i64> {
        Ok(inbox::lifecycle::set_inactivity(self, me, agent_id, seconds).await?)
    }
    async fn inactivity(&self, me: &Me, agent_id: &str) -> Result<i64> {
        Ok(inbox::lifecycle::inactivity(self, me, agent_id).await?)
    }
}
