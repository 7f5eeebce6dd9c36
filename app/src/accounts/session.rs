//! The signed-in session of a server function: who is asking, from where, and the answer's
//! HTTP status.

use std::sync::Arc;

use leptos::prelude::use_context;
use tower_sessions::Session;

use super::{port::AccountsPort, Me};
use crate::error::AppError;

pub const USER_KEY: &str = "user_id";

/// The client's address, as the server worked it out (the peer, or the proxy's
/// X-Forwarded-For when trusted); put on every request by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// The address of the client making this request, if the server said.
pub fn client_addr() -> Option<std::net::IpAddr> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<ClientAddr>().map(|c| c.0))
}

/// A feature's service (`dyn …Port`), as the server put it in Leptos context.
pub fn port<P: ?Sized + Send + Sync + 'static>() -> Result<Arc<P>, AppError> {
    use_context::<Arc<P>>().ok_or_else(|| {
        leptos::logging::error!("{} missing from context", std::any::type_name::<P>());
        AppError::Internal
    })
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        leptos::logging::error!("session layer missing: {e}");
        AppError::Internal
    })
}

/// The signed-in user, or `Unauthenticated`.
pub async fn me() -> Result<Me, AppError> {
    let accounts = port::<dyn AccountsPort>()?;
    let session = session().await?;
    let user_id: Option<String> = session.get(USER_KEY).await.map_err(|_| AppError::Internal)?;
    let Some(user_id) = user_id else { return Err(AppError::Unauthenticated) };
    match accounts.user(&user_id).await? {
        Some(me) => Ok(me),
        None => {
            let _ = session.flush().await;
            Err(AppError::Unauthenticated)
        }
    }
}

/// A feature's service and the signed-in user, or `Unauthenticated`.
pub async fn signed_in<P: ?Sized + Send + Sync + 'static>() -> Result<(Arc<P>, Me), AppError> {
    let me = me().await?;
    Ok((port::<P>()?, me))
}

pub async fn start_session(me: &Me) -> Result<(), AppError> {
    let session = session().await?;
    // A new id on login: a session id known before login is worth nothing after it.
    session.cycle_id().await.map_err(|_| AppError::Internal)?;
    session.insert(USER_KEY, &me.user_id).await.map_err(|_| AppError::Internal)
}

/// Gives an error its HTTP status ([`AppError::status`]: 422 for a bad field, 401, 403, 404,
/// 409, 429, 502 for Twilio, 500 for ours) instead of a blanket 500.
pub fn reply<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response
                .set_status(http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
            if let AppError::RateLimited { retry_after_secs, .. } = e {
                response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after_secs));
            }
        }
    }
    result
}

pub async fn end_session() -> Result<(), AppError> {
    session().await?.flush().await.map_err(|_| AppError::Internal)
}
