//! What accounts's server functions may ask of Switchboard. The server crate implements it;
//! server functions find it in Leptos context.

use async_trait::async_trait;

use super::*;
use crate::{accounts::Me, error::AppError};

pub type Result<T> = std::result::Result<T, AppError>;

#[async_trait]
pub trait AccountsPort: Send + Sync + 'static {
    async fn needs_setup(&self) -> Result<bool>;
    /// Creates the organization and its first admin, given a setup token Switchboard printed at
    /// start; refused once any user exists.
    async fn setup(&self, setup_token: String, org_name: String, email: String, password: String) -> Result<Me>;
    /// Checks a password, counting failures against the account and the client's address.
    async fn authenticate(&self, email: String, password: String, client: Option<std::net::IpAddr>) -> Result<Me>;
    async fn user(&self, user_id: &str) -> Result<Option<Me>>;
    async fn list_users(&self, me: &Me) -> Result<Vec<UserRow>>;
    async fn add_user(&self, me: &Me, email: &str, role: Role, password: String) -> Result<UserRow>;
    async fn remove_user(&self, me: &Me, user_id: &str) -> Result<()>;
    /// The signed-in user's own API tokens.
    async fn list_tokens(&self, me: &Me) -> Result<Vec<ApiTokenRow>>;
    async fn create_token(&self, me: &Me, name: &str) -> Result<NewApiToken>;
    async fn revoke_token(&self, me: &Me, id: &str) -> Result<()>;
}
