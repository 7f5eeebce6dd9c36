use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use crate::{
    agents::{
        api::{
            get_agent, get_transcription, list_agents, list_templates, CreateAgent, DeleteAgent as DeleteAgentFn,
            RegenerateHookSecret, SetAgentSenses, SetAgentTemplate, SetTranscription, TryAgent as TryAgentFn,
            UpdateAgent,
        },
        AgentDetail, AgentTemplate, BrainKind, ChatLine, ImageInput, Senses, TemplateOption, Transcription,
    },
    components::{ErrorNote, FieldError, FormError},
    connectors::{api::connector_choices, ConnectorChoice},
    error::AppError,
};

#[component]
pub fn AgentsPage() -> impl IntoView {
    let agents = Resource::new(|| (), |_| list_agents());
    let transcription = Resource::new(|| (), |_| get_transcription());
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
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match transcription.await {
                    Ok(current) => view! { <OrgTranscription current/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// "Transcribes with whisper-1 at https://…".
#[component]
fn TranscribesWith(url: String, model: Option<String>) -> impl IntoView {
    view! { "Transcribes with " <strong>{model.unwrap_or_default()}</strong> " at " <code>{url}</code> }
}

/// A transcription API's fields (an agent's own, or the organization's): its base URL, model and
/// key, each with its error; the stored key is never shown, only said to be set.
#[component]
fn TranscriptionFields(
    url: Signal<String>,
    model: Signal<String>,
    key_set: Signal<bool>,
    /// What an empty URL means here.
    empty: &'static str,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let key_hint = move || if key_set.get() { "Set · leave empty to keep it" } else { "sk-…" };
    view! {
        <label>"Transcription API (URL)"
            <input name="transcription_url" type="url" inputmode="url" placeholder="https://api.openai.com/v1" prop:value=url/>
            <span class="hint">{empty}</span>
        </label>
        <FieldError error field="transcription_url"/>
        <label>"Transcription model" <input name="transcription_model" placeholder="whisper-1" prop:value=model/></label>
        <FieldError error field="transcription_model"/>
        <label>"Transcription key" <input name="transcription_key" type="password" autocomplete="off" placeholder=key_hint/></label>
        <FieldError error field="transcription_key"/>
    }
}

/// The organization's transcription API, which every agent without its own uses: admins set it,
/// agent owners read it.
#[component]
fn OrgTranscription(current: Transcription) -> impl IntoView {
    let save = ServerAction::<SetTranscription>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let shown = RwSignal::new(current);
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            shown.set(saved);
        }
    });
    // Whether the user may change it does not change with a save: the form stays as it is.
    let editable = shown.with_untracked(|t| t.editable);
    view! {
        <section class="card" data-testid="org-transcription">
            <h2>"Voice notes: the organization's transcription API"</h2>
            <p class="hint">"Every agent without a transcription API of its own (its page: Voice notes and photos) transcribes guests' voice notes through this one: any OpenAI-compatible transcription API (OpenAI's, or a server you run)."</p>
            {move || match shown.get() {
                Transcription { url: Some(url), model, .. } => view! { <p data-testid="current-org-transcription"><TranscribesWith url model/></p> }.into_any(),
                _ => view! { <p class="empty" data-testid="current-org-transcription">"None: only agents with their own transcribe voice notes."</p> }.into_any(),
            }}
            {editable.then(|| view! {
                <ActionForm action=save attr:class="form">
                    <TranscriptionFields
                        url=Signal::derive(move || shown.with(|t| t.url.clone().unwrap_or_default()))
                        model=Signal::derive(move || shown.with(|t| t.model.clone().unwrap_or_default()))
                        key_set=Signal::derive(move || shown.with(|t| t.key_set))
                        empty="Empty: none for the organization."
                        error/>
                    <div class="actions">
                        <button type="submit" disabled=move || save.pending().get()>"Save the organization's transcription API"</button>
                    </div>
                    {move || save.value().get().and_then(Result::ok).map(|_| view! { <p class="ok" role="status">"Saved."</p> })}
                </ActionForm>
                <FormError error/>
            })}
        </section>
    }
}

