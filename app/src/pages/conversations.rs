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
