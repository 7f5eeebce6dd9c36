use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use crate::{
    api::{get_agent, list_agents, CreateAgent},
    components::{ErrorNote, FieldError, FormError},
};

#[component]
pub fn AgentsPage() -> impl IntoView {
    let agents = Resource::new(|| (), |_| list_agents());
    view! {
        <Title text="Agents"/>
        <div class="page-head">
            <h1>"Agents"</h1>
            <A href="/agents/new" attr:class="button">"New agent"</A>
        </div>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agents.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No agents yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="list" data-testid="agents">
                            <thead><tr><th>"Name"</th><th>"Channels"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|a| view! {
                                    <tr>
                                        <td><a href=format!("/agents/{}", a.id)>{a.name}</a></td>
                                        <td>{a.channels}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn NewAgentPage() -> impl IntoView {
    let create = ServerAction::<CreateAgent>::new();
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(a)) = create.value().get() {
            navigate(&format!("/agents/{}/channels", a.id), Default::default());
        }
    });
    view! {
        <Title text="New agent"/>
        <h1>"New agent"</h1>
        <ActionForm action=create attr:class="card form">
            <label>"Name" <input name="name" required maxlength="80" placeholder="concierge"/></label>
            <FieldError error field="name"/>
            <p class="hint">"Brain: built-in FAQ. It answers at once, offline, from the pairs below."</p>
            <label>"Questions and answers (one per line: question | answer)"
                <textarea name="faq" rows="5" placeholder="When is breakfast? | Breakfast is served from 7 to 10."></textarea>
            </label>
            <FieldError error field="faq"/>
            <label>"Fallback reply (when no question matches)"
                <input name="fallback_reply" required value="Thanks for your message! A colleague will get back to you."/>
            </label>
            <FieldError error field="fallback_reply"/>
            <button type="submit" disabled=move || create.pending().get()>"Create agent"</button>
        </ActionForm>
        <FormError error/>
    }
}

/// Tabs shared by an agent's pages.
#[component]
pub fn AgentTabs(id: String) -> impl IntoView {
    view! {
        <nav class="tabs">
            <A href=format!("/agents/{id}") exact=true>"Overview"</A>
            <A href=format!("/agents/{id}/channels")>"Channels"</A>
            <A href=format!("/agents/{id}/conversations")>"Conversations"</A>
        </nav>
    }
}

#[component]
pub fn AgentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let agent = Resource::new(id, get_agent);
    view! {
        <Title text="Agent"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agent.await {
                    Ok(agent) => view! {
                        <h1>{agent.name.clone()}</h1>
                        <AgentTabs id=agent.id.clone()/>
                        <section class="card">
                            <h2>"Built-in FAQ"</h2>
                            <dl>
                                {agent.faq.into_iter().map(|e| view! { <dt>{e.question}</dt><dd>{e.answer}</dd> }).collect_view()}
                            </dl>
                            <p><strong>"Fallback reply: "</strong>{agent.fallback_reply}</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
