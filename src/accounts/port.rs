//! The backoffice's accounts ([`app::accounts::port::AccountsPort`]), answered by the services here.

use app::{
    accounts::Me,
    accounts::{
        port::{AccountsPort, Result},
        *,
    },
};
use async_trait::async_trait;

use crate::{accounts, accounts::tokens, state::AppState};

#[async_trait]
impl AccountsPort for AppState {
    async fn needs_setup(&self) -> Result<bool> {
        Ok(accounts::needs_setup(&self.db).await?)
    }
    async fn setup(&self, setup_token: String, org_name: String, email: String, password: String) -> Result<Me> {
        Ok(accounts::setup(&self.db, &setup_token, &org_name, &email, password).await?)
    }
    async fn authenticate(&self, email: String, password: String, client: Option<std::net::IpAddr>) -> Result<Me> {
        Ok(accounts::authenticate(&self.db, &self.logins, &email, password, client).await?)
    }
    async fn user(&self, user_id: &str) -> Result<Option<Me>> {
        Ok(accounts::user(&self.db, user_id).await?)
    }
    async fn list_users(&self, me: &Me) -> Result<Vec<UserRow>> {
        Ok(accounts::list_users(&self.db, me).await?)
    }
    async fn add_user(&self, me: &Me, email: &str, role: Role, password: String) -> Result<UserRow> {
        Ok(accounts::add_user(&self.db, me, email, role, password).await?)
    }
    async fn remove_user(&self, me: &Me, user_id: &str) -> Result<()> {
        Ok(accounts::remove_user(&self.db, me, user_id).await?)
    }
    async fn list_tokens(&self, me: &Me) -> Result<Vec<ApiTokenRow>> {
        Ok(tokens::list(self, me).await?)
    }
    async fn create_token(&self, me: &Me, name: &str) -> Result<NewApiToken> {
        Ok(tokens::create(self, me, name).await?)
    }
    async fn revoke_token(&self, me: &Me, id: &str) -> Result<()> {
        Ok(tokens::revoke(self, me, id).await?)
    }
}