#[component]
pub fn NewAgentPage() -> impl IntoView {
    let create = ServerAction::<CreateAgent>::new();
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(a)) = create.value().get() {
            // A hook's signing secret is shown once, here, before moving on.
            if a.new_hook_secret.is_none() {
                navigate(&format!("/agents/{}/channels", a.id), Default::default());
            }
        }
    });
    view! {
        <Title text="New agent"/>
        <h1>"New agent"</h1>
        {move || match create.value().get() {
            Some(Ok(agent)) if agent.new_hook_secret.is_some() => view! {
                <HookSecret secret=agent.new_hook_secret.clone().unwrap_or_default()/>
                <A href=format!("/agents/{}/channels", agent.id) attr:class="button">"Continue to channels"</A>
            }.into_any(),
            _ => view! {
                <ActionForm action=create attr:class="card form">
                    <AgentFields current=None error saved=Signal::derive(|| None)/>
                    <button type="submit" disabled=move || create.pending().get()>"Create agent"</button>
                </ActionForm>
                <FormError error/>
            }.into_any(),
        }}
    }
}

/// The signing secret of an HTTP hook brain, shown once.
#[component]
fn HookSecret(secret: String) -> impl IntoView {
    view! {
        <div class="notice" role="status" data-testid="hook-secret">
            <p><strong>"Signing secret, shown once:"</strong></p>
            <code class="url">{secret}</code>
            <p class="hint">
                "Every call to your hook carries X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the body under this secret>. "
                "Store it now: Switchboard keeps it encrypted and never shows it again."
            </p>
        </div>
    }
}

