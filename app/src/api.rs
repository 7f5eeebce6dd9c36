//! Server functions: the browser's calls into Switchboard. Each checks the session and the
//! organization (through the [`crate::ports::Backoffice`] port) before doing anything.

// A server function's arguments are its form's fields, and `#[server]` does not carry an
// `allow` on the function over to the browser's side of it.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::{error::AppError, model::*};

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use leptos::prelude::use_context;
    use tower_sessions::Session;

    use crate::{error::AppError, model::Me, ports::Backoffice};

    pub const USER_KEY: &str = "user_id";

    /// The client's address, as the server worked it out (the peer, or the proxy's
    /// X-Forwarded-For when trusted); put on every request by the server.
    #[derive(Debug, Clone, Copy)]
    pub struct ClientAddr(pub std::net::IpAddr);

    /// The address of the client making this request, if the server said.
    pub fn client_addr() -> Option<std::net::IpAddr> {
        use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<ClientAddr>().map(|c| c.0))
    }

    pub fn backoffice() -> Result<Arc<dyn Backoffice>, AppError> {
        use_context::<Arc<dyn Backoffice>>().ok_or_else(|| {
            leptos::logging::error!("Backoffice service missing from context");
            AppError::Internal
        })
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            leptos::logging::error!("session layer missing: {e}");
            AppError::Internal
        })
    }

    /// The service and the signed-in user, or `Unauthenticated`.
    pub async fn signed_in() -> Result<(Arc<dyn Backoffice>, Me), AppError> {
        let service = backoffice()?;
        let session = session().await?;
        let user_id: Option<String> = session.get(USER_KEY).await.map_err(|_| AppError::Internal)?;
        let Some(user_id) = user_id else { return Err(AppError::Unauthenticated) };
        match service.user(&user_id).await? {
            Some(me) => Ok((service, me)),
            None => {
                let _ = session.flush().await;
                Err(AppError::Unauthenticated)
            }
        }
    }

    pub async fn start_session(me: &Me) -> Result<(), AppError> {
        let session = session().await?;
        // A new id on login: a session id known before login is worth nothing after it.
        session.cycle_id().await.map_err(|_| AppError::Internal)?;
        session.insert(USER_KEY, &me.user_id).await.map_err(|_| AppError::Internal)
    }

    /// Gives an error its HTTP status ([`AppError::status`]: 422 for a bad field, 401, 403, 404,
    /// 409, 429, 502 for Twilio, 500 for ours) instead of a blanket 500.
    pub fn reply<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(e) = &result {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(
                    http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
                );
                if let AppError::RateLimited { retry_after_secs, .. } = e {
                    response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after_secs));
                }
            }
        }
        result
    }

    pub async fn end_session() -> Result<(), AppError> {
        session().await?.flush().await.map_err(|_| AppError::Internal)
    }
}

#[server(prefix = "/ui", endpoint = "needs_setup")]
pub async fn needs_setup() -> Result<bool, AppError> {
    ssr::reply(async move { ssr::backoffice()?.needs_setup().await }.await)
}

#[server(prefix = "/ui", endpoint = "setup_organization")]
pub async fn setup_organization(
    #[server(default)] setup_token: String,
    org_name: String,
    email: String,
    password: String,
) -> Result<Me, AppError> {
    ssr::reply(
        async move {
            let me = ssr::backoffice()?.setup(setup_token, org_name, email, password).await?;
            ssr::start_session(&me).await?;
            Ok(me)
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<Me, AppError> {
    ssr::reply(
        async move {
            let me = ssr::backoffice()?.authenticate(email, password, ssr::client_addr()).await?;
            ssr::start_session(&me).await?;
            Ok(me)
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    ssr::reply(async move { ssr::end_session().await }.await)
}

/// The signed-in user, or `None`.
#[server(prefix = "/ui", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    ssr::reply(
        async move {
            match ssr::signed_in().await {
                Ok((_, me)) => Ok(Some(me)),
                Err(AppError::Unauthenticated) => Ok(None),
                Err(e) => Err(e),
            }
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_users(&me).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "add_user")]
pub async fn add_user(email: String, role: String, password: String) -> Result<UserRow, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let role = Role::parse(&role).ok_or_else(|| AppError::invalid("role", "Choose a role."))?;
            svc.add_user(&me, &email, role, password).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "remove_user")]
pub async fn remove_user(id: String) -> Result<(), AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.remove_user(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<ApiTokenRow>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_tokens(&me).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<NewApiToken, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.create_token(&me, &name).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.revoke_token(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "connector_choices")]
pub async fn connector_choices() -> Result<Vec<ConnectorChoice>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.connector_choices(&me).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_connectors")]
pub async fn list_connectors() -> Result<Vec<ConnectorSummary>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_connectors(&me).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "create_connector")]
pub async fn create_connector(
    name: String,
    account_sid: String,
    auth_token: String,
    #[server(default)] receive_inbound: Option<String>,
) -> Result<ConnectorSummary, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let input = crate::ports::ConnectorInput {
                name,
                account_sid,
                auth_token: Some(auth_token),
                receive_inbound: receive_inbound.is_some(),
            };
            svc.create_connector(&me, input).await
        }
        .await,
    )
}

