//! The backoffice's dashboard ([`app::dashboard::port::DashboardPort`]), answered by the services here.

use app::{
    accounts::Me,
    dashboard::{
        port::{DashboardPort, Result},
        *,
    },
};
use async_trait::async_trait;

use crate::{dashboard, state::AppState};

#[async_trait]
impl DashboardPort for AppState {
    async fn dashboard(&self, me: &Me) -> Result<Dashboard> {
        Ok(dashboard::dashboard(self, me).await?)
    }
}