/// The fields of "New agent" and of an agent's edit, inside the caller's form.
#[component]
fn AgentFields(
    current: Option<AgentDetail>,
    error: Signal<Option<AppError>>,
    /// The agent as last saved from this form.
    saved: Signal<Option<AgentDetail>>,
) -> impl IntoView {
    let c = current.clone();
    let brain = RwSignal::new(c.as_ref().map_or(BrainKind::Faq, |a| a.brain.kind));
    let faq_text = c
        .as_ref()
        .map(|a| a.faq.iter().map(|e| format!("{} | {}", e.question, e.answer)).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    let url = c.as_ref().and_then(|a| a.brain.url.clone()).unwrap_or_default();
    let model = c.as_ref().and_then(|a| a.brain.model.clone()).unwrap_or_default();
    let timeout = c.as_ref().and_then(|a| a.brain.timeout_secs).map(|t| t.to_string()).unwrap_or_default();
    let initially_set = c.as_ref().is_some_and(|a| a.brain.api_key_set);
    let key_set = move || saved.read().as_ref().map_or(initially_set, |a| a.brain.api_key_set);
    // The typed key leaves the page once saved.
    let api_key = RwSignal::new(String::new());
    Effect::new(move |_| {
        if saved.read().is_some() {
            api_key.set(String::new());
        }
    });
    let (url2, timeout2) = (url.clone(), timeout.clone());
    view! {
        <label>"Name" <input name="name" required maxlength="80" placeholder="concierge"
            value=c.as_ref().map(|a| a.name.clone())/></label>
        <p class="hint">"Letters, digits, dots, hyphens and underscores: the name is used in API paths."</p>
        <FieldError error field="name"/>
        <label>"Description" <input name="description" maxlength="500"
            value=c.as_ref().map(|a| a.description.clone())/></label>
        <FieldError error field="description"/>
        <label>"Brain"
            <select name="brain" on:change=move |ev| brain.set(BrainKind::parse(&event_target_value(&ev)).unwrap_or(BrainKind::Faq))>
                {[BrainKind::Faq, BrainKind::OpenAi, BrainKind::Hook].into_iter().map(|k| view! {
                    <option value=k.as_str() selected=move || brain.get() == k>{k.label()}</option>
                }).collect_view()}
            </select>
        </label>
        {move || match brain.get() {
            BrainKind::Faq => view! {
                <p class="hint">"The built-in FAQ answers at once, offline: the question closest to the guest's message wins."</p>
            }.into_any(),
            BrainKind::OpenAi => view! {
                <label>"Base URL" <input name="brain_url" placeholder="https://api.openai.com/v1" value=url.clone()/></label>
                <FieldError error field="brain_url"/>
                <label>"Model" <input name="llm_model" placeholder="gpt-4o-mini" value=model.clone()/></label>
                <FieldError error field="llm_model"/>
                <label>"API key" <input name="llm_api_key" type="password" autocomplete="off"
                    prop:value=move || api_key.get() on:input=move |ev| api_key.set(event_target_value(&ev))
                    placeholder=move || if key_set() { "Set · leave empty to keep it" } else { "" }/></label>
                <FieldError error field="llm_api_key"/>
                <label>"Timeout (seconds)" <input name="timeout_secs" inputmode="numeric" placeholder="20" value=timeout.clone()/></label>
                <FieldError error field="timeout_secs"/>
            }.into_any(),
            BrainKind::Hook => view! {
                <label>"Hook URL" <input name="brain_url" placeholder="https://example.com/switchboard" value=url2.clone()/></label>
                <p class="hint">"Switchboard posts each turn as JSON, signed with HMAC-SHA256 over the body, and sends the reply it gets back ({\"reply\": \"…\"} or plain text)."</p>
                <FieldError error field="brain_url"/>
                <label>"Timeout (seconds)" <input name="timeout_secs" inputmode="numeric" placeholder="20" value=timeout2.clone()/></label>
                <FieldError error field="timeout_secs"/>
            }.into_any(),
        }}
        <label>"Instructions (the system prompt of a language model)"
            <textarea name="instructions" rows="3">{c.as_ref().map(|a| a.instructions.clone())}</textarea>
        </label>
        <FieldError error field="instructions"/>
        <label>"Welcome message (sent once, before the first reply to a new guest)"
            <input name="welcome_message" maxlength="1600" value=c.as_ref().and_then(|a| a.welcome_message.clone())/>
        </label>
        <FieldError error field="welcome_message"/>
        <label>"Questions and answers (one per line: question | answer)"
            <textarea name="faq" rows="5" placeholder="When is breakfast? | Breakfast is served from 7 to 10.">{faq_text}</textarea>
        </label>
        <p class="hint">"An answer may end with options in brackets, tapped as buttons on WhatsApp: What can I book? | Pick one: [Spa; Pool; Gym]"</p>
        <FieldError error field="faq"/>
        <label>"Fallback reply (when the brain has no answer, fails or is too slow)"
            <input name="fallback_reply" required
                value=c.as_ref().map_or_else(|| "Thanks for your message! A colleague will get back to you.".to_string(), |a| a.fallback_reply.clone())/>
        </label>
        <FieldError error field="fallback_reply"/>
    }
}

/// Tabs shared by an agent's pages.
/// The tabs of an agent's pages, with the agent's name above them unless the page's heading
/// already says it (`named`, the Overview), so the name is read once per page.
#[component]
pub fn AgentTabs(id: String, #[prop(optional)] named: bool) -> impl IntoView {
    let crumb = (!named).then(|| {
        let agent_id = id.clone();
        let agent = Resource::new(move || agent_id.clone(), get_agent);
        view! {
            <p class="crumb" data-testid="agent-crumb">
                "Agent "
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move { agent.await.ok().map(|a| view! { <strong>{a.name}</strong> }) })}
                </Transition>
            </p>
        }
    });
    view! {
        {crumb}
        <nav class="tabs" aria-label="Agent">
            <A href=format!("/agents/{id}") exact=true>"Overview"</A>
            <A href=format!("/agents/{id}/channels")>"Channels"</A>
            <A href=format!("/agents/{id}/conversations")>"Conversations"</A>
            <A href=format!("/agents/{id}/sharing")>"Sharing"</A>
        </nav>
    }
}

