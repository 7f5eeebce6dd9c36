//! The Inbox page and each agent's Conversations tab (their list is in [`super::list`]), and one
//! conversation's page: its history with delivery ticks, the brain's execution records, human
//! takeover and the staff reply, ending it. Both update live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    agents::{api::list_templates, page::AgentTabs, TemplateOption},
    components::{live_updates, settled, ErrorNote, FieldError, FormError},
    inbox::{
        api::{get_conversation, get_execution, get_inactivity, EndConversation, SetInactivity, SetPaused, StaffReply},
        ConversationDetail, ConversationState, Direction, MessageView,
    },
    privacy::api::ForgetGuest,
    time::utc_minutes,
    AppError,
};

#[component]
pub fn InboxPage() -> impl IntoView {
    view! {
        <Title text="Inbox"/>
        <h1>"Inbox"</h1>
        <super::list::Inbox agent_id=None/>
    }
}

/// An agent's Conversations tab: its inbox and how long a conversation may be quiet.
#[component]
pub fn ConversationsPage() -> impl IntoView {
    let params = use_params_map();
    let agent_id = move || params.read().get("id").unwrap_or_default();
    view! {
        <Title text="Conversations"/>
        <h1>"Conversations"</h1>
        <AgentTabs id=agent_id()/>
        <InactivityForm agent_id=agent_id()/>
        <super::list::Inbox agent_id=Some(agent_id())/>
    }
}

#[component]
fn InactivityForm(agent_id: String) -> impl IntoView {
    let save = ServerAction::<SetInactivity>::new();
    let current = Resource::new(
        {
            let agent_id = agent_id.clone();
            move || (agent_id.clone(), save.version().get())
        },
        |(id, _)| get_inactivity(id),
    );
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    view! {
        <details class="card settings">
            <summary>"Conversation lifecycle"</summary>
            <Transition fallback=|| ()>
                {move || { let agent_id = agent_id.clone(); Suspend::new(async move {
                    let secs = current.await.unwrap_or(600);
                    let minutes = format!("{}", (secs as f64) / 60.0);
                    view! {
                        <ActionForm action=save attr:class="form inline">
                            <input type="hidden" name="agent_id" value=agent_id.clone()/>
                            <label>"End a conversation after this many minutes without a message"
                                <input name="minutes" value=minutes inputmode="decimal" size="6"/>
                            </label>
                            <button type="submit">"Save"</button>
                            {move || matches!(save.value().get(), Some(Ok(_))).then(|| view! { <span class="ok" role="status">"Saved."</span> })}
                        </ActionForm>
                    }
                })}}
            </Transition>
            <FieldError error field="minutes"/>
            <FormError error/>
        </details>
    }
}

/// The filters come from the address bar, so a filtered inbox is a link.
#[component]
pub fn ConversationPage() -> impl IntoView {
    provide_context(OpenRecords(RwSignal::new(Default::default())));
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let live = live_updates();
    let pause = ServerAction::<SetPaused>::new();
    let end = ServerAction::<EndConversation>::new();
    let reply = ServerAction::<StaffReply>::new();
    let forget = ServerAction::<ForgetGuest>::new();
    let conversation = Resource::new(
        move || (id(), live.get(), pause.version().get(), end.version().get(), reply.version().get()),
        |(id, ..)| get_conversation(id),
    );
    let templates = reply_templates(id, conversation);
    let forgotten = settled(forget);
    view! {
        <Title text="Conversation"/>
        <Show when=move || forgotten.read().is_none() fallback=move || view! {
            <h1>"Guest forgotten"</h1>
            <p class="ok" role="status" data-testid="forgotten">"Deleted across the organization: "
                {forgotten.get().map(|f| f.summary())} "."</p>
            <p><a href="/inbox">"Back to the inbox"</a></p>
        }>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match conversation.await {
                        Ok(c) => view! { <Conversation c pause end reply forget templates/> }.into_any(),
                        Err(error) => view! { <ErrorNote error/> }.into_any(),
                    }
                })}
            </Transition>
        </Show>
    }
}

