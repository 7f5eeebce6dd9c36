//! Personal API tokens: for scripts that use Switchboard's REST API as the signed-in user.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    accounts::api::{list_tokens, CreateToken, RevokeToken},
    components::{ErrorNote, FieldError, FormError},
};

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let revoke_error = Signal::derive(move || revoke.value().get().and_then(Result::err));
    view! {
        <Title text="API tokens"/>
        <h1>"API tokens"</h1>
        <p class="hint">
            "A token acts as you in Switchboard's REST API: " <code>"Authorization: Bearer <token>"</code>
            ". The API is described at " <a href="/api/openapi.json">"/api/openapi.json"</a> "."
        </p>
        {move || create.value().get().and_then(Result::ok).map(|new| view! {
            <div class="notice" role="status" data-testid="new-token">
                <p><strong>{format!("Token “{}”, shown once:", new.row.name)}</strong></p>
                <code class="url" data-testid="token">{new.token}</code>
                <p class="hint">"Copy it now: Switchboard keeps only its fingerprint and cannot show it again."</p>
            </div>
        })}
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="list" data-testid="tokens">
                            <thead><tr><th>"Name"</th><th>"Starts with"</th><th>"Created"</th><th>"Last used"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let id = t.id.clone();
                                    view! {
                                        <tr data-name=t.name.clone()>
                                            <td>{t.name.clone()}</td>
                                            <td class="mono">{format!("{}…", t.prefix)}</td>
                                            <td>{t.created.clone()}</td>
                                            <td>{t.last_used.clone().unwrap_or_else(|| "never".into())}</td>
                                            <td><button class="link" on:click=move |_| { revoke.dispatch(RevokeToken { id: id.clone() }); }>"Revoke"</button></td>
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
        <FormError error=revoke_error/>
        <section class="card">
            <h2>"New token"</h2>
            <ActionForm action=create attr:class="form">
                <label>"Name" <input name="name" required maxlength="80" placeholder="deploy script"/></label>
                <FieldError error field="name"/>
                <button type="submit" disabled=move || create.pending().get()>"Create token"</button>
            </ActionForm>
            <FormError error/>
        </section>
    }
}