/// Edits a connector; an empty token keeps the stored one.
#[server(prefix = "/ui", endpoint = "update_connector")]
pub async fn update_connector(
    id: String,
    name: String,
    account_sid: String,
    #[server(default)] auth_token: String,
    #[server(default)] receive_inbound: Option<String>,
) -> Result<ConnectorSummary, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let input = crate::ports::ConnectorInput {
                name,
                account_sid,
                auth_token: (!auth_token.trim().is_empty()).then_some(auth_token),
                receive_inbound: receive_inbound.is_some(),
            };
            svc.update_connector(&me, &id, input).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "verify_connector")]
pub async fn verify_connector(id: String) -> Result<ConnectorSummary, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.verify_connector(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "get_connector")]
pub async fn get_connector(id: String) -> Result<ConnectorDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.connector(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_numbers")]
pub async fn list_numbers(connector_id: String) -> Result<Vec<NumberRow>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_numbers(&me, &connector_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "save_numbers", input = Json)]
pub async fn save_numbers(
    connector_id: String,
    active: Vec<String>,
    #[server(default)] unbind: bool,
) -> Result<Vec<NumberRow>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.save_numbers(&me, &connector_id, active, unbind).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "add_sandbox")]
pub async fn add_sandbox(connector_id: String, join: String) -> Result<Vec<NumberRow>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.add_sandbox(&me, &connector_id, &join).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "set_all_webhooks")]
pub async fn set_all_webhooks(connector_id: String) -> Result<Vec<WebhookOutcome>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.set_all_webhooks(&me, &connector_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "delete_connector")]
pub async fn delete_connector(id: String) -> Result<DisconnectReport, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.delete_connector(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "set_webhook")]
pub async fn set_webhook(connector_id: String, number_id: String) -> Result<WebhookOutcome, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.set_webhook(&me, &connector_id, &number_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "regenerate_webhook_url")]
pub async fn regenerate_webhook_url(id: String) -> Result<ConnectorDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.regenerate_webhook_url(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "send_test_message")]
pub async fn send_test_message(connector_id: String, number_id: String, to: String) -> Result<String, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.send_test_message(&me, &connector_id, &number_id, &to).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_agents")]
pub async fn list_agents() -> Result<Vec<AgentSummary>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_agents(&me).await
        }
        .await,
    )
}

