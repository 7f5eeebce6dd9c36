//! The server functions of sharing: the browser's calls. Each checks the session (and through
//! [`super::port::SharingPort`], the organization and role) before doing anything.

use leptos::prelude::*;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for sharing.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::SharingPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "sharing")]
pub async fn get_sharing(agent_id: String) -> Result<SharingView, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.sharing(&me, &agent_id).await
    })
    .await
}

/// The Sharing page's policy form; a checked "onboarding" box sends `on`.
#[server(prefix = "/ui", endpoint = "set_access")]
pub async fn set_access(
    agent_id: String,
    policy: String,
    #[server(default)] onboarding: String,
    #[server(default)] onboarding_message: String,
) -> Result<SharingView, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let policy =
            AccessPolicy::parse(&policy).ok_or_else(|| AppError::invalid("policy", "Choose one of the policies."))?;
        let settings = AccessSettings { policy, onboarding: !onboarding.is_empty(), onboarding_message };
        svc.set_access(&me, &agent_id, settings).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "add_shared_email")]
pub async fn add_shared_email(agent_id: String, email: String) -> Result<SharingView, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.add_shared_email(&me, &agent_id, &email).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "remove_shared_email")]
pub async fn remove_shared_email(agent_id: String, email: String) -> Result<SharingView, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.remove_shared_email(&me, &agent_id, &email).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "decide_access")]
pub async fn decide_access(agent_id: String, request_id: String, approve: bool) -> Result<String, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.decide_access(&me, &agent_id, &request_id, approve).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "revoke_guest")]
pub async fn revoke_guest(agent_id: String, guest: String) -> Result<SharingView, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.revoke_guest(&me, &agent_id, &guest).await
    })
    .await
}
