use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use crate::{
    components::{CopyButton, ErrorNote, FieldError, FormError, HealthBadge, StateBadge},
    connectors::{
        api::{
            get_connector, list_connectors, list_numbers, AddSandbox, CreateConnector, DeleteConnector,
            RegenerateWebhookUrl, SaveNumbers, SendTestMessage, SetAllWebhooks, SetWebhook, UpdateConnector,
            VerifyConnector,
        },
        group_numbers, ConnectorDetail, ConnectorState, DisconnectReport, NumberRow, WebhookState, SANDBOX_NUMBER,
    },
};

#[component]
pub fn ConnectorsPage() -> impl IntoView {
    let connectors = Resource::new(|| (), |_| list_connectors());
    view! {
        <Title text="Connectors"/>
        <div class="page-head">
            <h1>"Connectors"</h1>
            // Only for those who may list them (organization admins).
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    connectors.await.is_ok().then(|| view! { <A href="/connectors/new" attr:class="button">"New connector"</A> })
                })}
            </Transition>
        </div>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match connectors.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"No connectors yet. Add one to connect your Twilio account."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="list" data-testid="connectors">
                            <thead><tr><th>"Name"</th><th>"Account SID"</th><th>"State"</th><th>"Health"</th><th>"Active numbers"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|c| view! {
                                    <tr>
                                        <td><a href=format!("/connectors/{}", c.id)>{c.name}</a></td>
                                        <td class="mono">{c.account_sid}</td>
                                        <td><StateBadge state=c.state/></td>
                                        <td><HealthBadge health=c.health/></td>
                                        <td>{c.active_numbers}</td>
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
pub fn NewConnectorPage() -> impl IntoView {
    let create = ServerAction::<CreateConnector>::new();
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(c)) = create.value().get() {
            navigate(&format!("/connectors/{}", c.id), Default::default());
        }
    });

    view! {
        <Title text="New connector"/>
        <h1>"New connector"</h1>
        <p class="hint">"Twilio · bring your own account. Your Account SID and Auth Token are in the Twilio Console."</p>
        <ActionForm action=create attr:class="card form">
            <label>"Name" <input name="name" required maxlength="80" placeholder="Hotel Front Desk"/></label>
            <FieldError error field="name"/>
            <label>"Account SID" <input name="account_sid" required placeholder="AC…" class="mono" autocomplete="off"/></label>
            <FieldError error field="account_sid"/>
            <label>"Auth Token" <input name="auth_token" type="password" required autocomplete="off"/></label>
            <FieldError error field="auth_token"/>
            <fieldset>
                <legend>"Allow this connector to…"</legend>
                <label class="check"><input type="checkbox" name="receive_inbound" value="on" checked/> "Receive inbound data"</label>
            </fieldset>
            <button type="submit" disabled=move || create.pending().get()>
                {move || if create.pending().get() { "Checking with Twilio…" } else { "Create connector" }}
            </button>
        </ActionForm>
        <FormError error/>
    }
}

#[component]
pub fn ConnectorPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let update = ServerAction::<UpdateConnector>::new();
    let verify = ServerAction::<VerifyConnector>::new();
    let regenerate = ServerAction::<RegenerateWebhookUrl>::new();
    let delete = ServerAction::<DeleteConnector>::new();
    // The report replaces the page one tick after the action settles, so that the page's own
    // readers of the action (its error line) have run before the page is disposed.
    let deleted = RwSignal::new(None::<DisconnectReport>);
    Effect::new(move |_| {
        if let Some(Ok(report)) = delete.value().get() {
            deleted.set(Some(report));
        }
    });
    let detail = Resource::new(
        move || (id(), update.version().get(), verify.version().get(), regenerate.version().get()),
        |(id, ..)| get_connector(id),
    );

    view! {
        <Title text="Connector"/>
        <Show
            when=move || deleted.read().is_some()
            fallback=move || view! {
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match detail.await {
                            Ok(detail) => view! { <ConnectorView detail update verify regenerate delete/> }.into_any(),
                            Err(error) => view! { <ErrorNote error/> }.into_any(),
                        }
                    })}
                </Transition>
            }
        >
            {move || deleted.get().map(|report| view! { <Deleted report/> })}
        </Show>
    }
}