/// The agent form's fields, as the browser sends them: `faq` holds one `question | answer` pair
/// per line; `brain` is `faq`, `openai` or `hook`; an empty API key keeps the stored one.
#[cfg(feature = "ssr")]
#[allow(clippy::too_many_arguments)]
fn agent_input(
    name: String,
    description: String,
    instructions: String,
    welcome_message: String,
    fallback_reply: String,
    faq: String,
    brain: String,
    brain_url: String,
    llm_model: String,
    llm_api_key: String,
    timeout_secs: String,
) -> Result<crate::ports::AgentInput, AppError> {
    use crate::ports::BrainInput;
    let timeout_secs = match timeout_secs.trim() {
        "" => None,
        t => Some(t.parse::<u64>().ok().filter(|n| (1..=120).contains(n)).ok_or_else(|| {
            AppError::invalid("timeout_secs", "The timeout is a whole number of seconds from 1 to 120.")
        })?),
    };
    let brain = match BrainKind::parse(brain.trim()).unwrap_or(BrainKind::Faq) {
        BrainKind::Faq => BrainInput::Faq,
        BrainKind::OpenAi => BrainInput::OpenAi {
            base_url: brain_url,
            model: llm_model,
            api_key: Some(llm_api_key).filter(|k| !k.trim().is_empty()),
            timeout_secs,
        },
        BrainKind::Hook => BrainInput::Hook { url: brain_url, timeout_secs },
    };
    Ok(crate::ports::AgentInput {
        name,
        description,
        instructions,
        welcome_message,
        fallback_reply,
        faq: crate::model::parse_faq(&faq)?,
        brain,
    })
}

#[server(prefix = "/ui", endpoint = "create_agent")]
pub async fn create_agent(
    name: String,
    #[server(default)] description: String,
    #[server(default)] instructions: String,
    #[server(default)] welcome_message: String,
    fallback_reply: String,
    #[server(default)] faq: String,
    #[server(default)] brain: String,
    #[server(default)] brain_url: String,
    #[server(default)] llm_model: String,
    #[server(default)] llm_api_key: String,
    #[server(default)] timeout_secs: String,
) -> Result<AgentDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let input = agent_input(
                name,
                description,
                instructions,
                welcome_message,
                fallback_reply,
                faq,
                brain,
                brain_url,
                llm_model,
                llm_api_key,
                timeout_secs,
            )?;
            svc.create_agent(&me, input).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "update_agent")]
pub async fn update_agent(
    id: String,
    name: String,
    #[server(default)] description: String,
    #[server(default)] instructions: String,
    #[server(default)] welcome_message: String,
    fallback_reply: String,
    #[server(default)] faq: String,
    #[server(default)] brain: String,
    #[server(default)] brain_url: String,
    #[server(default)] llm_model: String,
    #[server(default)] llm_api_key: String,
    #[server(default)] timeout_secs: String,
) -> Result<AgentDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let input = agent_input(
                name,
                description,
                instructions,
                welcome_message,
                fallback_reply,
                faq,
                brain,
                brain_url,
                llm_model,
                llm_api_key,
                timeout_secs,
            )?;
            svc.update_agent(&me, &id, input).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "delete_agent")]
pub async fn delete_agent(id: String) -> Result<(), AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.delete_agent(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "try_agent", input = Json)]
pub async fn try_agent(id: String, chat: Vec<ChatLine>) -> Result<TryReply, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.try_agent(&me, &id, chat).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "regenerate_hook_secret")]
pub async fn regenerate_hook_secret(id: String) -> Result<String, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.regenerate_hook_secret(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "get_agent")]
pub async fn get_agent(id: String) -> Result<AgentDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.agent(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_channels")]
pub async fn list_channels(agent_id: String) -> Result<Vec<ChannelRow>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_channels(&me, &agent_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "channel_options")]
pub async fn channel_options(agent_id: String, connector_id: String) -> Result<Vec<ChannelOption>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.channel_options(&me, &agent_id, &connector_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "add_channel")]
pub async fn add_channel(agent_id: String, number_id: String) -> Result<ChannelRow, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.add_channel(&me, &agent_id, &number_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "remove_channel")]
pub async fn remove_channel(agent_id: String, channel_id: String) -> Result<(), AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.remove_channel(&me, &agent_id, &channel_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "set_channel_routes")]
pub async fn set_channel_routes(
    agent_id: String,
    channel_id: String,
    #[server(default)] inbound_from: String,
    #[server(default)] outbound_to: String,
) -> Result<ChannelRow, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.set_channel_routes(&me, &agent_id, &channel_id, Some(inbound_from), Some(outbound_to)).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_templates")]
pub async fn list_templates(connector_id: String) -> Result<Vec<TemplateOption>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.list_templates(&me, &connector_id).await
        }
        .await,
    )
}

