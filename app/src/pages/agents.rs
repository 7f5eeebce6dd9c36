use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use crate::{
    api::{get_agent, list_agents, list_connectors, list_templates, CreateAgent, SetAgentTemplate},
    components::{ErrorNote, FieldError, FormError},
    model::AgentTemplate,
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
                        <TemplateSection agent=agent.id.clone() current=agent.template.clone()/>
                    }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The approved WhatsApp template sent instead of free text once a guest's 24-hour window closed.
#[component]
fn TemplateSection(agent: String, current: Option<AgentTemplate>) -> impl IntoView {
    let save = ServerAction::<SetAgentTemplate>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let shown = RwSignal::new(current);
    Effect::new(move |_| {
        if let Some(Ok(detail)) = save.value().get() {
            shown.set(detail.template);
        }
    });
    let connectors = Resource::new(|| (), |_| list_connectors());
    let connector = RwSignal::new(String::new());
    let templates = Resource::new(
        move || connector.get(),
        |id| async move {
            if id.is_empty() {
                Ok(Vec::new())
            } else {
                list_templates(id).await
            }
        },
    );
    let agent_for_clear = agent.clone();
    view! {
        <section class="card" data-testid="template">
            <h2>"Outside the 24-hour window"</h2>
            <p class="hint">"WhatsApp takes free text only within 24 hours of the guest's last message. After that the agent sends this approved template instead, and the conversation says so."</p>
            {move || match shown.get() {
                Some(t) => view! {
                    <p data-testid="current-template">"Sends " <strong>{t.name}</strong> " (" {t.connector_name} ")"
                        {(!t.variables.is_empty()).then(|| view! { <span class="hint">" with " <code>{t.variables}</code></span> })}
                    </p>
                }.into_any(),
                None => view! { <p class="empty" data-testid="current-template">"No template: replies outside the window are not sent."</p> }.into_any(),
            }}
            <ActionForm action=save attr:class="form">
                <input type="hidden" name="agent_id" value=agent.clone()/>
                <label>"Connector"
                    <select name="connector_id" on:change=move |ev| connector.set(event_target_value(&ev))>
                        <option value="">"Pick a connector…"</option>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                connectors.await.unwrap_or_default().into_iter().map(|c| view! {
                                    <option value=c.id.clone()>{c.name.clone()}</option>
                                }).collect_view()
                            })}
                        </Transition>
                    </select>
                </label>
                <Transition fallback=|| view! { <p aria-busy="true">"Asking Twilio for the account's templates…"</p> }>
                    {move || Suspend::new(async move {
                        match templates.await {
                            Ok(list) => list.into_iter().map(|t| {
                                let approved = t.status == "approved";
                                view! {
                                    <label class="check" class:disabled=!approved data-template=t.name.clone()>
                                        <input type="radio" name="template_sid" value=t.sid.clone() disabled=!approved/>
                                        <strong>{t.name.clone()}</strong>
                                        <span class=if approved { "badge ok" } else { "badge bad" }>{t.status.clone()}</span>
                                        <span class="hint">{t.body.clone().unwrap_or_default()}</span>
                                    </label>
                                }
                            }).collect_view().into_any(),
                            Err(error) => view! { <ErrorNote error/> }.into_any(),
                        }
                    })}
                </Transition>
                <FieldError error field="template_sid"/>
                <label>"Variables (JSON)" <input name="variables" placeholder="{\"1\": \"there\"}" class="mono"/></label>
                <FieldError error field="variables"/>
                <button type="submit" disabled=move || save.pending().get()>"Save template"</button>
            </ActionForm>
            <button class="link" on:click=move |_| {
                save.dispatch(SetAgentTemplate {
                    agent_id: agent_for_clear.clone(),
                    connector_id: String::new(),
                    template_sid: String::new(),
                    variables: String::new(),
                });
            }>"Remove the template"</button>
            <FormError error/>
        </section>
    }
}
