//! The signed-in session of a server function: who is asking, from where, and the answer's
//! HTTP status.
//!
//! Each function here reads what it needs from Leptos's context (a feature's port, the request,
//! the response's options) before its first `.await`. While the server renders a page, Leptos
//! may build a part of it twice and drop the first (a connector's page asked Twilio for its
//! numbers twice in one render of ten); a server function of the dropped part, resumed after an
//! await, found its context gone with the owner that held it (`… missing from context` in the
//! log), and the browser hydrated the page against that error, which the page did not show: its
//! program stopped there, every button dead.

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

/// What the server put in this request's extensions, if it did.
fn from_request<T: Clone + Send + Sync + 'static>() -> Option<T> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<T>().cloned())
}

/// The address of the client making this request, if the server said.
pub fn client_addr() -> Option<std::net::IpAddr> {
    from_request::<ClientAddr>().map(|c| c.0)
}

/// A feature's service (`dyn …Port`), as the server put it in Leptos context.
pub fn port<P: ?Sized + Send + Sync + 'static>() -> Result<Arc<P>, AppError> {
    use_context::<Arc<P>>().ok_or_else(|| {
        leptos::logging::error!("{} missing from context", std::any::type_name::<P>());
        AppError::Internal
    })
}

/// The request's session, which the session layer put in the request's extensions (read at
/// once, without an await).
pub fn session() -> Result<Session, AppError> {
    from_request::<Session>().ok_or_else(|| {
        leptos::logging::error!("session layer missing");
        AppError::Internal
    })
}

/// The signed-in user, or `Unauthenticated`.
pub async fn me() -> Result<Me, AppError> {
    let accounts = port::<dyn AccountsPort>()?;
    let session = session()?;
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
    let port = port::<P>();
    let me = me().await?;
    Ok((port?, me))
}

/// Signs `me` in on `session` (taken before the work that found `me`: see the module's note).
pub async fn start_session(session: &Session, me: &Me) -> Result<(), AppError> {
    // A new id on login: a session id known before login is worth nothing after it.
    session.cycle_id().await.map_err(|_| AppError::Internal)?;
    session.insert(USER_KEY, &me.user_id).await.map_err(|_| AppError::Internal)
}

/// Runs a server function's work and gives an error its HTTP status ([`AppError::status`]: 422
/// for a bad field, 401, 403, 404, 409, 429, 502 for Twilio, 500 for ours) instead of a blanket
/// 500.
pub async fn reply<T>(work: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let response = use_context::<leptos_axum::ResponseOptions>();
    let result = work.await;
    if let (Err(e), Some(response)) = (&result, response) {
        response.set_status(http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
        if let AppError::RateLimited { retry_after_secs, .. } = e {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after_secs));
        }
    }
    result
}

