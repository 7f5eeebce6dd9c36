//! What dashboard's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

#[async_trait]
pub trait DashboardPort: Send + Sync + 'static {
    async fn dashboard(&self, me: &Me) -> Result<Dashboard>;
}