/// An empty `template_sid` clears the agent's template.
#[server(prefix = "/ui", endpoint = "set_agent_template")]
pub async fn set_agent_template(
    agent_id: String,
    #[server(default)] connector_id: String,
    #[server(default)] template_sid: String,
    #[server(default)] variables: String,
) -> Result<AgentDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let choice = (!template_sid.is_empty()).then_some(crate::ports::TemplateChoice {
                connector_id,
                sid: template_sid,
                variables,
            });
            svc.set_agent_template(&me, &agent_id, choice).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "list_conversations")]
pub async fn list_conversations(agent_id: String) -> Result<Vec<ConversationView>, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.conversations(&me, &agent_id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "sharing")]
pub async fn get_sharing(agent_id: String) -> Result<SharingView, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.sharing(&me, &agent_id).await
        }
        .await,
    )
}

/// The Sharing page's policy form; a checked "onboarding" box sends `on`.
#[server(prefix = "/ui", endpoint = "set_access")]
pub async fn set_access(
    agent_id: String,
    policy: String,
    #[server(default)] onboarding: String,
    #[server(default)] onboarding_message: String,
) -> Result<SharingView, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let policy = AccessPolicy::parse(&policy)
                .ok_or_else(|| AppError::invalid("policy", "Choose one of the policies."))?;
            let settings = AccessSettings { policy, onboarding: !onboarding.is_empty(), onboarding_message };
            svc.set_access(&me, &agent_id, settings).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "add_shared_email")]
pub async fn add_shared_email(agent_id: String, email: String) -> Result<SharingView, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.add_shared_email(&me, &agent_id, &email).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "remove_shared_email")]
pub async fn remove_shared_email(agent_id: String, email: String) -> Result<SharingView, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.remove_shared_email(&me, &agent_id, &email).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "decide_access")]
pub async fn decide_access(agent_id: String, request_id: String, approve: bool) -> Result<String, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.decide_access(&me, &agent_id, &request_id, approve).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "revoke_guest")]
pub async fn revoke_guest(agent_id: String, guest: String) -> Result<SharingView, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.revoke_guest(&me, &agent_id, &guest).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "inbox", input = Json)]
pub async fn get_inbox(filter: InboxFilter) -> Result<InboxPage, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.inbox(&me, filter).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "conversation")]
pub async fn get_conversation(id: String) -> Result<ConversationDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.conversation(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "execution")]
pub async fn get_execution(id: String) -> Result<ExecutionView, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.execution(&me, &id).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "set_paused")]
pub async fn set_paused(id: String, paused: bool) -> Result<ConversationDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.set_paused(&me, &id, paused).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "end_conversation")]
pub async fn end_conversation(id: String) -> Result<ConversationDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.end_conversation(&me, &id).await
        }
        .await,
    )
}

/// The reply form: free text, or (outside the window) a template and its variables.
#[server(prefix = "/ui", endpoint = "staff_reply")]
pub async fn staff_reply(
    id: String,
    #[server(default)] body: String,
    #[server(default)] template_sid: String,
    #[server(default)] variables: String,
) -> Result<ConversationDetail, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let template = (!template_sid.is_empty()).then_some((template_sid, variables));
            svc.staff_reply(&me, &id, body, template).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "inactivity")]
pub async fn get_inactivity(agent_id: String) -> Result<i64, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.inactivity(&me, &agent_id).await
        }
        .await,
    )
}

/// The inactivity form, in minutes (decimals allowed: 0.5 is 30 seconds).
#[server(prefix = "/ui", endpoint = "set_inactivity")]
pub async fn set_inactivity(agent_id: String, minutes: String) -> Result<i64, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            let minutes: f64 = minutes
                .trim()
                .replace(',', ".")
                .parse()
                .map_err(|_| AppError::invalid("minutes", "Give a number of minutes, e.g. 10 or 0.5."))?;
            if !minutes.is_finite() {
                return Err(AppError::invalid("minutes", "Give a number of minutes, e.g. 10 or 0.5."));
            }
            svc.set_inactivity(&me, &agent_id, (minutes * 60.0).round() as i64).await
        }
        .await,
    )
}

#[server(prefix = "/ui", endpoint = "dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    ssr::reply(
        async move {
            let (svc, me) = ssr::signed_in().await?;
            svc.dashboard(&me).await
        }
        .await,
    )
}