pub async fn end_session() -> Result<(), AppError> {
    session()?.flush().await.map_err(|_| AppError::Internal)
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        sync::Arc,
        task::{Context, Poll, Waker},
    };

    use async_trait::async_trait;
    use leptos::prelude::{provide_context, Owner};
    use tower_sessions::{
        session::{Id, Record},
        session_store, Session, SessionStore,
    };

    use super::*;
    use crate::accounts::{ApiTokenRow, NewApiToken, Role, UserRow};

    /// Returns `Pending` the first time it is polled, as a database query does.
    struct Wait(bool);

    impl Future for Wait {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    /// Knows one user; finding them takes a wait.
    struct Accounts;

    #[async_trait]
    impl AccountsPort for Accounts {
        async fn needs_setup(&self) -> Result<bool, AppError> {
            unreachable!()
        }
        async fn setup(&self, _: String, _: String, _: String, _: String) -> Result<Me, AppError> {
            unreachable!()
        }
        async fn authenticate(&self, _: String, _: String, _: Option<std::net::IpAddr>) -> Result<Me, AppError> {
            unreachable!()
        }
        async fn user(&self, user_id: &str) -> Result<Option<Me>, AppError> {
            Wait(false).await;
            Ok(Some(Me {
                user_id: user_id.into(),
                org_id: "org".into(),
                org_name: "Demo Hotels".into(),
                email: "admin@example.com".into(),
                role: Role::OrgAdmin,
                token: None,
            }))
        }
        async fn list_users(&self, _: &Me) -> Result<Vec<UserRow>, AppError> {
            unreachable!()
        }
        async fn add_user(&self, _: &Me, _: &str, _: Role, _: String) -> Result<UserRow, AppError> {
            unreachable!()
        }
        async fn remove_user(&self, _: &Me, _: &str) -> Result<(), AppError> {
            unreachable!()
        }
        async fn list_tokens(&self, _: &Me) -> Result<Vec<ApiTokenRow>, AppError> {
            unreachable!()
        }
        async fn create_token(&self, _: &Me, _: &str) -> Result<NewApiToken, AppError> {
            unreachable!()
        }
        async fn revoke_token(&self, _: &Me, _: &str) -> Result<(), AppError> {
            unreachable!()
        }
    }

    /// A session that is never saved: the test's lives in memory.
    #[derive(Debug)]
    struct Unsaved;

    #[async_trait]
    impl SessionStore for Unsaved {
        async fn save(&self, _: &Record) -> session_store::Result<()> {
            Ok(())
        }
        async fn load(&self, _: &Id) -> session_store::Result<Option<Record>> {
            Ok(None)
        }
        async fn delete(&self, _: &Id) -> session_store::Result<()> {
            Ok(())
        }
    }

    /// A feature's port, for `signed_in` to find.
    trait Feature: Send + Sync {}
    struct TheFeature;
    impl Feature for TheFeature {}

    /// Polls `work` once inside `owner` (as Leptos begins a resource's future while the server
    /// renders a page) and then outside any owner until it ends (as its later polls may be).
    fn first_poll_only_in<T>(owner: &Owner, work: impl Future<Output = T>) -> T {
        let mut work = pin!(work);
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(done) = owner.with(|| work.as_mut().poll(&mut cx)) {
            return done;
        }
        loop {
            if let Poll::Ready(done) = work.as_mut().poll(&mut cx) {
                return done;
            }
        }
    }

    fn signed_in_request() -> Owner {
        let session = Session::new(None, Arc::new(Unsaved), None);
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Ok(())) = pin!(session.insert(USER_KEY, "u1")).poll(&mut cx) else {
            panic!("a session in memory takes a value at once")
        };
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.extensions.insert(session);
        let owner = Owner::new();
        owner.with(|| {
            provide_context(parts);
            provide_context::<Arc<dyn AccountsPort>>(Arc::new(Accounts));
            provide_context::<Arc<dyn Feature>>(Arc::new(TheFeature));
            provide_context(leptos_axum::ResponseOptions::default());
        });
        owner
    }

    /// The feature's port is found though the signed-in user is found after a wait.
    #[test]
    fn a_server_function_finds_its_port_when_polled_outside_its_owner_after_a_wait() {
        let owner = signed_in_request();
        let (_, me) = first_poll_only_in(&owner, signed_in::<dyn Feature>()).expect("signed in, the port found");
        assert_eq!(me.user_id, "u1");
    }

    /// An error's status is set though the error comes after a wait.
    #[test]
    fn an_error_found_after_a_wait_sets_the_status() {
        let owner = signed_in_request();
        let response = owner.with(use_context::<leptos_axum::ResponseOptions>).unwrap();
        let result = first_poll_only_in(
            &owner,
            reply(async {
                Wait(false).await;
                Err::<(), _>(AppError::NotFound("Connector".into()))
            }),
        );
        assert!(matches!(result, Err(AppError::NotFound(_))));
        assert_eq!(response.0.read().unwrap().status, Some(http::StatusCode::NOT_FOUND));
    }
}
