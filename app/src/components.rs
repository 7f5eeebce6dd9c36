//! Pieces shared by the pages: the signed-in layout, error notes, badges, and the 404 page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Outlet, Redirect, A},
    hooks::use_navigate,
};

use crate::{
    accounts::{
        api::{current_user, Logout},
        Role,
    },
    connectors::{ConnectorState, Health},
    error::AppError,
};

/// What an action that replaces its page (a delete, an erasure) succeeded with, one tick after it
/// settled: the page's own readers of the action (an error line) run before the page is disposed;
/// at once, one of them read a value already disposed and the page's program stopped.
pub fn settled<I, O>(action: ServerAction<I>) -> RwSignal<Option<O>>
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    let done = RwSignal::new(None);
    Effect::new(move |_| {
        if let Some(Ok(value)) = action.value().get() {
            done.set(Some(value));
        }
    });
    done
}

/// A select whose choice drives `choice`, also when the choice was made before the page's program
/// had taken the page over (on a slow link): once it has, the select's value is read into
/// `choice`. Give the returned reference to the select (`node_ref=`).
pub fn early_choice(choice: RwSignal<String>) -> NodeRef<leptos::html::Select> {
    let select = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if let Some(select) = select.get() {
            let chosen = select.value();
            if !chosen.is_empty() && choice.get_untracked() != chosen {
                choice.set(chosen);
            }
        }
    });
    select
}

/// The layout of every signed-in page: navigation, who is signed in, and the page below.
#[component]
pub fn Shell() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    let logout = ServerAction::<Logout>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if logout.version().get() > 0 {
            navigate("/login", Default::default());
        }
    });

    // On a phone the links fold behind "Menu"; following one folds them again.
    let (menu_open, set_menu_open) = signal(false);

    view! {
        <header class="top" class:open=menu_open>
            <a class="brand" href="/">"Switchboard"</a>
            <button type="button" class="menu" aria-controls="top-bar" aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| set_menu_open.update(|open| *open = !*open)>"Menu"</button>
            <div class="bar" id="top-bar">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => view! {
                            <nav aria-label="Main" on:click=move |_| set_menu_open.set(false)>
                                {(me.role == Role::OrgAdmin).then(|| view! { <A href="/connectors">"Connectors"</A> })}
                                <A href="/agents">"Agents"</A>
                                <A href="/inbox">"Inbox"</A>
                                {(me.role == Role::OrgAdmin).then(|| view! { <A href="/dashboard">"Dashboard"</A> })}
                                {(me.role == Role::OrgAdmin).then(|| view! { <A href="/users">"Users"</A> })}
                                {(me.role == Role::OrgAdmin).then(|| view! { <A href="/privacy">"Privacy"</A> })}
                                <A href="/tokens">"API tokens"</A>
                            </nav>
                            <span class="who">{me.email} " · " {me.org_name}</span>
                            <ActionForm action=logout>
                                <button type="submit" class="link">"Log out"</button>
                            </ActionForm>
                        }.into_any(),
                        Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                        Err(error) => view! { <ErrorNote error/> }.into_any(),
                    }
                })}
            </Transition>
            </div>
        </header>
        <main>
            <Outlet/>
        </main>
    }
}

/// Shows an error; a lapsed session sends the person to the login page instead.
#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthenticated => view! { <Redirect path="/login"/> }.into_any(),
        error => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
    }
}

/// The message of a form's last error when it belongs to `field`.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, #[prop(into)] field: String) -> impl IntoView {
    move || {
        error.get().and_then(|e| e.for_field(&field)).map(|message| {
            view! { <span class="field-error" role="alert">{message}</span> }
        })
    }
}

/// The message of a form's last error when it belongs to no single field.
#[component]
pub fn FormError(error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.get().and_then(|e| match e {
            AppError::Invalid { ref field, .. } if !field.is_empty() => None,
            AppError::Unauthenticated => Some(view! { <Redirect path="/login"/> }.into_any()),
            e => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
        })
    }
}

#[component]
pub fn StateBadge(state: ConnectorState) -> impl IntoView {
    let (class, label) = match state {
        ConnectorState::Active => ("badge ok", "Active"),
        ConnectorState::Error => ("badge bad", "Error"),
    };
    view! { <span class=class data-testid="state">{label}</span> }
}

#[component]
pub fn HealthBadge(health: Health) -> impl IntoView {
    let class = match health {
        Health::Connected => "badge ok",
        Health::Checking => "badge",
        Health::CredentialsRejected | Health::Unreachable => "badge bad",
    };
    view! { <span class=class data-testid="health">{health.label()}</span> }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function copy_text_of(id) {
  const el = document.getElementById(id);
  if (!el) return;
  const select = () => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(el.textContent).catch(select);
  } else {
    select();
  }
}
"#)]
extern "C" {
    fn copy_text_of(id: &str);
}

/// Copies the text of the element `target` (by id) to the clipboard; where the browser refuses,
/// it selects the text for Ctrl+C instead.
#[component]
pub fn CopyButton(target: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    view! {
        <button type="button" class="secondary" on:click=move |_| {
            #[cfg(feature = "hydrate")]
            copy_text_of(target);
            let _ = target;
            copied.set(true);
        }>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// `/`: sends each user to their home page.
#[component]
pub fn Home() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => view! { <Redirect path=crate::accounts::home_of(me.role)/> }.into_any(),
                    Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A counter that goes up whenever the server says a conversation the user may see changed
/// (server-sent events from `/events`); resources that read it refetch. On the server, and
/// until the page is hydrated, it stays at 0.
pub fn live_updates() -> ReadSignal<u32> {
    let (count, set_count) = signal(0u32);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        if let Ok(source) = web_sys::EventSource::new("/events") {
            let bump = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| set_count.update(|n| *n += 1));
            let _ = source.add_event_listener_with_callback("changed", bump.as_ref().unchecked_ref());
            let _ = source.add_event_listener_with_callback("reload", bump.as_ref().unchecked_ref());
            bump.forget();
            let source = send_wrapper::SendWrapper::new(source);
            on_cleanup(move || source.close());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_count;
    count
}

/// The page for an address that names nothing (a 404).
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Page not found"/>
        <main class="narrow">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to Switchboard"</a></p>
        </main>
    }
}
