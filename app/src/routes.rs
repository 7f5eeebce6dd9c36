//! Which part of the browser's program each page is in.
//!
//! The pages of a first visit (set up, sign in, the home page, Connectors) are in the main
//! program every page loads. The others come in one part per feature, fetched the first time a
//! page of that feature is shown: the server names a page's parts in its `<head>` (preload links,
//! from `pkg/__wasm_split_manifest.json`), so a browser opening it directly fetches them beside
//! the main program. scripts/build-wasm.sh cuts the program along the `#[lazy]` functions below;
//! on the server they are plain calls.

use leptos::prelude::*;
use leptos_router::LazyRoute;

/// Sets the marker browser tests wait for: the page has hydrated and its handlers are live
/// (unless the program stopped meanwhile: `show_stopped`).
pub fn mark_hydrated() {
    if let Some(body) = document().body() {
        if !body.has_attribute("data-stopped") {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    }
}

/// After the browser's program stopped (a panic: past it, no button or link of the page's
/// program answers), says so at the top of the page with a link that loads it again, and
/// marks the body (`data-stopped`, no `data-hydrated`) for browser tests.
#[cfg(feature = "hydrate")]
pub fn show_stopped() {
    let Some(body) = document().body() else { return };
    if body.has_attribute("data-stopped") {
        return;
    }
    let _ = body.set_attribute("data-stopped", "true");
    let _ = body.remove_attribute("data-hydrated");
    if let Ok(note) = document().create_element("p") {
        note.set_class_name("warning stopped");
        let _ = note.set_attribute("role", "alert");
        note.set_inner_html("This page stopped working. <a href=\"\" rel=\"external\">Load it again</a> to go on.");
        let _ = body.prepend_with_node_1(&note);
        // The control the person was on answers no more: the way on takes the focus.
        if let Ok(Some(link)) = note.query_selector("a") {
            use wasm_bindgen::JsCast;
            if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
                let _ = link.focus();
            }
        }
    }
}

/// Whether `path` is a page outside the main program (the `Lazy` routes of `lib.rs`).
pub fn is_lazy(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    ["/users", "/tokens", "/privacy", "/audit", "/agents", "/inbox", "/dashboard"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        || path.starts_with("/connectors/")
        || path.starts_with("/conversations/")
}

/// `feature!(load_fn, __preload_load_fn, Page { Route => page::Component, … })`: one `#[lazy]`
/// function that renders any page of the feature (so they share one part of the program), and
/// for each page a route type for `Lazy::<Route>`. `#[lazy]` names the function that fetches the
/// part without calling it `__preload_<load_fn>` (in the browser's build only).
macro_rules! feature {
    ($load:ident, $preload:ident, $pages:ident { $($route:ident => $page:path),+ $(,)? }) => {
        #[derive(Clone, Copy)]
        #[repr(u8)]
        pub enum $pages {
            $($route),+
        }

        #[lazy]
        fn $load(page: $pages) -> AnyView {
            match page {
                $($pages::$route => {
                    use $page as Page;
                    Effect::new(move |_| mark_hydrated());
                    view! { <Page/> }.into_any()
                })+
            }
        }

        $(
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                async fn view(_this: Self) -> AnyView {
                    $load($pages::$route).await
                }

                // Fetched before the page hydrates, so the page's part is there when it does
                // (on the server the function is a plain call).
                async fn preload() {
                    #[cfg(target_arch = "wasm32")]
                    $preload().await;
                }
            }
        )+
    };
}

feature!(connector_pages, __preload_connector_pages, ConnectorPage {
    NewConnector => crate::connectors::page::NewConnectorPage,
    Connector => crate::connectors::page::ConnectorPage,
});

feature!(agent_pages, __preload_agent_pages, AgentPage {
    Agents => crate::agents::page::AgentsPage,
    NewAgent => crate::agents::page::NewAgentPage,
    Agent => crate::agents::page::AgentPage,
    Channels => crate::agents::channels::ChannelsPage,
    Sharing => crate::sharing::page::SharingPage,
});

feature!(inbox_pages, __preload_inbox_pages, InboxPage {
    Inbox => crate::inbox::page::InboxPage,
    Conversation => crate::inbox::page::ConversationPage,
    Conversations => crate::inbox::page::ConversationsPage,
    Dashboard => crate::dashboard::page::DashboardPage,
});

feature!(account_pages, __preload_account_pages, AccountPage {
    Users => crate::accounts::users::UsersPage,
    Tokens => crate::accounts::tokens::TokensPage,
    Privacy => crate::privacy::page::PrivacyPage,
    Audit => crate::privacy::page::AuditLogPage,
});
