//! The connectors pages: the list, "New connector", and a connector's page (its credentials,
//! webhook URL, Verify, Regenerate, Delete); its Phone Numbers are in `numbers.rs`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use super::numbers::{NumberActions, NumberRows, Numbers};
use crate::{
    components::{settled, CopyButton, ErrorNote, FieldError, FormError, HealthBadge, StateBadge},
    connectors::{
        api::{
            get_connector, list_connectors, list_numbers, CreateConnector, DeleteConnector, RegenerateWebhookUrl,
            UpdateConnector, VerifyConnector,
        },
        ConnectorDetail, ConnectorState, DisconnectReport,
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
    let deleted = settled(delete);
    // Changes each time the connector changed (credentials saved, verified, a new webhook URL).
    let changed = move || (update.version().get(), verify.version().get(), regenerate.version().get());
    let detail = Resource::new(move || (id(), changed()), |(id, _)| get_connector(id));
    // The numbers are read beside the connector, not once it is shown (a resource made where the
    // page waits is made again each time the server builds that part: two calls to Twilio a view);
    // whatever changes the connector or its numbers reads them again.
    let numbers = NumberActions::new();
    // The connector changed: what the numbers' actions said before is about the numbers as they were.
    Effect::new(move |seen: Option<(usize, usize, usize)>| {
        let now = changed();
        if seen.is_some_and(|seen| seen != now) {
            numbers.forget_results();
        }
        now
    });
    let rows = Resource::new(move || (id(), changed(), numbers.version()), |(id, ..)| list_numbers(id));

    view! {
        <Title text="Connector"/>
        <Show
            when=move || deleted.read().is_some()
            fallback=move || view! {
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match detail.await {
                            Ok(detail) => view! { <ConnectorView detail update verify regenerate delete rows numbers/> }.into_any(),
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
    rows: NumberRows,
    numbers: NumberActions,
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
                ConnectorState::Active => view! { <Numbers connector_id=connector_id.clone() rows actions=numbers/> }.into_any(),
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