#[component]
pub fn AgentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let update = ServerAction::<UpdateAgent>::new();
    // Not refetched after a save: the form keeps what was typed, "Try the agent" its chat.
    let agent = Resource::new(id, get_agent);
    let templates = Templates::new(id, agent);
    view! {
        <Title text="Agent"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agent.await {
                    Ok(agent) => view! { <AgentOverview agent update templates/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AgentOverview(agent: AgentDetail, update: ServerAction<UpdateAgent>, templates: Templates) -> impl IntoView {
    let error = Signal::derive(move || update.value().get().and_then(Result::err));
    let secret = Signal::derive(move || update.value().get().and_then(Result::ok).and_then(|a| a.new_hook_secret));
    let saved = Signal::derive(move || update.value().get().and_then(Result::ok));
    let current = Signal::derive({
        let agent = agent.clone();
        move || saved.get().unwrap_or_else(|| agent.clone())
    });
    let regenerate = ServerAction::<RegenerateHookSecret>::new();
    let hook_id = agent.id.clone();
    let form_agent = agent.clone();
    view! {
        <div class="page-head">
            <h1>{move || current.read().name.clone()}</h1>
            <span class="badge" data-testid="brain">{move || current.read().brain.kind.label()}</span>
        </div>
        <AgentTabs id=agent.id.clone() named=true/>
        {(!agent.description.is_empty()).then(|| view! { <p class="hint">{agent.description.clone()}</p> })}
        {move || secret.get().map(|secret| view! { <HookSecret secret/> })}
        {move || regenerate.value().get().and_then(Result::ok).map(|secret| view! { <HookSecret secret/> })}
        <TryAgent agent=agent.id.clone()/>
        <section class="card">
            <h2>"Settings"</h2>
            <ActionForm action=update attr:class="form">
                <input type="hidden" name="id" value=form_agent.id.clone()/>
                <AgentFields current=Some(form_agent) error saved/>
                <button type="submit" disabled=move || update.pending().get()>
                    {move || if update.pending().get() { "Saving…" } else { "Save agent" }}
                </button>
            </ActionForm>
            {move || update.value().get().and_then(Result::ok).map(|_| view! { <p class="ok" role="status">"Saved."</p> })}
            <FormError error/>
            <Show when=move || current.read().brain.kind == BrainKind::Hook>
                {
                    let id = hook_id.clone();
                    view! {
                        <button class="link" on:click=move |_| { regenerate.dispatch(RegenerateHookSecret { id: id.clone() }); }>
                            "Regenerate the hook's signing secret"
                        </button>
                    }
                }
            </Show>
        </section>
        <TemplateSection agent=agent.id.clone() current=agent.template.clone() templates/>
        <SensesSection agent=agent.id.clone() current=agent.senses.clone()/>
        <DeleteAgent agent=agent.id.clone()/>
    }
}

/// "Try the agent": a chat with the agent's brain, without WhatsApp.
#[component]
fn TryAgent(agent: String) -> impl IntoView {
    let ask = ServerAction::<TryAgentFn>::new();
    let chat = RwSignal::new(Vec::<ChatLine>::new());
    let notes = RwSignal::new(Vec::<(usize, String)>::new());
    let draft = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(reply)) = ask.value().get() {
            chat.update(|c| c.push(ChatLine { from_guest: false, text: reply.reply.clone() }));
            let at = chat.read_untracked().len() - 1;
            let note = match reply.note {
                Some(n) => format!("{n} ({} ms)", reply.latency_ms),
                None => format!("{} ms", reply.latency_ms),
            };
            notes.update(|n| n.push((at, note)));
        }
    });
    let error = Signal::derive(move || ask.value().get().and_then(Result::err));
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        chat.update(|c| c.push(ChatLine { from_guest: true, text }));
        draft.set(String::new());
        ask.dispatch(TryAgentFn { id: agent.clone(), chat: chat.get_untracked() });
    };
    view! {
        <section class="card" data-testid="try">
            <h2>"Try the agent"</h2>
            <p class="hint">"Chat with the agent's brain here; nothing goes through Twilio or into the conversations."</p>
            <div class="chat" aria-live="polite">
                {move || {
                    let notes = notes.get();
                    chat.get().into_iter().enumerate().map(|(i, line)| {
                        let note = notes.iter().find(|(at, _)| *at == i).map(|(_, n)| n.clone());
                        view! {
                            <div class=if line.from_guest { "msg in" } else { "msg out" } data-testid=if line.from_guest { "try-guest" } else { "try-agent" }>
                                <p>{line.text}</p>
                                {note.map(|n| view! { <span class="meta">{n}</span> })}
                            </div>
                        }
                    }).collect_view()
                }}
            </div>
            <form class="chat-form" on:submit=send>
                <input aria-label="Message to the agent" placeholder="Write as a guest would" autocomplete="off"
                    prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev))/>
                <button type="submit" disabled=move || ask.pending().get()>
                    {move || if ask.pending().get() { "Thinking…" } else { "Send" }}
                </button>
            </form>
            <FormError error/>
        </section>
    }
}