#[component]
fn Conversation(
    c: ConversationDetail,
    pause: ServerAction<SetPaused>,
    end: ServerAction<EndConversation>,
    reply: ServerAction<StaffReply>,
    forget: ServerAction<ForgetGuest>,
    templates: Templates,
) -> impl IntoView {
    let id = c.id.clone();
    let forget_id = c.id.clone();
    let can_forget = c.can_forget;
    let paused = c.paused_by.is_some();
    let live = c.state == ConversationState::Live;
    let pause_error = Signal::derive(move || pause.value().get().and_then(Result::err));
    let end_error = Signal::derive(move || end.value().get().and_then(Result::err));
    let title = c.guest_name.clone().unwrap_or_else(|| c.guest.clone());
    let (toggle_id, end_id) = (id.clone(), id.clone());
    view! {
        <div class="page-head">
            <h1>{title}</h1>
            <span class="hint mono">{c.guest.clone()}</span>
        </div>
        <p class="conversation-meta" data-testid="meta">
            {c.agent_name.clone().map(|a| view! { <span>"Agent " <strong>{a}</strong> " · "</span> })}
            <span class="mono">{c.number.clone()}</span> " · " {c.provider.label()} " · "
            {match c.state {
                ConversationState::Live => view! { <span class="badge ok" data-testid="state">"Live"</span> }.into_any(),
                ConversationState::Ended => view! {
                    <span class="badge" data-testid="state">"Ended"</span>
                    <span class="hint">{c.ended_at_ms.map(|t| format!(" {}", utc_minutes(t)))}</span>
                }.into_any(),
            }}
            " · 24-hour window " <strong data-testid="window">{if c.window_open { "open" } else { "closed" }}</strong>
        </p>
        <div class="actions">
            {match c.paused_by.clone() {
                Some(by) => view! {
                    <span class="badge warn" data-testid="takeover">"Taken over by " {by} ": the agent does not answer"</span>
                    <button on:click=move |_| { pause.dispatch(SetPaused { id: toggle_id.clone(), paused: false }); }>"Hand back to the agent"</button>
                }.into_any(),
                None => view! {
                    <button on:click=move |_| { pause.dispatch(SetPaused { id: toggle_id.clone(), paused: true }); }>"Take over"</button>
                }.into_any(),
            }}
            {live.then(|| view! {
                <button class="danger" on:click=move |_| { end.dispatch(EndConversation { id: end_id.clone() }); }>"End conversation"</button>
            })}
            <span class="exports">"Export: "
                <a href=format!("/export/conversations/{id}.csv") download>"CSV"</a> " · "
                <a href=format!("/export/conversations/{id}.json") download>"JSON"</a>
            </span>
        </div>
        <FormError error=pause_error/>
        <FormError error=end_error/>
        {can_forget.then(|| view! { <ForgetSection id=forget_id forget/> })}
        {c.earlier_messages.then(|| view! { <p class="hint">"Earlier messages are in the export."</p> })}
        <ol class="messages" data-testid="history">
            {c.messages.into_iter().map(|m| view! { <Message m/> }).collect_view()}
        </ol>
        {if paused {
            view! { <ReplyForm id=c.id.clone() window_open=c.window_open templates reply/> }.into_any()
        } else {
            view! { <p class="hint">"Take over to reply yourself; the agent stays silent until you hand the conversation back."</p> }.into_any()
        }}
    }
}

#[component]
fn Message(m: MessageView) -> impl IntoView {
    let class = match m.direction {
        Direction::Inbound => "msg in",
        Direction::Outbound => "msg out",
    };
    let tick = m.tick();
    let execution = m.execution_id.clone();
    view! {
        <li class=class data-status=m.status.clone() data-origin=m.origin.clone().unwrap_or_default()>
            <span class="who">{m.who()}</span>
            {m.template_sid.clone().map(|sid| view! { <span class="badge" title=sid>"Template"</span> })}
            {m.choice.clone().map(|c| view! {
                <span class="badge choice" data-testid="choice" title=c.id.clone().unwrap_or_default()>"Tapped"</span>
            })}
            <p>{if m.body.trim().is_empty() { m.choice.clone().map(|c| c.text).unwrap_or_default() } else { m.body.clone() }}</p>
            {(!m.offered.is_empty()).then(|| view! {
                <span class="hint offered" data-testid="offered">"Offered: " {m.offered.join(" · ")}</span>
            })}
            {m.location.clone().map(|place| view! {
                <a class="location" data-testid="location" href=place.map_url() target="_blank" rel="noopener noreferrer">
                    <span aria-hidden="true">"📍 "</span>"Location: " {place.describe()}
                </a>
            })}
            {m.media.into_iter().map(|md| {
                let label = md.content_type.clone();
                match md.state.as_str() {
                    "stored" if md.is_image() => view! { <a class="media" href=md.url()><img src=md.url() alt=label/></a> }.into_any(),
                    "stored" if md.is_audio() => view! {
                        <span class="media">
                            <audio controls preload="none" src=md.url() aria-label="Voice note"></audio>
                            <a href=md.url()>"Voice note (" {label} ")"</a>
                            {md.transcript.clone().map(|words| view! {
                                <q class="transcript" data-testid="transcript">{words}</q>
                            })}
                            {md.transcript_error.clone().map(|why| view! {
                                <span class="hint">"Not transcribed: " {why}</span>
                            })}
                        </span>
                    }.into_any(),
                    "stored" => view! {
                        <a class="media" href=md.url() data-testid="file"><span aria-hidden="true">"📎 "</span>"Attachment (" {label} "): " {md.name.clone()}</a>
                    }.into_any(),
                    "failed" => view! { <span class="media error">{label} " not downloaded: " {md.error.unwrap_or_default()}</span> }.into_any(),
                    _ => view! { <span class="media hint">{label} " downloading…"</span> }.into_any(),
                }
            }).collect_view()}
            <span class="meta">
                {utc_minutes(m.at_ms)}
                {(m.direction == Direction::Outbound).then(|| view! {
                    " " <span class="tick" data-testid="tick" title=m.status.clone()>{tick} " " {m.status.clone()}</span>
                })}
            </span>
            {m.error.map(|e| view! { <span class="error">{e}</span> })}
            {m.note.map(|n| view! { <span class="hint note">{n}</span> })}
            {execution.map(|id| view! { <ExecutionRecord id/> })}
        </li>
    }
}

