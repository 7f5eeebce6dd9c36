//! Switchboard's backoffice UI.
//!
//! One folder per feature ([`accounts`], [`connectors`], [`agents`], [`inbox`], [`sharing`],
//! [`dashboard`]), each with the types the browser sees, its server functions (`api`), its
//! pages, and the small trait (`port`) through which its server functions reach the server's
//! services, given by Leptos context. So no database, HTTP-client or crypto code is compiled
//! into the WASM bundle.

pub mod accounts;
pub mod agents;
mod components;
pub mod connectors;
pub mod dashboard;
pub mod error;
pub mod inbox;
#[cfg(feature = "ssr")]
pub mod ports;
pub mod privacy;
mod routes;
pub mod sharing;
pub mod time;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, Lazy, SsrMode,
};

pub use error::AppError;

/// The look of every page, in the page itself: a first visit paints as soon as the page arrives
/// instead of a round trip later (most of a second on a slow mobile link), before the program.
const STYLE: &str = include_str!("../../style/main.css");

/// Once the browser's program has stopped (`routes::show_stopped` marks the body), a link or a
/// form does what it does in a browser without the program: the router's listener would hold a
/// link's click back to follow it itself, and nothing happened. A script of the page's own,
/// which does not stop with the program, hears each click and submission first, on the window,
/// and lets it go no further; it opens and folds the phone's Menu itself (the style's fallback
/// before the program arrives opens it while the button has the focus, which Safari does not
/// give a button it taps, and Chromium keeps after a second tap).
const PAST_A_STOP: &str = "for (const kind of ['click', 'submit']) addEventListener(kind, (e) => { \
     if (!document.body.hasAttribute('data-stopped')) return; \
     e.stopPropagation(); \
     const menu = kind === 'click' && e.target.closest && e.target.closest('header.top button.menu'); \
     if (menu) menu.setAttribute('aria-expanded', String(menu.closest('header.top').classList.toggle('open'))); \
     }, true);";

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.ico"/>
                <style inner_html=STYLE></style>
                <script inner_html=PAST_A_STOP></script>
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
    // A marker for browser tests: set once the page has hydrated and its handlers are live. A page
    // outside the main program (`routes`) hydrates after its part arrives and sets it itself.
    Effect::new(move |_| {
        if !routes::is_lazy(&window().location().pathname().unwrap_or_default()) {
            routes::mark_hydrated();
        }
    });

    view! {
        <Title formatter=|t: String| if t.is_empty() { "Switchboard".to_string() } else { format!("{t} · Switchboard") }/>
        <Router>
            <Routes fallback=|| view! { <components::NotFound/> }>
                <Route path=path!("/setup") view=accounts::login::SetupPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=accounts::login::LoginPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=components::Shell ssr=SsrMode::Async>
                    <Route path=path!("") view=components::Home/>
                    <Route path=path!("users") view={Lazy::<routes::Users>::new()}/>
                    <Route path=path!("tokens") view={Lazy::<routes::Tokens>::new()}/>
                    <Route path=path!("privacy") view={Lazy::<routes::Privacy>::new()}/>
                    <Route path=path!("audit") view={Lazy::<routes::Audit>::new()}/>
                    <Route path=path!("connectors") view=connectors::page::ConnectorsPage/>
                    <Route path=path!("connectors/new") view={Lazy::<routes::NewConnector>::new()}/>
                    <Route path=path!("connectors/:id") view={Lazy::<routes::Connector>::new()}/>
                    <Route path=path!("agents") view={Lazy::<routes::Agents>::new()}/>
                    <Route path=path!("agents/new") view={Lazy::<routes::NewAgent>::new()}/>
                    <Route path=path!("agents/:id") view={Lazy::<routes::Agent>::new()}/>
                    <Route path=path!("agents/:id/channels") view={Lazy::<routes::Channels>::new()}/>
                    <Route path=path!("agents/:id/conversations") view={Lazy::<routes::Conversations>::new()}/>
                    <Route path=path!("inbox") view={Lazy::<routes::Inbox>::new()}/>
                    <Route path=path!("conversations/:id") view={Lazy::<routes::Conversation>::new()}/>
                    <Route path=path!("dashboard") view={Lazy::<routes::Dashboard>::new()}/>
                    <Route path=path!("agents/:id/sharing") view={Lazy::<routes::Sharing>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // A panic stops the program (the page's buttons go dead): the console gets its message and
    // the page says so.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        routes::show_stopped();
    }));
    // Pages outside the main program are fetched before hydrating them (see `routes`).
    leptos::mount::hydrate_lazy(App);
}
