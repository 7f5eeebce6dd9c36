//! An agent's Sharing page: who may talk to it (the access policy and onboarding), the email
//! addresses it is shared with, the access requests to decide and the verified guests.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    agents::page::AgentTabs,
    components::{ErrorNote, FieldError, FormError},
    sharing::{
        api::{get_sharing, AddSharedEmail, DecideAccess, RemoveSharedEmail, RevokeGuest, SetAccess},
        AccessPolicy, AccessRequestRow, RequestKind, SharingView,
    },
    time::utc_minutes,
};

#[component]
pub fn SharingPage() -> impl IntoView {
    let params = use_params_map();
    let agent_id = Signal::derive(move || params.read().get("id").unwrap_or_default());
    let save = ServerAction::<SetAccess>::new();
    let add = ServerAction::<AddSharedEmail>::new();
    let remove = ServerAction::<RemoveSharedEmail>::new();
    let decide = ServerAction::<DecideAccess>::new();
    let revoke = ServerAction::<RevokeGuest>::new();
    let sharing = Resource::new(
        move || {
            (
                agent_id.get(),
                save.version().get(),
                add.version().get(),
                remove.version().get(),
                decide.version().get(),
                revoke.version().get(),
            )
        },
        |(id, ..)| get_sharing(id),
    );
    let actions = Actions { save, add, remove, decide, revoke };
    view! {
        <Title text="Sharing"/>
        <h1>"Sharing"</h1>
        <AgentTabs id=agent_id.get_untracked()/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match sharing.await {
                    Ok(view) => view! { <Sharing agent_id view actions/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    save: ServerAction<SetAccess>,
    add: ServerAction<AddSharedEmail>,
    remove: ServerAction<RemoveSharedEmail>,
    decide: ServerAction<DecideAccess>,
    revoke: ServerAction<RevokeGuest>,
}

#[component]
fn Sharing(agent_id: Signal<String>, view: SharingView, actions: Actions) -> impl IntoView {
    let Actions { save, add, remove, decide, revoke } = actions;
    let save_error = Signal::derive(move || save.value().get().and_then(Result::err));
    let add_error = Signal::derive(move || add.value().get().and_then(Result::err));
    let remove_error = Signal::derive(move || remove.value().get().and_then(Result::err));
    let revoke_error = Signal::derive(move || revoke.value().get().and_then(Result::err));
    let settings = view.settings.clone();
    let pending = view.requests.iter().filter(|r| r.state == "pending").count();
    view! {
        {view.email_warning.map(|w| view! { <p class="warning" role="alert" data-testid="email-warning">{w}</p> })}
        <section class="card" data-testid="policy">
            <h2>"Channel access policy"</h2>
            <p class="hint">"Who may chat with this agent on WhatsApp and SMS. Guests use /login, /logout, /whoami and /help in the chat; Switchboard answers those itself."</p>
            <ActionForm action=save attr:class="form">
                <input type="hidden" name="agent_id" value=agent_id.get_untracked()/>
                <fieldset class="options">
                    {AccessPolicy::ALL.into_iter().map(|p| view! {
                        <label class="check">
                            <input type="radio" name="policy" value=p.as_str() checked=settings.policy == p/>
                            <span><strong>{p.label()}</strong><br/><span class="hint">{p.explanation()}</span></span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <label class="check">
                    <input type="checkbox" name="onboarding" value="on" checked=settings.onboarding/>
                    <span><strong>"Onboarding"</strong><br/>
                        <span class="hint">"New senders wait until you approve their phone number below (whatever the policy). They receive the onboarding message."</span>
                    </span>
                </label>
                <label>"Onboarding message (empty: a standard text)"
                    <textarea name="onboarding_message" rows="2">{settings.onboarding_message.clone()}</textarea>
                </label>
                <FieldError error=save_error field="onboarding_message"/>
                <FieldError error=save_error field="policy"/>
                <button type="submit" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save access" }}
                </button>
                {move || matches!(save.value().get(), Some(Ok(_))).then(|| view! { <span class="ok" role="status">"Saved."</span> })}
            </ActionForm>
        </section>

        <section class="card" data-testid="requests">
            <h2>"Access requests" {(pending > 0).then(|| view! { <span class="badge warn">{pending} " pending"</span> })}</h2>
            {move || decide.value().get().map(|outcome| match outcome {
                Ok(text) => view! { <p class="ok" role="status" data-testid="decision">{text}</p> }.into_any(),
                Err(error) => view! { <ErrorNote error/> }.into_any(),
            })}
            {if view.requests.is_empty() {
                view! { <p class="empty">"No access requests."</p> }.into_any()
            } else {
                view! {
                    <table class="list">
                        <thead><tr><th>"Who"</th><th>"From"</th><th>"Asked"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>
                            {view.requests.into_iter().map(|r| view! { <RequestLine agent_id request=r decide/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>

        <section class="card" data-testid="shared">
            <h2>"Shared with"</h2>
            <p class="hint">"Under \"Require approval\", guests who verified one of these addresses may chat. Approving an email request adds it here."</p>
            {if view.shared.is_empty() {
                view! { <p class="empty">"No one yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="shared">
                        {view.shared.into_iter().map(|s| {
                            let email = s.email.clone();
                            view! {
                                <li data-email=s.email.clone()>
                                    <span class="mono">{s.email.clone()}</span>
                                    <span class="hint">" · added " {utc_minutes(s.added_at_ms)}</span>
                                    <button class="link danger" on:click=move |_| {
                                        remove.dispatch(RemoveSharedEmail { agent_id: agent_id.get_untracked(), email: email.clone() });
                                    }>"Remove"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <FormError error=remove_error/>
            <ActionForm action=add attr:class="form inline">
                <input type="hidden" name="agent_id" value=agent_id.get_untracked()/>
                <label>"Email address" <input name="email" type="email" placeholder="guest@example.com" required/></label>
                <button type="submit">"Share"</button>
            </ActionForm>
            <FieldError error=add_error field="email"/>
        </section>

        <section class="card" data-testid="verified">
            <h2>"Verified guests"</h2>
            <p class="hint">"Guests who proved an email address with /login and wrote to this agent. Revoking unlinks the address: they must /login again."</p>
            {if view.verified.is_empty() {
                view! { <p class="empty">"No verified guests."</p> }.into_any()
            } else {
                view! {
                    <table class="list">
                        <thead><tr><th>"Number"</th><th>"Email"</th><th>"Verified"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>
                            {view.verified.into_iter().map(|g| {
                                let key = g.key.clone();
                                let email = g.email.clone();
                                view! {
                                    <tr data-email=email>
                                        <td class="mono">{g.guest}</td>
                                        <td>{g.email}</td>
                                        <td>{utc_minutes(g.verified_at_ms)}</td>
                                        <td><button class="link danger" on:click=move |_| {
                                            revoke.dispatch(RevokeGuest { agent_id: agent_id.get_untracked(), guest: key.clone() });
                                        }>"Revoke"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <FormError error=revoke_error/>
        </section>
    }
}

#[component]
fn RequestLine(
    agent_id: Signal<String>,
    request: AccessRequestRow,
    decide: ServerAction<DecideAccess>,
) -> impl IntoView {
    let who = match (&request.kind, &request.email) {
        (RequestKind::Email, Some(email)) => email.clone(),
        _ => "New sender (onboarding)".to_string(),
    };
    let from = match &request.guest_name {
        Some(name) => format!("{} ({name})", request.guest),
        None => request.guest.clone(),
    };
    let decided = request.decided_by.as_ref().map(|by| {
        format!(" by {by}{}", request.decided_at_ms.map(|at| format!(", {}", utc_minutes(at))).unwrap_or_default())
    });
    let state_class = match request.state.as_str() {
        "approved" => "badge ok",
        "denied" => "badge bad",
        _ => "badge warn",
    };
    let request_id = request.id.clone();
    let button = move |approve: bool, label: &'static str, class: &'static str| {
        let id = request_id.clone();
        view! {
            <button class=class on:click=move |_| {
                decide.dispatch(DecideAccess { agent_id: agent_id.get_untracked(), request_id: id.clone(), approve });
            }>{label}</button>
        }
    };
    let state = request.state.clone();
    let who_attr = who.clone();
    view! {
        <tr data-state=request.state.clone() data-who=who_attr>
            <td>{who}</td>
            <td class="mono">{from}</td>
            <td>{utc_minutes(request.created_at_ms)}</td>
            <td><span class=state_class>{request.state.clone()}</span><span class="hint">{decided}</span></td>
            <td>
                {(state != "approved").then(|| button(true, "Approve", ""))}
                {(state == "pending").then(|| button(false, "Deny", "danger"))}
            </td>
        </tr>
    }
}