/// The brain's execution record behind a reply, loaded when opened.
/// The execution records open on a conversation's page, by id: a live update renders the history
/// anew, and an open record stays open with its content.
#[derive(Clone, Copy)]
struct OpenRecords(RwSignal<std::collections::HashSet<String>>);

#[component]
fn ExecutionRecord(id: String) -> impl IntoView {
    // Open as it was before the history was rendered anew (a live update, an action).
    let kept = use_context::<OpenRecords>().map(|o| o.0);
    let was_open = kept.is_some_and(|k| k.with_untracked(|ids| ids.contains(&id)));
    let open = RwSignal::new(was_open);
    let key = id.clone();
    let toggled = move |ev: leptos::ev::Event| {
        let now_open = event_target::<leptos::web_sys::Element>(&ev).has_attribute("open");
        if now_open {
            open.set(true);
        }
        if let Some(k) = kept {
            k.update(|ids| {
                if now_open {
                    ids.insert(key.clone());
                } else {
                    ids.remove(&key);
                }
            });
        }
    };
    let record = Resource::new(
        move || open.get().then(|| id.clone()),
        |id| async move {
            match id {
                Some(id) => Some(get_execution(id).await),
                None => None,
            }
        },
    );
    view! {
        <details class="execution" open=was_open on:toggle=toggled>
            <summary>"Execution record"</summary>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match record.await {
                        None => ().into_any(),
                        Some(Ok(e)) => view! {
                            <dl class="record" data-testid="execution">
                                <dt>"Brain"</dt><dd>{e.brain}</dd>
                                <dt>"Latency"</dt><dd>{e.latency_ms} " ms"</dd>
                                <dt>"When"</dt><dd>{utc_minutes(e.at_ms)}</dd>
                                {e.error.map(|err| view! { <dt>"Error"</dt><dd class="error">{err}</dd> })}
                                <dt>"Input"</dt><dd><pre>{e.input}</pre></dd>
                                <dt>"Output"</dt><dd><pre>{e.output.unwrap_or_default()}</pre></dd>
                                <dt>"Sends"</dt>
                                <dd><ul>
                                    {e.sends.into_iter().map(|s| view! {
                                        <li>
                                            {s.status.clone()} " · " {s.attempts} {if s.attempts == 1 { " attempt" } else { " attempts" }}
                                            {s.twilio_sid.map(|sid| view! { " · " <span class="mono">{sid}</span> })}
                                            {s.last_error.map(|e| view! { <span class="hint">" · last error: " {e}</span> })}
                                            {s.error.map(|e| view! { <span class="error">" · " {e}</span> })}
                                        </li>
                                    }).collect_view()}
                                </ul></dd>
                            </dl>
                        }.into_any(),
                        Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                    }
                })}
            </Transition>
        </details>
    }
}

/// The approved templates a staff reply may send.
type Templates = Resource<Result<Vec<TemplateOption>, AppError>>;

