//! The UI's port, implemented by the server's services.

use app::{
    model::*,
    ports::{AgentInput, Backoffice, ConnectorInput, Result, TemplateChoice},
};
use async_trait::async_trait;

use crate::{access, accounts, agents, connectors, dashboard, inbox, state::AppState, tokens};

#[async_trait]
impl Backoffice for AppState {
    async fn needs_setup(&self) -> Result<bool> {
        Ok(accounts::needs_setup(&self.db).await?)
    }
    async fn setup(&self, setup_token: String, org_name: String, email: String, password: String) -> Result<Me> {
        Ok(accounts::setup(&self.db, &setup_token, &org_name, &email, password).await?)
    }
    async fn authenticate(&self, email: String, password: String, client: Option<std::net::IpAddr>) -> Result<Me> {
        Ok(accounts::authenticate(&self.db, &self.logins, &email, password, client).await?)
    }
    async fn user(&self, user_id: &str) -> Result<Option<Me>> {
        Ok(accounts::user(&self.db, user_id).await?)
    }
    async fn list_users(&self, me: &Me) -> Result<Vec<UserRow>> {
        Ok(accounts::list_users(&self.db, me).await?)
    }
    async fn add_user(&self, me: &Me, email: &str, role: Role, password: String) -> Result<UserRow> {
        Ok(accounts::add_user(&self.db, me, email, role, password).await?)
    }
    async fn remove_user(&self, me: &Me, user_id: &str) -> Result<()> {
        Ok(accounts::remove_user(&self.db, me, user_id).await?)
    }
    async fn list_tokens(&self, me: &Me) -> Result<Vec<ApiTokenRow>> {
        Ok(tokens::list(self, me).await?)
    }
    async fn create_token(&self, me: &Me, name: &str) -> Result<NewApiToken> {
        Ok(tokens::create(self, me, name).await?)
    }
    async fn revoke_token(&self, me: &Me, id: &str) -> Result<()> {
        Ok(tokens::revoke(self, me, id).await?)
    }
    async fn connector_choices(&self, me: &Me) -> Result<Vec<ConnectorChoice>> {
        Ok(connectors::manage::choices(self, me).await?)
    }
    async fn list_connectors(&self, me: &Me) -> Result<Vec<ConnectorSummary>> {
        Ok(connectors::manage::list(self, me).await?)
    }
    async fn create_connector(&self, me: &Me, input: ConnectorInput) -> Result<ConnectorSummary> {
        Ok(connectors::manage::create(self, me, input).await?)
    }
    async fn update_connector(&self, me: &Me, id: &str, input: ConnectorInput) -> Result<ConnectorSummary> {
        Ok(connectors::manage::update(self, me, id, input).await?)
    }
    async fn verify_connector(&self, me: &Me, id: &str) -> Result<ConnectorSummary> {
        Ok(connectors::manage::verify(self, me, id).await?)
    }
    async fn connector(&self, me: &Me, id: &str) -> Result<ConnectorDetail> {
        Ok(connectors::manage::detail(self, me, id).await?)
    }
    async fn list_numbers(&self, me: &Me, connector_id: &str) -> Result<Vec<NumberRow>> {
        Ok(connectors::numbers::list_numbers(self, me, connector_id).await?)
    }
    async fn save_numbers(
        &self,
        me: &Me,
        connector_id: &str,
        active: Vec<String>,
        unbind: bool,
    ) -> Result<Vec<NumberRow>> {
        Ok(connectors::numbers::save_numbers(self, me, connector_id, active, unbind).await?)
    }
    async fn add_sandbox(&self, me: &Me, connector_id: &str, join: &str) -> Result<Vec<NumberRow>> {
        Ok(connectors::numbers::add_sandbox(self, me, connector_id, join).await?)
    }
    async fn set_all_webhooks(&self, me: &Me, connector_id: &str) -> Result<Vec<WebhookOutcome>> {
        Ok(connectors::webhooks::set_all_webhooks(self, me, connector_id).await?)
    }
    async fn delete_connector(&self, me: &Me, id: &str) -> Result<DisconnectReport> {
        Ok(connectors::manage::delete(self, me, id).await?)
    }
    async fn regenerate_webhook_url(&self, me: &Me, id: &str) -> Result<ConnectorDetail> {
        Ok(connectors::manage::regenerate_webhook_url(self, me, id).await?)
    }
    async fn send_test_message(&self, me: &Me, connector_id: &str, number_id: &str, to: &str) -> Result<String> {
        Ok(connectors::manage::send_test_message(self, me, connector_id, number_id, to).await?)
    }
    async fn set_webhook(&self, me: &Me, connector_id: &str, number_id: &str) -> Result<WebhookOutcome> {
        Ok(connectors::webhooks::set_webhook(self, me, connector_id, number_id).await?)
    }
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
        Ok(agents::channels(self, me, agent_id).await?)
    }
    async fn channel_options(&self, me: &Me, agent_id: &str, connector_id: &str) -> Result<Vec<ChannelOption>> {
        Ok(agents::channel_options(self, me, agent_id, connector_id).await?)
    }
    async fn add_channel(&self, me: &Me, agent_id: &str, number_id: &str) -> Result<ChannelRow> {
        Ok(agents::add_channel(self, me, agent_id, number_id).await?)
    }
    async fn remove_channel(&self, me: &Me, agent_id: &str, channel_id: &str) -> Result<()> {
        Ok(agents::remove_channel(self, me, agent_id, channel_id).await?)
    }
    async fn set_channel_routes(
        &self,
        me: &Me,
        agent_id: &str,
        channel_id: &str,
        inbound_from: Option<String>,
        outbound_to: Option<String>,
    ) -> Result<ChannelRow> {
        Ok(agents::set_routes(self, me, agent_id, channel_id, inbound_from.as_deref(), outbound_to.as_deref()).await?)
    }
    async fn conversations(&self, me: &Me, agent_id: &str) -> Result<Vec<ConversationView>> {
        Ok(inbox::agent::for_agent(self, me, agent_id).await?)
    }
    async fn list_templates(&self, me: &Me, connector_id: &str) -> Result<Vec<TemplateOption>> {
        Ok(agents::list_templates(self, me, connector_id).await?)
    }
    async fn set_agent_template(&self, me: &Me, agent_id: &str, choice: Option<TemplateChoice>) -> Result<AgentDetail> {
        Ok(agents::set_template(self, me, agent_id, choice).await?)
    }

    async fn sharing(&self, me: &Me, agent_id: &str) -> Result<SharingView> {
        Ok(access::sharing(self, me, agent_id).await?)
    }

    async fn set_access(&self, me: &Me, agent_id: &str, settings: AccessSettings) -> Result<SharingView> {
        access::set_access(self, me, agent_id, settings).await?;
        Ok(access::sharing(self, me, agent_id).await?)
    }

    async fn add_shared_email(&self, me: &Me, agent_id: &str, email: &str) -> Result<SharingView> {
        access::add_shared_email(self, me, agent_id, email).await?;
        Ok(access::sharing(self, me, agent_id).await?)
    }

    async fn remove_shared_email(&self, me: &Me, agent_id: &str, email: &str) -> Result<SharingView> {
        access::remove_shared_email(self, me, agent_id, email).await?;
        Ok(access::sharing(self, me, agent_id).await?)
    }

    async fn decide_access(&self, me: &Me, agent_id: &str, request_id: &str, approve: bool) -> Result<String> {
        Ok(access::decide(self, me, agent_id, request_id, approve).await?)
    }

    async fn revoke_guest(&self, me: &Me, agent_id: &str, guest_key: &str) -> Result<SharingView> {
        access::revoke(self, me, agent_id, guest_key).await?;
        Ok(access::sharing(self, me, agent_id).await?)
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
        inbox::set_paused(self, me, id, paused).await?;
        Ok(inbox::detail(self, me, id).await?)
    }

    async fn end_conversation(&self, me: &Me, id: &str) -> Result<ConversationDetail> {
        inbox::end(self, me, id).await?;
        Ok(inbox::detail(self, me, id).await?)
    }

    async fn staff_reply(
        &self,
        me: &Me,
        id: &str,
        body: String,
        template: Option<(String, String)>,
    ) -> Result<ConversationDetail> {
        inbox::staff_reply(self, me, id, &body, template.map(|(sid, vars)| (sid, Some(vars)))).await?;
        Ok(inbox::detail(self, me, id).await?)
    }

    async fn set_inactivity(&self, me: &Me, agent_id: &str, seconds: i64) -> Result<i64> {
        Ok(inbox::set_inactivity(self, me, agent_id, seconds).await?)
    }

    async fn inactivity(&self, me: &Me, agent_id: &str) -> Result<i64> {
        Ok(inbox::inactivity(self, me, agent_id).await?)
    }

    async fn dashboard(&self, me: &Me) -> Result<Dashboard> {
        Ok(dashboard::dashboard(self, me).await?)
    }
}
