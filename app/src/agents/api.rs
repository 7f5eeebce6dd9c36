//! The server functions of agents: the browser's calls. Each checks the session (and through
//! [`super::port::AgentsPort`], the organization and role) before doing anything.

// A server function's arguments are its form's fields, and `#[server]` does not carry an
// `allow` on the function over to the browser's side of it.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for agents.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::AgentsPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "list_agents")]
pub async fn list_agents() -> Result<Vec<AgentSummary>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_agents(&me).await
    })
    .await
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
) -> Result<super::port::AgentInput, AppError> {
    use super::port::BrainInput;
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
    Ok(super::port::AgentInput {
        name,
        description,
        instructions,
        welcome_message,
        fallback_reply,
        faq: super::parse_faq(&faq)?,
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
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
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
    })
    .await
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
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
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
    })
    .await
}

#[server(prefix = "/ui", endpoint = "delete_agent")]
pub async fn delete_agent(id: String) -> Result<(), AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.delete_agent(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "try_agent", input = Json)]
pub async fn try_agent(id: String, chat: Vec<ChatLine>) -> Result<TryReply, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.try_agent(&me, &id, chat).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "regenerate_hook_secret")]
pub async fn regenerate_hook_secret(id: String) -> Result<String, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.regenerate_hook_secret(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "get_agent")]
pub async fn get_agent(id: String) -> Result<AgentDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.agent(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "list_channels")]
pub async fn list_channels(agent_id: String) -> Result<Vec<ChannelRow>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_channels(&me, &agent_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "channel_options")]
pub async fn channel_options(agent_id: String, connector_id: String) -> Result<Vec<ChannelOption>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.channel_options(&me, &agent_id, &connector_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "add_channel")]
pub async fn add_channel(agent_id: String, number_id: String) -> Result<ChannelRow, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.add_channel(&me, &agent_id, &number_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "remove_channel")]
pub async fn remove_channel(agent_id: String, channel_id: String) -> Result<(), AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.remove_channel(&me, &agent_id, &channel_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "set_channel_routes")]
pub async fn set_channel_routes(
    agent_id: String,
    channel_id: String,
    #[server(default)] inbound_from: String,
    #[server(default)] outbound_to: String,
) -> Result<ChannelRow, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.set_channel_routes(&me, &agent_id, &channel_id, Some(inbound_from), Some(outbound_to)).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "list_templates")]
pub async fn list_templates(connector_id: String) -> Result<Vec<TemplateOption>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_templates(&me, &connector_id).await
    })
    .await
}

/// An empty `template_sid` clears the agent's template.
#[server(prefix = "/ui", endpoint = "set_agent_template")]
pub async fn set_agent_template(
    agent_id: String,
    #[server(default)] connector_id: String,
    #[server(default)] template_sid: String,
    #[server(default)] variables: String,
) -> Result<AgentDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let choice = (!template_sid.is_empty()).then_some(super::port::TemplateChoice {
            connector_id,
            sid: template_sid,
            variables,
        });
        svc.set_agent_template(&me, &agent_id, choice).await
    })
    .await
}

/// An empty `transcription_url` leaves the agent the organization's transcription API, unless the
/// "never transcribe" box sends `transcription_off=on`; an empty key keeps the stored one; `images`
/// is `off`, `link` or `inline`.
#[server(prefix = "/ui", endpoint = "set_agent_senses")]
pub async fn set_agent_senses(
    agent_id: String,
    #[server(default)] transcription_url: String,
    #[server(default)] transcription_model: String,
    #[server(default)] transcription_key: String,
    #[server(default)] transcription_off: String,
    #[server(default)] images: String,
) -> Result<AgentDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let images = match images.trim() {
            "" => ImageInput::Off,
            other => ImageInput::parse(other)
                .ok_or_else(|| AppError::invalid("images", "Choose how photos reach the model."))?,
        };
        let input = super::port::SensesInput {
            transcription_url,
            transcription_model,
            transcription_key: Some(transcription_key).filter(|k| !k.trim().is_empty()),
            transcription_off: !transcription_off.is_empty(),
            images,
        };
        svc.set_agent_senses(&me, &agent_id, input).await
    })
    .await
}

/// The organization's transcription API.
#[server(prefix = "/ui", endpoint = "transcription")]
pub async fn get_transcription() -> Result<Transcription, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.transcription(&me).await
    })
    .await
}

/// Sets the organization's transcription API (admins): an empty `transcription_url` turns it off;
/// an empty key keeps the stored one.
#[server(prefix = "/ui", endpoint = "set_transcription")]
pub async fn set_transcription(
    #[server(default)] transcription_url: String,
    #[server(default)] transcription_model: String,
    #[server(default)] transcription_key: String,
) -> Result<Transcription, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let input = super::port::TranscriptionInput {
            url: transcription_url,
            model: transcription_model,
            key: Some(transcription_key).filter(|k| !k.trim().is_empty()),
        };
        svc.set_transcription(&me, input).await
    })
    .await
}
