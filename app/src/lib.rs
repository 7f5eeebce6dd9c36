//! Switchboard's backoffice UI.
//!
//! Pages and components, the types the browser sees ([`model`]), and the server functions
//! ([`api`]). Server-function bodies reach the server's services only through the
//! [`ports::Backoffice`] trait given by Leptos context, so no database, HTTP-client or crypto
//! code is compiled into the WASM bundle.

pub mod api;
mod components;
pub mod error;
pub mod model;
mod pages;
#[cfg(feature = "ssr")]
pub mod ports;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

pub use error::AppError;

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.ico"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // A marker for browser tests: set once the page has hydrated and handlers are live.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="switchboard" href="/main.css"/>
        <Title formatter=|t: String| if t.is_empty() { "Switchboard".to_string() } else { format!("{t} · Switchboard") }/>
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=path!("/setup") view=pages::auth::SetupPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=pages::auth::LoginPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=components::Shell ssr=SsrMode::Async>
                    <Route path=path!("") view=components::Home/>
                    <Route path=path!("users") view=pages::users::UsersPage/>
                    <Route path=path!("tokens") view=pages::tokens::TokensPage/>
                    <Route path=path!("connectors") view=pages::connectors::ConnectorsPage/>
                    <Route path=path!("connectors/new") view=pages::connectors::NewConnectorPage/>
                    <Route path=path!("connectors/:id") view=pages::connectors::ConnectorPage/>
                    <Route path=path!("agents") view=pages::agents::AgentsPage/>
                    <Route path=path!("agents/new") view=pages::agents::NewAgentPage/>
                    <Route path=path!("agents/:id") view=pages::agents::AgentPage/>
                    <Route path=path!("agents/:id/channels") view=pages::channels::ChannelsPage/>
                    <Route path=path!("agents/:id/conversations") view=pages::inbox::ConversationsPage/>
                    <Route path=path!("inbox") view=pages::inbox::InboxPage/>
                    <Route path=path!("conversations/:id") view=pages::inbox::ConversationPage/>
                    <Route path=path!("dashboard") view=pages::dashboard::DashboardPage/>
                    <Route path=path!("agents/:id/sharing") view=pages::sharing::SharingPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
