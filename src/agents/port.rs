//! The backoffice's agents ([`app::agents::port::AgentsPort`]), answered by the services here.

use app::{
    accounts::Me,
    agents::{
        port::{AgentInput, AgentsPort, Result, SensesInput, TemplateChoice, TranscriptionInput},
        *,
    },
};
use async_trait::async_trait;

use crate::{agents, state::AppState};

#[async_trait]
impl AgentsPort for AppState {
    async fn list_agents(&self, me: &Me) -> Result<Vec<AgentSummary>> {
        Ok(agents::list(self, me).await?)
    }
    async fn create_agent(&self, me: &Me, input: AgentInput) -> Result<AgentDetail> {
        Ok(agents::create(self, me, input).await?)
    }
    async fn update_agent(&self, me: &Me, id: &str, input: AgentInput) -> Result<AgentDetail> {
        Ok(agents::update(self, me, id, input).await?)
    }
    async fn delete_agent(&self, me: &Me, id: &str) -> Result<()> {
        Ok(agents::delete(self, me, id).await?)
    }
    async fn try_agent(&self, me: &Me, id: &str, chat: Vec<ChatLine>) -> Result<TryReply> {
        Ok(agents::try_agent(self, me, id, chat).await?)
    }
    async fn regenerate_hook_secret(&self, me: &Me, id: &str) -> Result<String> {
        Ok(agents::regenerate_hook_secret(self, me, id).await?)
    }
    async fn agent(&self, me: &Me, id: &str) -> Result<AgentDetail> {
        Ok(agents::detail(self, me, id).await?)
    }
    async fn list_channels(&self, me: &Me, agent_id: &str) -> Result<Vec<ChannelRow>> {
        Ok(agents::channels::channels(self, me, agent_id).await?)
    }
    async fn channel_options(&self, me: &Me, agent_id: &str, connector_id: &str) -> Result<Vec<ChannelOption>> {
        Ok(agents::channels::channel_options(self, me, agent_id, connector_id).await?)
    }
    async fn add_channel(&self, me: &Me, agent_id: &str, number_id: &str) -> Result<ChannelRow> {
        Ok(agents::channels::add_channel(self, me, agent_id, number_id).await?)
    }
    async fn remove_channel(&self, me: &Me, agent_id: &str, channel_id: &str) -> Result<()> {
        Ok(agents::channels::remove_channel(self, me, agent_id, channel_id).await?)
    }
    async fn set_channel_routes(
        &self,
        me: &Me,
        agent_id: &str,
        channel_id: &str,
        inbound_from: Option<String>,
        outbound_to: Option<String>,
    ) -> Result<ChannelRow> {
        Ok(agents::channels::set_routes(
            self,
            me,
            agent_id,
            channel_id,
            inbound_from.as_deref(),
            outbound_to.as_deref(),
        )
        .await?)
    }
    async fn list_templates(&self, me: &Me, connector_id: &str) -> Result<Vec<TemplateOption>> {
        Ok(agents::templates::list_templates(self, me, connector_id).await?)
    }
    async fn set_agent_template(&self, me: &Me, agent_id: &str, choice: Option<TemplateChoice>) -> Result<AgentDetail> {
        Ok(agents::templates::set_template(self, me, agent_id, choice).await?)
    }
    async fn set_agent_senses(&self, me: &Me, agent_id: &str, input: SensesInput) -> Result<AgentDetail> {
        Ok(agents::senses::set_senses(self, me, agent_id, input).await?)
    }
    async fn transcription(&self, me: &Me) -> Result<Transcription> {
        Ok(agents::senses::organization(self, me).await?)
    }
    async fn set_transcription(&self, me: &Me, input: TranscriptionInput) -> Result<Transcription> {
        Ok(agents::senses::set_organization(self, me, input).await?)
    }
}
