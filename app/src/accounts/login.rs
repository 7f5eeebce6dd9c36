use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::Redirect,
    hooks::{use_navigate, use_query_map},
};

use crate::{
    accounts::api::{needs_setup, Login, SetupOrganization},
    components::{FieldError, FormError},
};

/// First visit: creates the organization and its first admin.
#[component]
pub fn SetupPage() -> impl IntoView {
    let needed = Resource::new(|| (), |_| needs_setup());
    let setup = ServerAction::<SetupOrganization>::new();
    let error = Signal::derive(move || setup.value().get().and_then(Result::err));
    let navigate = use_navigate();
    // The setup link Switchboard prints carries the token: `/setup?token=…`.
    let token = use_query_map().with_untracked(|q| q.get("token").unwrap_or_default());
    Effect::new(move |_| {
        if let Some(Ok(_)) = setup.value().get() {
            navigate("/connectors", Default::default());
        }
    });

    view! {
        <Title text="Set up"/>
        <main class="narrow">
            <h1>"Welcome to Switchboard"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match needed.await {
                        Ok(false) => view! { <Redirect path="/login"/> }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Suspense>
            <p>"Create your organization and its first administrator."</p>
            <ActionForm action=setup>
                <label>
                    "Setup token"
                    <input name="setup_token" required autocomplete="off" spellcheck="false" value=token
                        aria-describedby="setup-token-help"/>
                </label>
                <p class="hint" id="setup-token-help">
                    "Switchboard printed it in its log when it started (scripts/run.sh shows it too). \
                     Only someone who can read that log may set Switchboard up."
                </p>
                <FieldError error field="setup_token"/>
                <label>"Organization name" <input name="org_name" required autocomplete="organization"/></label>
                <FieldError error field="org_name"/>
                <label>"Your email" <input name="email" type="email" required autocomplete="username"/></label>
                <FieldError error field="email"/>
                <label>"Password" <input name="password" type="password" required minlength="10" autocomplete="new-password"/></label>
                <FieldError error field="password"/>
                <button type="submit" disabled=move || setup.pending().get()>"Create organization"</button>
            </ActionForm>
            <FormError error/>
        </main>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let needed = Resource::new(|| (), |_| needs_setup());
    let login = ServerAction::<Login>::new();
    let error = Signal::derive(move || login.value().get().and_then(Result::err));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(me)) = login.value().get() {
            navigate(crate::accounts::home_of(me.role), Default::default());
        }
    });

    view! {
        <Title text="Log in"/>
        <main class="narrow">
            <h1>"Log in to Switchboard"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match needed.await {
                        Ok(true) => view! { <Redirect path="/setup"/> }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=login>
                <label>"Email" <input name="email" type="email" required autocomplete="username"/></label>
                <label>"Password" <input name="password" type="password" required autocomplete="current-password"/></label>
                <button type="submit" disabled=move || login.pending().get()>"Log in"</button>
            </ActionForm>
            <FormError error/>
            <FieldError error field="email"/>
        </main>
    }
}
