//! The server functions of accounts: the browser's calls. Each checks the session (and through
//! [`super::port::AccountsPort`], the organization and role) before doing anything.

use leptos::prelude::*;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for accounts.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::AccountsPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "needs_setup")]
pub async fn needs_setup() -> Result<bool, AppError> {
    ssr::reply(async move { ssr::port::<dyn super::port::AccountsPort>()?.needs_setup().await }).await
}

#[server(prefix = "/ui", endpoint = "setup_organization")]
pub async fn setup_organization(
    #[server(default)] setup_token: String,
    org_name: String,
    email: String,
    password: String,
) -> Result<Me, AppError> {
    ssr::reply(async move {
        let accounts = ssr::port::<dyn super::port::AccountsPort>()?;
        let session = ssr::session()?;
        let me = accounts.setup(setup_token, org_name, email, password).await?;
        ssr::start_session(&session, &me).await?;
        Ok(me)
    })
    .await
}

#[server(prefix = "/ui", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<Me, AppError> {
    ssr::reply(async move {
        let (accounts, from) = (ssr::port::<dyn super::port::AccountsPort>()?, ssr::client_addr());
        let session = ssr::session()?;
        let me = accounts.authenticate(email, password, from).await?;
        ssr::start_session(&session, &me).await?;
        Ok(me)
    })
    .await
}

#[server(prefix = "/ui", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    ssr::reply(async move { ssr::end_session().await }).await
}

/// The signed-in user, or `None`.
#[server(prefix = "/ui", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    ssr::reply(async move {
        match ssr::me().await {
            Ok(me) => Ok(Some(me)),
            Err(AppError::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

#[server(prefix = "/ui", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_users(&me).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "add_user")]
pub async fn add_user(email: String, role: String, password: String) -> Result<UserRow, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        let role = Role::parse(&role).ok_or_else(|| AppError::invalid("role", "Choose a role."))?;
        svc.add_user(&me, &email, role, password).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "remove_user")]
pub async fn remove_user(id: String) -> Result<(), AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.remove_user(&me, &id).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<ApiTokenRow>, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.list_tokens(&me).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<NewApiToken, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.create_token(&me, &name).await
    })
    .await
}

#[server(prefix = "/ui", endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.revoke_token(&me, &id).await
    })
    .await
}
