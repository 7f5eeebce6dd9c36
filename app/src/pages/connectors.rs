use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use crate::{
    api::{
        get_connector, list_connectors, list_numbers, CreateConnector, RegenerateWebhookUrl, SaveNumbers,
        SendTestMessage, SetWebhook, UpdateConnector, VerifyConnector,
    },
    components::{ErrorNote, FieldError, FormError, HealthBadge, StateBadge},
    model::{ConnectorDetail, ConnectorState, NumberRow, WebhookState},
};

#[component]
pub fn ConnectorsPage() -> impl IntoView {
    let connectors = Resource::new(|| (), |_| list_connectors());
    view! {
        <Title text="Connectors"/>
        <div class="page-head">
            <h1>"Connectors"</h1>
            <A href="/connectors/new" attr:class="button">"New connector"</A>
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
    let detail = Resource::new(
        move || (id(), update.version().get(), verify.version().get(), regenerate.version().get()),
        |(id, ..)| get_connector(id),
    );

    view! {
        <Title text="Connector"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <ConnectorView detail update verify regenerate/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ConnectorView(
    detail: ConnectorDetail,
    update: ServerAction<UpdateConnector>,
    verify: ServerAction<VerifyConnector>,
    regenerate: ServerAction<RegenerateWebhookUrl>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let regenerate_id = StoredValue::new(detail.summary.id.clone());
    let verify_error = Signal::derive(move || verify.value().get().and_then(Result::err));
    let c = detail.summary.clone();
    let error = Signal::derive(move || update.value().get().and_then(Result::err));
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
            <code class="url" data-testid="webhook-url">{detail.inbound_webhook_url.clone()}</code>
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
                    <input name="auth_token" type="password" autocomplete="off"
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
            <FormError error/>
        </section>
    }
}

#[component]
fn Numbers(connector_id: String) -> impl IntoView {
    let save = ServerAction::<SaveNumbers>::new();
    let set_webhook = ServerAction::<SetWebhook>::new();
    let refresh = RwSignal::new(0u32);
    let cid = connector_id.clone();
    let rows = Resource::new(
        move || (cid.clone(), save.version().get(), set_webhook.version().get(), refresh.get()),
        |(cid, ..)| list_numbers(cid),
    );
    let save_error = Signal::derive(move || save.value().get().and_then(Result::err));
    let webhook_error = Signal::derive(move || set_webhook.value().get().and_then(Result::err));

    view! {
        <button class="link" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
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
        {move || set_webhook.pending().get().then(|| view! { <p aria-busy="true">"Setting the webhook in Twilio and reading it back…"</p> })}
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
    let cid = connector_id.clone();
    let on_save = move |_| {
        save.dispatch(SaveNumbers { connector_id: cid.clone(), active: checked.get().into_iter().collect() });
    };
    view! {
        <table class="list" data-testid="numbers">
            <thead><tr><th>"Active"</th><th>"Number"</th><th>"Provider"</th><th>"Sender status"</th><th>"Webhook"</th><th>"Agent"</th><th></th></tr></thead>
            <tbody>
                {rows.into_iter().map(|row| {
                    let id = row.id.clone();
                    let id_for_check = row.id.clone();
                    let id_for_webhook = row.id.clone();
                    let cid = connector_id.clone();
                    let webhook_class = match row.webhook {
                        WebhookState::Configured => "badge ok",
                        WebhookState::NotConfigured => "badge bad",
                        WebhookState::Unknown => "badge",
                    };
                    view! {
                        <tr data-number=row.phone_number.clone()>
                            <td>
                                <input type="checkbox" aria-label=format!("Activate {}", row.phone_number)
                                    prop:checked=move || checked.read().contains(&id)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        checked.update(|set| { if on { set.insert(id_for_check.clone()); } else { set.remove(&id_for_check); } });
                                    }/>
                            </td>
                            <td class="mono">{row.phone_number.clone()}
                                {row.display_name.clone().map(|n| view! { <div class="hint">{n}</div> })}
                            </td>
                            <td>{row.provider.label()}</td>
                            <td>{row.sender_status.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>
                                <span class=webhook_class data-testid="webhook-state">{row.webhook.label()}</span>
                                {row.webhook_detail.clone().map(|d| view! { <div class="hint">{d}</div> })}
                            </td>
                            <td>{row.bound_agent.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>
                                <button
                                    disabled=move || !row.active || set_webhook.pending().get()
                                    title=if row.active { "Write the inbound webhook URL into this number in Twilio" } else { "Activate the number and save first" }
                                    on:click=move |_| {
                                        set_webhook.dispatch(SetWebhook { connector_id: cid.clone(), number_id: id_for_webhook.clone() });
                                    }>
                                    "Set webhook"
                                </button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <button on:click=on_save disabled=move || save.pending().get()>
            {move || if save.pending().get() { "Saving…" } else { "Save" }}
        </button>
    }
}