#[component]
fn DeleteAgent(agent: String) -> impl IntoView {
    let delete = ServerAction::<DeleteAgentFn>::new();
    let confirming = RwSignal::new(false);
    let error = Signal::derive(move || delete.value().get().and_then(Result::err));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/agents", Default::default());
        }
    });
    let id = StoredValue::new(agent);
    view! {
        <section class="card">
            <h2>"Delete agent"</h2>
            <Show when=move || confirming.get() fallback=move || view! {
                <button class="danger" on:click=move |_| confirming.set(true)>"Delete agent…"</button>
            }>
                <p class="warning" role="alert">"Its channels are removed (the numbers stay active); its conversations stay, without an agent."</p>
                <button class="danger" disabled=move || delete.pending().get()
                    on:click=move |_| { delete.dispatch(DeleteAgentFn { id: id.get_value() }); }>"Yes, delete"</button>
                <button class="link" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </Show>
            <FormError error/>
        </section>
    }
}

/// What the template section reads: the organization's connectors, and the templates of the one
/// picked (before any is, of the agent's template's connector). Made with the page, beside the
/// agent: a resource made inside a part of the page that waits for its data is made again each
/// time the server builds that part, and asked Twilio for the templates twice a view.
#[derive(Clone, Copy)]
struct Templates {
    connectors: Resource<Result<Vec<ConnectorChoice>, AppError>>,
    /// The connector picked on the page, and for which agent; none yet (or for another agent):
    /// the agent's template's.
    picked: RwSignal<Option<(String, String)>>,
    list: Resource<Result<Vec<TemplateOption>, AppError>>,
}

impl Templates {
    fn new(id: impl Fn() -> String + Send + Sync + 'static, agent: Resource<Result<AgentDetail, AppError>>) -> Self {
        let picked = RwSignal::new(None::<(String, String)>);
        let list = Resource::new(
            move || (id(), picked.get()),
            move |(id, picked)| async move {
                let connector = match picked {
                    Some((of, connector)) if of == id => connector,
                    _ => {
                        // The agent as the page reads it, unless that is still another agent's
                        // (this one read before the page's own has begun to read it again).
                        let agent = match agent.await {
                            Ok(other) if other.id != id => get_agent(id).await,
                            read => read,
                        };
                        agent.ok().and_then(|a| a.template).map(|t| t.connector_id).unwrap_or_default()
                    }
                };
                if connector.is_empty() {
                    Ok(Vec::new())
                } else {
                    list_templates(connector).await
                }
            },
        );
        Self { connectors: Resource::new(|| (), |_| connector_choices()), picked, list }
    }
}

