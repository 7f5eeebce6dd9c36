//! The server functions of inbox: the browser's calls. Each checks the session (and through
//! [`super::port::InboxPort`], the organization and role) before doing anything.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for inbox.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::InboxPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "list_conversations")]
pub async fn list_conversations(agent_id: String) -> Result<Vec<ConversationView>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.conversations(&me, &agent_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "inbox", input = Json)]
pub async fn get_inbox(filter: InboxFilter) -> Result<InboxPage, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.inbox(&me, filter).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "conversation")]
pub async fn get_conversation(id: String) -> Result<ConversationDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.conversation(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "execution")]
pub async fn get_execution(id: String) -> Result<ExecutionView, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.execution(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "set_paused")]
pub async fn set_paused(id: String, paused: bool) -> Result<ConversationDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.set_paused(&me, &id, paused).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "end_conversation")]
pub async fn end_conversation(id: String) -> Result<ConversationDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.end_conversation(&me, &id).await
    })
    .await
}

/// The reply form: free text, or (outside the window) a template and its variables.
#[server(prefix = "/ui", endpoint = "staff_reply")]
pub async fn staff_reply(
    id: String,
    #[server(default)] body: String,
    #[server(default)] template_sid: String,
    #[server(default)] variables: String,
) -> Result<ConversationDetail, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let template = (!template_sid.is_empty()).then_some((template_sid, variables));
        svc.staff_reply(&me, &id, body, template).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "inactivity")]
pub async fn get_inactivity(agent_id: String) -> Result<i64, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.inactivity(&me, &agent_id).await
    })
    .await
}

/// The inactivity form, in minutes (decimals allowed: 0.5 is 30 seconds).
#[server(prefix = "/ui", endpoint = "set_inactivity")]
pub async fn set_inactivity(agent_id: String, minutes: String) -> Result<i64, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let minutes: f64 = minutes
            .trim()
            .replace(',', ".")
            .parse()
            .map_err(|_| AppError::invalid("minutes", "Give a number of minutes, e.g. 10 or 0.5."))?;
        if !minutes.is_finite() {
            return Err(AppError::invalid("minutes", "Give a number of minutes, e.g. 10 or 0.5."));
        }
        svc.set_inactivity(&me, &agent_id, (minutes * 60.0).round() as i64).await
    })
    .await
}
