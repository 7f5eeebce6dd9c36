use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    agents::{
        api::{channel_options, list_channels, AddChannel, RemoveChannel, SetChannelRoutes},
        page::AgentTabs,
    },
    components::{ErrorNote, FieldError, FormError},
    connectors::api::connector_choices,
};

#[component]
pub fn ChannelsPage() -> impl IntoView {
    let params = use_params_map();
    let agent_id = move || params.read().get("id").unwrap_or_default();
    let add = ServerAction::<AddChannel>::new();
    let remove = ServerAction::<RemoveChannel>::new();
    let routes = ServerAction::<SetChannelRoutes>::new();
    let channels = Resource::new(
        move || (agent_id(), add.version().get(), remove.version().get(), routes.version().get()),
        |(id, ..)| list_channels(id),
    );
    let remove_error = Signal::derive(move || remove.value().get().and_then(Result::err));
    let routes_error = Signal::derive(move || routes.value().get().and_then(Result::err));

    view! {
        <Title text="Channels"/>
        <h1>"Channels"</h1>
        <AgentTabs id=agent_id()/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match channels.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"This agent answers on no number yet. Add a channel to bind one."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="list" data-testid="channels">
                            <thead><tr><th>"Number"</th><th>"Provider"</th><th>"Connector"</th><th>"Routes"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|ch| {
                                    let channel_id = ch.id.clone();
                                    let number = ch.phone_number.clone();
                                    let whatsapp = ch.provider == crate::connectors::Provider::WhatsApp;
                                    view! {
                                        <tr data-number=number>
                                            <td class="mono">{ch.phone_number}</td>
                                            <td>{ch.provider.label()}</td>
                                            <td>{ch.connector_name}</td>
                                            <td>
                                                <span data-testid="routes">{match (&ch.inbound_from, &ch.outbound_to) {
                                                    (None, None) => "All senders · replies to the sender".to_string(),
                                                    (from, to) => format!(
                                                        "{} · {}",
                                                        from.as_ref().map_or("All senders".to_string(), |f| format!("Only from {f}")),
                                                        to.as_ref().map_or("replies to the sender".to_string(), |t| format!("replies to {t}")),
                                                    ),
                                                }}</span>
                                                <details>
                                                    <summary>"Edit routes"</summary>
                                                    <ActionForm action=routes attr:class="form">
                                                        <input type="hidden" name="agent_id" value=agent_id()/>
                                                        <input type="hidden" name="channel_id" value=ch.id.clone()/>
                                                        <label>{if whatsapp {
                                                            "Accept only messages from (a number or WhatsApp user id; empty: everyone)"
                                                        } else {
                                                            "Accept only messages from (empty: everyone)"
                                                        }}
                                                            <input name="inbound_from" placeholder="+14155550123" value=ch.inbound_from.clone()/>
                                                        </label>
                                                        <label>{if whatsapp {
                                                            "Send replies to a fixed number or WhatsApp user id (empty: to the sender)"
                                                        } else {
                                                            "Send replies to a fixed number (empty: to the sender)"
                                                        }}
                                                            <input name="outbound_to" placeholder="+14155550123" value=ch.outbound_to.clone()/>
                                                        </label>
                                                        <button type="submit">"Save routes"</button>
                                                    </ActionForm>
                                                </details>
                                            </td>
                                            <td>
                                                <button class="danger" on:click=move |_| {
                                                    remove.dispatch(RemoveChannel { agent_id: agent_id(), channel_id: channel_id.clone() });
                                                }>"Remove"</button>
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
        <FieldError error=routes_error field="inbound_from"/>
        <FieldError error=routes_error field="outbound_to"/>
        <FormError error=routes_error/>
        <AddChannelForm agent_id=Signal::derive(agent_id) add/>
    }
}

#[component]
fn AddChannelForm(agent_id: Signal<String>, add: ServerAction<AddChannel>) -> impl IntoView {
    let connectors = Resource::new(|| (), |_| connector_choices());
    let connector = RwSignal::new(String::new());
    let number = RwSignal::new(String::new());
    let options = Resource::new(
        move || (agent_id.get(), connector.get(), add.version().get()),
        |(agent_id, connector_id, _)| async move {
            if connector_id.is_empty() {
                Ok(Vec::new())
            } else {
                channel_options(agent_id, connector_id).await
            }
        },
    );
    let error = Signal::derive(move || add.value().get().and_then(Result::err));
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            number.set(String::new());
        }
    });
    // A connector chosen before the page's program took it over still shows its numbers.
    let picker = crate::components::early_choice(connector);

    view! {
        <section class="card" data-testid="add-channel">
            <h2>"Add channel"</h2>
            <label>"Connector"
                <select name="connector" node_ref=picker
                    on:change=move |ev| { connector.set(event_target_value(&ev)); number.set(String::new()); }>
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
            <Transition fallback=|| view! { <p aria-busy="true">"Loading numbers…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(opts) if opts.is_empty() && !connector.get_untracked().is_empty() => view! {
                            <p class="empty">"This connector has no active numbers. Activate one on the connector's page first."</p>
                        }.into_any(),
                        Ok(opts) => view! {
                            <fieldset class="options">
                                {opts.into_iter().map(|o| {
                                    let value = o.number_id.clone();
                                    let bound = o.bound_to.is_some() || o.here;
                                    view! {
                                        <label class="check" class:disabled=bound data-number=o.phone_number.clone()>
                                            <input type="radio" name="number" value=o.number_id.clone() disabled=bound
                                                on:change=move |_| number.set(value.clone())/>
                                            <span class="mono">{o.phone_number.clone()}</span> " · " {o.provider.label()}
                                            {o.here.then(|| view! { <span class="badge">"Already a channel of this agent"</span> })}
                                            {o.bound_to.map(|agent| view! {
                                                <span class="badge bad">"Already bound"</span>
                                                <span class="hint">" (to " {agent} ")"</span>
                                            })}
                                        </label>
                                    }
                                }).collect_view()}
                            </fieldset>
                        }.into_any(),
                        Err(error) => view! { <ErrorNote error/> }.into_any(),
                    }
                })}
            </Transition>
            <button
                disabled=move || number.get().is_empty() || add.pending().get()
                on:click=move |_| { add.dispatch(AddChannel { agent_id: agent_id.get(), number_id: number.get() }); }>
                "Add channel"
            </button>
            <FormError error/>
        </section>
    }
}
