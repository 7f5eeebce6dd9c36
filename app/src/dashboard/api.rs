//! The server functions of dashboard: the browser's calls. Each checks the session (and through
//! [`super::port::DashboardPort`], the organization and role) before doing anything.

use leptos::prelude::*;

use super::*;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::accounts::session as ssr;

/// The signed-in user and the service that answers for dashboard.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<(std::sync::Arc<dyn super::port::DashboardPort>, crate::accounts::Me), AppError> {
    ssr::signed_in().await
}

#[server(prefix = "/ui", endpoint = "dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    ssr::reply(async move {
        let (svc, me) = signed_in().await?;
        svc.dashboard(&me).await
    })
    .await
}