/// The templates, read with the page beside the conversation (a resource made inside a part of
/// the page that waits for its data is made again each time the server builds that part, and
/// asked Twilio twice a view), and only while the reply form asks for one: the conversation
/// taken over, the guest's 24-hour window closed. In the browser, they are read again when
/// that changes.
fn reply_templates(
    id: impl Fn() -> String + Copy + Send + Sync + 'static,
    conversation: Resource<Result<ConversationDetail, AppError>>,
) -> Templates {
    let asks = |c: &ConversationDetail| c.paused_by.is_some() && !c.window_open;
    let changed = RwSignal::new(0u32);
    // Effects run in the browser alone, after the conversation is read again: the first one
    // sees what the page came with.
    Effect::new(move |seen: Option<Option<bool>>| {
        let now = conversation.with(|c| c.as_ref().and_then(|c| c.as_ref().ok()).map(asks));
        if let (Some(Some(seen)), Some(now)) = (seen, now) {
            if seen != now {
                changed.update(|n| *n += 1);
            }
        }
        now
    });
    Resource::new(
        move || (id(), changed.get()),
        move |(id, _)| async move {
            // The conversation as the page reads it, unless that is still another one's (read
            // before the page's own has begun to read it again).
            let read = match conversation.await {
                Ok(other) if other.id != id => get_conversation(id).await,
                read => read,
            };
            match read {
                Ok(c) if asks(&c) => list_templates(c.connector_id)
                    .await
                    .map(|all| all.into_iter().filter(|t| t.status == "approved").collect()),
                _ => Ok(Vec::new()),
            }
        },
    )
}

#[component]
fn ReplyForm(id: String, window_open: bool, templates: Templates, reply: ServerAction<StaffReply>) -> impl IntoView {
    let error = Signal::derive(move || reply.value().get().and_then(Result::err));
    view! {
        <section class="card" data-testid="reply">
            <h2>"Reply as staff"</h2>
            <ActionForm action=reply attr:class="form">
                <input type="hidden" name="id" value=id/>
                {if window_open {
                    view! {
                        <label>"Message" <textarea name="body" rows="3" required></textarea></label>
                    }.into_any()
                } else {
                    view! {
                        <p class="warning">"The guest's 24-hour window has closed: only an approved template can be sent."</p>
                        <Transition fallback=|| view! { <p>"Loading templates…"</p> }>
                            {move || Suspend::new(async move {
                                match templates.await {
                                    Ok(list) if list.is_empty() => view! { <p class="empty">"This account has no approved template."</p> }.into_any(),
                                    Ok(list) => view! {
                                        <fieldset class="options">
                                            {list.into_iter().map(|t| view! {
                                                <label class="check" data-template=t.name.clone()>
                                                    <input type="radio" name="template_sid" value=t.sid.clone()/>
                                                    <span><strong>{t.name.clone()}</strong> " (" {t.language.clone()} ")"<br/>
                                                        <span class="hint">{t.body.clone()}</span></span>
                                                </label>
                                            }).collect_view()}
                                        </fieldset>
                                        <label>"Variables (JSON, e.g. {\"1\": \"Ana\"})" <input name="variables"/></label>
                                    }.into_any(),
                                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                                }
                            })}
                        </Transition>
                    }.into_any()
                }}
                <FieldError error field="body"/>
                <FieldError error field="variables"/>
                <FieldError error field="template_sid"/>
                <button type="submit" disabled=move || reply.pending().get()>"Send"</button>
            </ActionForm>
            <FormError error/>
        </section>
    }
}

/// "Forget this guest…", for the organization's admins: every conversation of theirs on every
/// number goes, with what belongs to them; a confirmation first.
#[component]
fn ForgetSection(id: String, forget: ServerAction<ForgetGuest>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let error = Signal::derive(move || forget.value().get().and_then(Result::err));
    let id = StoredValue::new(id);
    view! {
        <div class="forget">
            <Show when=move || confirming.get() fallback=move || view! {
                <button class="link danger" on:click=move |_| confirming.set(true)>"Forget this guest…"</button>
            }>
                <p class="warning" role="alert">"Every conversation with this guest on every number of the organization \
                    is deleted, with its messages, media and execution records, and so are their verified email, access \
                    requests and login codes. This cannot be undone."</p>
                <button class="danger" disabled=move || forget.pending().get()
                    on:click=move |_| { forget.dispatch(ForgetGuest { conversation_id: id.get_value() }); }>"Yes, forget this guest"</button>
                <button class="link" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </Show>
            <FormError error/>
        </div>
    }
}
