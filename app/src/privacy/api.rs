//! The server functions of privacy: the browser's calls. Each checks the session (and through
//! [`super::port::PrivacyPort`], the organization and role) before doing anything.

use leptos::prelude::*;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for privacy.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::PrivacyPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "privacy")]
pub async fn get_privacy() -> Result<Privacy, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.privacy(&me).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "set_forget_mode")]
pub async fn set_forget_mode(mode: ForgetMode) -> Result<ForgetMode, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.set_forget_mode(&me, mode).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "forget_guest")]
pub async fn forget_guest(conversation_id: String) -> Result<Forgotten, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.forget_guest(&me, &conversation_id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "decide_forget")]
pub async fn decide_forget(id: String, approve: bool) -> Result<String, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.decide_forget(&me, &id, approve).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "audit")]
pub async fn get_audit(older: Option<String>) -> Result<AuditPage, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.audit(&me, older).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "set_retention")]
pub async fn set_retention(
    #[server(default)] agent_id: String,
    #[server(default)] days: String,
) -> Result<(), AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.set_retention(&me, &agent_id, &days).await
    })
    .await
}