/// What deleting a connector did, number by number.
#[component]
fn Deleted(report: DisconnectReport) -> impl IntoView {
    view! {
        <h1>"Connector deleted"</h1>
        <p role="status" data-testid="deleted">{format!("{} is deleted.", report.connector)}</p>
        {(!report.numbers.is_empty()).then(|| view! {
            <ul class="results" data-testid="cleanup">
                {report.numbers.into_iter().map(|line| view! {
                    <li data-number=line.phone_number.clone()>
                        <span class="mono">{line.phone_number.clone()}</span> " (" {line.provider.label()} "): "
                        {line.outcome.describe()}
                    </li>
                }).collect_view()}
            </ul>
        })}
        <A href="/connectors">"Back to connectors"</A>
    }
}

#[component]
fn ConnectorView(
    detail: ConnectorDetail,
    update: ServerAction<UpdateConnector>,
    verify: ServerAction<VerifyConnector>,
    regenerate: ServerAction<RegenerateWebhookUrl>,
    delete: ServerAction<DeleteConnector>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let confirming_delete = RwSignal::new(false);
    let delete_id = StoredValue::new(detail.summary.id.clone());
    let delete_error = Signal::derive(move || delete.value().get().and_then(Result::err));
    let bound = detail.bound_channels.clone();
    let conversations = detail.conversations;
    let regenerate_id = StoredValue::new(detail.summary.id.clone());
    let verify_error = Signal::derive(move || verify.value().get().and_then(Result::err));
    let c = detail.summary.clone();
    let error = Signal::derive(move || update.value().get().and_then(Result::err));
    // A saved token leaves the page: the field is emptied (it shows "Set" instead).
    let token = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(input)) = (update.value().get(), token.get()) {
            input.set_value("");
        }
    });
    let connector_id = c.id.clone();
    let verify_id = c.id.clone();
    view! {
        <div class="page-head">
            <h1>{c.name.clone()}</h1>
            <StateBadge state=c.state/>
            <HealthBadge health=c.health/>
            <ActionForm action=verify attr:class="inline">
                <input type="hidden" name="id" value=verify_id/>
                <button type="submit" class="secondary" data-testid="verify" disabled=move || verify.pending().get()>
                    {move || if verify.pending().get() { "Checking…" } else { "Verify" }}
                </button>
            </ActionForm>
        </div>
        {detail.account_name.clone().map(|name| view! {
            <p class="hint" data-testid="account-name">"Twilio account: " <strong>{name}</strong></p>
        })}
        <p class="hint" data-testid="last-checked">
            {match detail.last_checked.clone() {
                Some(at) => format!("Credentials last checked with Twilio {at}; checked again automatically."),
                None => "Credentials not checked with Twilio yet.".to_string(),
            }}
        </p>
        <FormError error=verify_error/>
        {c.reason.clone().map(|r| view! { <p class="error" role="alert" data-testid="reason">{r}</p> })}
        {detail.trial.then(|| view! { <p class="notice">"This is a Twilio trial account: it can only reach verified numbers."</p> })}
        {(!detail.receive_inbound).then(|| view! {
            <p class="notice" data-testid="inbound-off">
                "Receive inbound data is off: Twilio's webhooks are still acknowledged and the messages stored, but no agent gets them."
            </p>
        })}
        <section class="card">
            <h2>"Inbound webhook URL"</h2>
            {detail.public_url_warning.clone().map(|w| view! { <p class="warning" role="alert" data-testid="public-url-warning">{w}</p> })}
            <p class="hint">"\"Set webhook\" writes this URL into each active number for you. To do it by hand, paste it as the inbound webhook of each number in the Twilio Console."</p>
            <div class="copyable">
                <code class="url" id="inbound-webhook-url" data-testid="webhook-url">{detail.inbound_webhook_url.clone()}</code>
                <CopyButton target="inbound-webhook-url"/>
            </div>
            <Show
                when=move || confirming.get()
                fallback=move || view! {
                    <button class="link" on:click=move |_| confirming.set(true)>"Regenerate webhook URL…"</button>
                }
            >
                <p class="warning" role="alert">
                    "The current URL stops working at once, and every number needs \"Set webhook\" again. Regenerate?"
                </p>
                <ActionForm action=regenerate attr:class="inline">
                    <input type="hidden" name="id" value=regenerate_id.get_value()/>
                    <button type="submit" class="danger">"Yes, regenerate"</button>
                    <button type="button" class="link" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </ActionForm>
            </Show>
        </section>
        <section class="card">
            <h2>"Phone Numbers"</h2>
            {match c.state {
                ConnectorState::Active => view! { <Numbers connector_id=connector_id.clone()/> }.into_any(),
                ConnectorState::Error => view! {
                    <p class="hint">"Fix the credentials below to list this account's numbers."</p>
                }.into_any(),
            }}
        </section>
        <section class="card">
            <h2>"Credentials"</h2>
            <ActionForm action=update attr:class="form">
                <input type="hidden" name="id" value=c.id.clone()/>
                <label>"Name" <input name="name" required maxlength="80" value=c.name.clone()/></label>
                <FieldError error field="name"/>
                <label>"Account SID" <input name="account_sid" required class="mono" value=c.account_sid.clone() autocomplete="off"/></label>
                <FieldError error field="account_sid"/>
                <label>"Auth Token"
                    <input name="auth_token" type="password" autocomplete="off" node_ref=token
                        placeholder=if detail.auth_token_set { "Set · leave empty to keep it" } else { "" }/>
                </label>
                <FieldError error field="auth_token"/>
                <label class="check">
                    <input type="checkbox" name="receive_inbound" value="on" checked=detail.receive_inbound/>
                    "Receive inbound data"
                </label>
                <button type="submit" disabled=move || update.pending().get()>
                    {move || if update.pending().get() { "Checking with Twilio…" } else { "Save and check" }}
                </button>
            </ActionForm>
            {move || update.value().get().and_then(Result::ok).map(|saved| view! {
                <p class="ok" role="status" data-testid="credentials-saved">"Saved. Twilio says: " {saved.health.label()} "."</p>
            })}
            <FormError error/>
        </section>
        <section class="card">
            <h2>"Delete connector"</h2>
            <Show
                when=move || confirming_delete.get()
                fallback=move || view! {
                    <button class="danger" on:click=move |_| confirming_delete.set(true)>"Delete connector…"</button>
                }
            >
                <div class="warning" role="alert" data-testid="delete-confirm">
                    {if bound.is_empty() {
                        view! { <p>"No agent answers on this connector's numbers."</p> }.into_any()
                    } else {
                        view! {
                            <p>"These channels are removed; their agents stop answering there:"</p>
                            <ul data-testid="bound-channels">
                                {bound.clone().into_iter().map(|b| view! {
                                    <li>{b.agent} " on " <span class="mono">{b.phone_number}</span> " (" {b.provider.label()} ")"</li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                    <p>{format!(
                        "{conversations} conversation{} and their messages are deleted with it. Webhooks in Twilio that still point at this connector are cleared; any that point elsewhere are left alone.",
                        if conversations == 1 { "" } else { "s" }
                    )}</p>
                </div>
                <ActionForm action=delete attr:class="inline">
                    <input type="hidden" name="id" value=delete_id.get_value()/>
                    <button type="submit" class="danger" disabled=move || delete.pending().get()>
                        {move || if delete.pending().get() { "Deleting…" } else { "Yes, delete" }}
                    </button>
                    <button type="button" class="link" on:click=move |_| confirming_delete.set(false)>"Cancel"</button>
                </ActionForm>
            </Show>
            <FormError error=delete_error/>
        </section>
    }
}

#[component]
fn Numbers(connector_id: String) -> impl IntoView {
    let save = ServerAction::<SaveNumbers>::new();
    let set_webhook = ServerAction::<SetWebhook>::new();
    let set_all = ServerAction::<SetAllWebhooks>::new();
    let sandbox = ServerAction::<AddSandbox>::new();
    let refresh = RwSignal::new(0u32);
    let cid = connector_id.clone();
    let rows = Resource::new(
        move || {
            (
                cid.clone(),
                save.version().get(),
                set_webhook.version().get(),
                set_all.version().get(),
                sandbox.version().get(),
                refresh.get(),
            )
        },
        |(cid, ..)| list_numbers(cid),
    );
    let save_error = Signal::derive(move || save.value().get().and_then(Result::err));
    let webhook_error = Signal::derive(move || set_webhook.value().get().and_then(Result::err));
    let set_all_error = Signal::derive(move || set_all.value().get().and_then(Result::err));
    let sandbox_error = Signal::derive(move || sandbox.value().get().and_then(Result::err));
    let join = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(input)) = (sandbox.value().get(), join.get()) {
            input.set_value("");
        }
    });
    let sandbox_cid = connector_id.clone();
    let set_all_cid = StoredValue::new(connector_id.clone());

    view! {
        <div class="toolbar">
            <button class="link" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
            <ActionForm action=set_all attr:class="inline">
                <input type="hidden" name="connector_id" value=set_all_cid.get_value()/>
                <button type="submit" class="secondary" disabled=move || set_all.pending().get()>
                    "Set webhook on all active numbers"
                </button>
            </ActionForm>
        </div>
        {move || set_all.pending().get().then(|| view! {
            <p aria-busy="true" role="status">"Setting the webhook on every active number and reading each back…"</p>
        })}
        <FormError error=set_all_error/>
        {move || set_all.value().get().and_then(Result::ok).map(|outcomes| view! {
            <ul class="results" data-testid="bulk-result">
                {outcomes.into_iter().map(|o| view! {
                    <li data-number=o.phone_number.clone()>
                        <span class="mono">{o.phone_number.clone()}</span> " (" {o.provider.label()} "): "
                        <strong>{o.state.label()}</strong>
                        {o.detail.map(|d| format!(" — {d}"))}
                    </li>
                }).collect_view()}
            </ul>
        })}
        <Transition fallback=|| view! { <p aria-busy="true">"Asking Twilio for this account's numbers…"</p> }>
            {move || {
                let connector_id = connector_id.clone();
                Suspend::new(async move {
                    match rows.await {
                        Ok(rows) if rows.is_empty() => view! {
                            <p class="empty">"This Twilio account has no WhatsApp senders or phone numbers yet."</p>
                        }.into_any(),
                        Ok(rows) => view! {
                            <NumberChecklist connector_id=connector_id.clone() rows=rows.clone() save set_webhook/>
                            <TestMessage connector_id rows/>
                        }.into_any(),
                        Err(error) => view! { <ErrorNote error/> }.into_any(),
                    }
                })
            }}
        </Transition>
        <FormError error=save_error/>
        <FormError error=webhook_error/>
        {move || set_webhook.pending().get().then(|| view! {
            <p aria-busy="true" role="status">"Setting the webhook in Twilio and reading it back until Twilio shows it…"</p>
        })}
        <details class="sandbox">
            <summary>"Add the WhatsApp sandbox"</summary>
            <p class="hint">
                "Twilio's sandbox (" <span class="mono">{SANDBOX_NUMBER}</span> ") lets testers chat before a sender is approved. "
                "Copy its join keyword from the Twilio Console (Messaging → Try it out → Send a WhatsApp message)."
            </p>
            <ActionForm action=sandbox attr:class="form inline-form">
                <input type="hidden" name="connector_id" value=sandbox_cid/>
                <label>"Join keyword" <input name="join" placeholder="join silver-tiger" autocomplete="off" node_ref=join/></label>
                <button type="submit" disabled=move || sandbox.pending().get()>"Add sandbox"</button>
            </ActionForm>
            {move || sandbox.value().get().and_then(Result::ok).map(|_| view! {
                <p class="ok" role="status" data-testid="sandbox-added">
                    "Sandbox added: testers send its join keyword to " <span class="mono">{SANDBOX_NUMBER}</span> " on WhatsApp."
                </p>
            })}
            <FieldError error=sandbox_error field="join"/>
            <FormError error=sandbox_error/>
        </details>
    }
}

/// "Send test message": from an active number to a number the admin types.
#[component]
fn TestMessage(connector_id: String, rows: Vec<NumberRow>) -> impl IntoView {
    let send = ServerAction::<SendTestMessage>::new();
    let error = Signal::derive(move || send.value().get().and_then(Result::err));
    let active: Vec<NumberRow> = rows.into_iter().filter(|r| r.active).collect();
    if active.is_empty() {
        return view! { <p class="hint">"Activate a number to send a test message from it."</p> }.into_any();
    }
    view! {
        <h3>"Send test message"</h3>
        <ActionForm action=send attr:class="form inline-form">
            <input type="hidden" name="connector_id" value=connector_id/>
            <label>"From"
                <select name="number_id">
                    {active.into_iter().map(|r| {
                        let label = format!("{} ({})", r.phone_number, r.provider.label());
                        view! { <option value=r.id>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <FieldError error field="number_id"/>
            <label>"To" <input name="to" placeholder="+14155550123" autocomplete="off"/></label>
            <FieldError error field="to"/>
            <button type="submit" disabled=move || send.pending().get()>
                {move || if send.pending().get() { "Sending…" } else { "Send test message" }}
            </button>
        </ActionForm>
        {move || send.value().get().and_then(Result::ok).map(|sid| view! {
            <p class="ok" role="status" data-testid="test-result">"Sent. Twilio's Message SID: " <code>{sid}</code></p>
        })}
        <FormError error/>
    }
    .into_any()
}

#[component]
fn NumberChecklist(
    connector_id: String,
    rows: Vec<NumberRow>,
    save: ServerAction<SaveNumbers>,
    set_webhook: ServerAction<SetWebhook>,
) -> impl IntoView {
    let checked = RwSignal::new(rows.iter().filter(|r| r.active).map(|r| r.id.clone()).collect::<BTreeSet<_>>());
    // The bound numbers a save would deactivate: they need a confirmation first.
    let bound: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.active)
        .filter_map(|r| {
            r.bound_agent
                .clone()
                .map(|a| (r.id.clone(), format!("{} ({}) answers for {a}", r.phone_number, r.provider.label())))
        })
        .collect();
    let would_unbind = Memo::new(move |_| {
        let checked = checked.read();
        bound.iter().filter(|(id, _)| !checked.contains(id)).map(|(_, what)| what.clone()).collect::<Vec<_>>()
    });
    let confirming = RwSignal::new(false);
    let cid = StoredValue::new(connector_id.clone());
    let dispatch = move |unbind: bool| {
        confirming.set(false);
        save.dispatch(SaveNumbers {
            connector_id: cid.get_value(),
            active: checked.get().into_iter().collect(),
            unbind,
        });
    };
    let on_save = move |_| {
        if would_unbind.read().is_empty() {
            dispatch(false);
        } else {
            confirming.set(true);
        }
    };
    let groups = group_numbers(rows);
    view! {
        <table class="list" data-testid="numbers">
            <thead><tr><th>"Number"</th><th>"Sender status"</th><th>"Capabilities · active"</th><th>"Webhook"</th><th>"Agent"</th></tr></thead>
            <tbody>
                {groups.into_iter().map(|group| {
                    let several = group.capabilities.len() > 1;
                    let phone = group.phone_number.clone();
                    let caps = group.capabilities.clone();
                    let webhooks = group.capabilities.clone();
                    let agents = group.capabilities.clone();
                    let cid = connector_id.clone();
                    view! {
                        <tr data-number=group.phone_number.clone()>
                            <td class="mono">{group.phone_number.clone()}
                                {group.display_name.clone().map(|n| view! { <div class="hint">{n}</div> })}
                            </td>
                            <td>{group.sender_status.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>
                                {caps.into_iter().map(|row| {
                                    let (id, id_for_check) = (row.id.clone(), row.id.clone());
                                    let label = if row.sandbox_join.is_some() { "WhatsApp sandbox" } else { row.provider.label() };
                                    view! {
                                        <label class="check cap" data-provider=row.provider.label()>
                                            <input type="checkbox" aria-label=format!("Activate {} on {}", phone, row.provider.label())
                                                prop:checked=move || checked.read().contains(&id)
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    checked.update(|set| { if on { set.insert(id_for_check.clone()); } else { set.remove(&id_for_check); } });
                                                }/>
                                            {label}
                                        </label>
                                    }.into_any()
                                }).collect_view()}
                            </td>
                            <td>
                                {webhooks.into_iter().map(|row| {
                                    let id = row.id.clone();
                                    let cid = cid.clone();
                                    let class = match row.webhook {
                                        WebhookState::Configured => "badge ok",
                                        WebhookState::NotConfigured => "badge bad",
                                        WebhookState::Unknown | WebhookState::Manual => "badge",
                                    };
                                    let active = row.active;
                                    view! {
                                        <div class="cap-webhook" data-provider=row.provider.label()>
                                            {several.then(|| view! { <span class="hint">{row.provider.label()} ": "</span> })}
                                            <span class=class data-testid="webhook-state">{row.webhook.label()}</span>
                                            {row.webhook_detail.clone().map(|d| view! { <div class="hint" data-testid="webhook-detail">{d}</div> })}
                                            {match row.sandbox_join.clone() {
                                                Some(join) => view! {
                                                    <div class="hint" data-testid="sandbox-join">
                                                        "Testers send " <code>{join}</code> " to " <span class="mono">{SANDBOX_NUMBER}</span> " to join."
                                                    </div>
                                                }.into_any(),
                                                None => view! {
                                                    <button
                                                        disabled=move || !active || set_webhook.pending().get()
                                                        title=if active { "Write the inbound webhook URL into this number in Twilio" } else { "Activate the number and save first" }
                                                        on:click=move |_| {
                                                            set_webhook.dispatch(SetWebhook { connector_id: cid.clone(), number_id: id.clone() });
                                                        }>
                                                        "Set webhook"
                                                    </button>
                                                }.into_any(),
                                            }}
                                        </div>
                                    }.into_any()
                                }).collect_view()}
                            </td>
                            <td>
                                {agents.into_iter().map(|row| view! {
                                    <div data-provider=row.provider.label()>
                                        {several.then(|| format!("{}: ", row.provider.label()))}
                                        {row.bound_agent.clone().unwrap_or_else(|| "—".into())}
                                    </div>
                                }).collect_view()}
                            </td>
                        </tr>
                    }.into_any()
                }).collect_view()}
            </tbody>
        </table>
        <Show when=move || confirming.get()>
            <div class="warning" role="alert" data-testid="unbind-confirm">
                <p>"Deactivating removes these channels; their agents stop answering there:"</p>
                <ul>{move || would_unbind.get().into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
                <button class="danger" on:click=move |_| dispatch(true)>"Deactivate and unbind"</button>
                <button class="link" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </div>
        </Show>
        <button on:click=on_save disabled=move || save.pending().get()>
            {move || if save.pending().get() { "Saving…" } else { "Save" }}
        </button>
    }
}