/// The approved WhatsApp template sent instead of free text once a guest's 24-hour window closed.
#[component]
fn TemplateSection(agent: String, current: Option<AgentTemplate>, templates: Templates) -> impl IntoView {
    let save = ServerAction::<SetAgentTemplate>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let current_connector = current.as_ref().map(|t| t.connector_id.clone()).unwrap_or_default();
    let shown = RwSignal::new(current);
    let chosen = move || shown.with_untracked(|t| t.as_ref().map(|t| t.sid.clone()).unwrap_or_default());
    let variables = move || shown.with(|t| t.as_ref().map(|t| t.variables.clone()).unwrap_or_default());
    Effect::new(move |_| {
        if let Some(Ok(detail)) = save.value().get() {
            shown.set(detail.template);
        }
    });
    let Templates { connectors, picked, list: templates } = templates;
    // The form starts from the template in use, so it shows what is set and changing the
    // variables alone is one edit.
    let connector = RwSignal::new(current_connector);
    // A connector chosen before the page's program took it over still shows its templates.
    let picker = crate::components::early_choice(connector);
    // A connector other than the template's own lists its templates, and so does each choice
    // after one (back to the template's own too). Not "each change after the first run": the
    // early choice's Effect, made first, runs first, and a choice made before the program took
    // the page over is already there when this one first runs.
    let (picked_for, own) = (agent.clone(), connector.get_untracked());
    Effect::new(move |_| {
        let chosen = connector.get();
        let picked_here = picked.with_untracked(|p| p.as_ref().is_some_and(|(of, _)| *of == picked_for));
        if chosen != own || picked_here {
            picked.set(Some((picked_for.clone(), chosen)));
        }
    });
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
                    <select name="connector_id" node_ref=picker on:change=move |ev| connector.set(event_target_value(&ev))>
                        <option value="">"Pick a connector…"</option>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                connectors.await.unwrap_or_default().into_iter().map(|c| view! {
                                    <option value=c.id.clone() selected=move || connector.get() == c.id>{c.name.clone()}</option>
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
                                        <input type="radio" name="template_sid" value=t.sid.clone() disabled=!approved
                                            checked=t.sid == chosen()/>
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
                <label>"Variables (JSON)" <input name="variables" placeholder="{\"1\": \"there\"}" class="mono" prop:value=variables/></label>
                <FieldError error field="variables"/>
                <div class="actions">
                    <button type="submit" disabled=move || save.pending().get()>"Save template"</button>
                    <Show when=move || shown.with(Option::is_some)>
                        <button type="button" class="link" disabled=move || save.pending().get() on:click={
                            let agent = agent_for_clear.clone();
                            move |_| {
                                save.dispatch(SetAgentTemplate {
                                    agent_id: agent.clone(),
                                    connector_id: String::new(),
                                    template_sid: String::new(),
                                    variables: String::new(),
                                });
                            }
                        }>"Remove the template"</button>
                    </Show>
                </div>
            </ActionForm>
            <FormError error/>
        </section>
    }
}

/// What the agent perceives of guests' files: voice notes transcribed, photos shown to a model.
#[component]
fn SensesSection(agent: String, current: Senses) -> impl IntoView {
    let save = ServerAction::<SetAgentSenses>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let shown = RwSignal::new(current);
    Effect::new(move |_| {
        if let Some(Ok(detail)) = save.value().get() {
            shown.set(detail.senses);
        }
    });
    let images = move || shown.with(|s| s.images);
    let image_choice = move |choice: ImageInput, label: &'static str, hint: &'static str| {
        view! {
            <label class="check">
                <input type="radio" name="images" value=choice.as_str() checked=move || images() == choice prop:checked=move || images() == choice/>
                {label} <span class="hint">{hint}</span>
            </label>
        }
    };
    view! {
        <section class="card" data-testid="senses">
            <h2>"Voice notes and photos"</h2>
            <p class="hint">"Guests send voice notes and photos. Voice notes (up to 25 MB, and 10 minutes where the file says how long it is) are transcribed before the agent answers, through any OpenAI-compatible transcription API (OpenAI's, or a server you run); the inbox shows the words under the player. Without one, the agent is told a voice note came and could not be heard."</p>
            {move || match shown.get() {
                Senses { transcription_off: true, .. } => view! { <p class="empty" data-testid="current-transcription">"Voice notes are never transcribed for this agent."</p> }.into_any(),
                Senses { transcription_url: Some(url), transcription_model: model, .. } => view! { <p data-testid="current-transcription"><TranscribesWith url model/></p> }.into_any(),
                Senses { organization: Transcription { url: Some(url), model, .. }, .. } => view! { <p data-testid="current-transcription"><TranscribesWith url model/> ", the organization's (" <a href="/agents">"Agents"</a> ")"</p> }.into_any(),
                _ => view! { <p class="empty" data-testid="current-transcription">"Voice notes are not transcribed."</p> }.into_any(),
            }}
            <ActionForm action=save attr:class="form">
                <input type="hidden" name="agent_id" value=agent.clone()/>
                <TranscriptionFields
                    url=Signal::derive(move || shown.with(|s| s.transcription_url.clone().unwrap_or_default()))
                    model=Signal::derive(move || shown.with(|s| s.transcription_model.clone().unwrap_or_default()))
                    key_set=Signal::derive(move || shown.with(|s| s.transcription_key_set))
                    empty="Empty: the organization's transcription API (on the Agents page), if it has one."
                    error/>
                <label class="check">
                    <input type="checkbox" name="transcription_off" value="on" checked=move || shown.with(|s| s.transcription_off) prop:checked=move || shown.with(|s| s.transcription_off)/>
                    "Never transcribe this agent's voice notes" <span class="hint">"not even with the organization's API"</span>
                </label>
                <fieldset>
                    <legend>"Photos, for an OpenAI-compatible brain"</legend>
                    {image_choice(ImageInput::Off, "Described in words", "for models that take no images")}
                    {image_choice(ImageInput::Link, "As a link", "the model's provider fetches it from Switchboard's public URL (valid two hours)")}
                    {image_choice(ImageInput::Inline, "Inline", "the photo itself goes with the request")}
                </fieldset>
                <FieldError error field="images"/>
                <div class="actions">
                    <button type="submit" disabled=move || save.pending().get()>"Save voice notes and photos"</button>
                </div>
            </ActionForm>
            <FormError error/>
        </section>
    }
}
