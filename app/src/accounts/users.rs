//! The organization's users, for its admins: add an agent owner or another admin, remove one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    accounts::{
        api::{list_users, AddUser, RemoveUser},
        Role,
    },
    components::{ErrorNote, FieldError, FormError},
};

#[component]
pub fn UsersPage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let users = Resource::new(move || (add.version().get(), remove.version().get()), |_| list_users());
    let error = Signal::derive(move || add.value().get().and_then(Result::err));
    let remove_error = Signal::derive(move || remove.value().get().and_then(Result::err));
    // The added user's email and first password leave the form once saved.
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(form)) = (add.value().get(), form.get()) {
            form.reset();
        }
    });
    view! {
        <Title text="Users"/>
        <h1>"Users"</h1>
        <p class="hint">"Organization admins manage everything here. Agent owners manage only their own agents and their channels, and see connectors only as names to pick from."</p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! {
                        <table class="list" data-testid="users">
                            <thead><tr><th>"Email"</th><th>"Role"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|u| {
                                    let id = u.id.clone();
                                    view! {
                                        <tr data-email=u.email.clone()>
                                            <td>{u.email.clone()} {u.is_me.then_some(" (you)")}</td>
                                            <td>{u.role.label()}</td>
                                            <td>
                                                {(!u.is_me).then(|| view! {
                                                    <button class="link" on:click=move |_| { remove.dispatch(RemoveUser { id: id.clone() }); }>"Remove"</button>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
        <FormError error=remove_error/>
        <section class="card">
            <h2>"Add a user"</h2>
            <ActionForm action=add node_ref=form attr:class="form">
                <label>"Email" <input name="email" type="email" required autocomplete="off"/></label>
                <FieldError error field="email"/>
                <label>"Role"
                    <select name="role">
                        <option value=Role::AgentOwner.as_str()>{Role::AgentOwner.label()}</option>
                        <option value=Role::OrgAdmin.as_str()>{Role::OrgAdmin.label()}</option>
                    </select>
                </label>
                <label>"First password (hand it over in person)"
                    <input name="password" type="password" required minlength="10" autocomplete="new-password"/>
                </label>
                <FieldError error field="password"/>
                <button type="submit" disabled=move || add.pending().get()>"Add user"</button>
            </ActionForm>
            {move || add.value().get().and_then(Result::ok).map(|u| view! {
                <p class="ok" role="status">{format!("{} can now log in as {}.", u.email, u.role.label().to_lowercase())}</p>
            })}
            <FormError error/>
        </section>
    }
}
