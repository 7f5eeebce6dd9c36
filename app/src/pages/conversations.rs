use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{api::list_conversations, components::ErrorNote, model::Direction, pages::agents::AgentTabs};

#[component]
pub fn ConversationsPage() -> impl IntoView {
    let params = use_params_map();
    let agent_id = move || params.read().get("id").unwrap_or_default();
    let refresh = RwSignal::new(0u32);
    let conversations = Resource::new(move || (agent_id(), refresh.get()), |(id, _)| list_conversations(id));

    view! {
        <Title text="Conversations"/>
        <h1>"Conversations"</h1>
        <AgentTabs id=agent_id()/>
        <button class="link" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match conversations.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No conversations yet."</p> }.into_any(),
                    Ok(list) => list.into_iter().map(|c| view! {
                        <section class="card conversation" data-guest=c.guest.clone()>
                            <h2>{c.guest_name.clone().unwrap_or_else(|| c.guest.clone())}
                                <span class="hint">" · " {c.guest.clone()} " → " {c.number.clone()}</span>
                            </h2>
                            <ol class="messages">
                                {c.messages.into_iter().map(|m| {
                                    let class = match m.direction { Direction::Inbound => "msg in", Direction::Outbound => "msg out" };
                                    let status = m.status.clone();
                                    view! {
                                        <li class=class data-status=status>
                                            <p>{m.body}</p>
                                            {m.media.into_iter().map(|md| {
                                                let label = md.content_type.clone();
                                                match md.state.as_str() {
                                                    "stored" if md.is_image() => view! {
                                                        <a class="media" href=md.url()><img src=md.url() alt=label/></a>
                                                    }.into_any(),
                                                    "stored" => view! {
                                                        <a class="media" href=md.url()>"Attachment (" {label} ")"</a>
                                                    }.into_any(),
                                                    "failed" => view! {
                                                        <span class="media error">{label} " not downloaded: " {md.error.unwrap_or_default()}</span>
                                                    }.into_any(),
                                                    _ => view! { <span class="media hint">{label} " downloading…"</span> }.into_any(),
                                                }
                                            }).collect_view()}
                                            <span class="meta">{m.status}</span>
                                            {m.error.map(|e| view! { <span class="error">{e}</span> })}
                                            {m.note.map(|n| view! { <span class="hint note">{n}</span> })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                        </section>
                    }).collect_view().into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
