//! A connector's Phone Numbers: the checklist read from Twilio (activate, Set webhook, the
//! sandbox) and "Send test message".

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::{
    components::{ErrorNote, FieldError, FormError},
    connectors::{
        api::{AddSandbox, SaveNumbers, SendTestMessage, SetAllWebhooks, SetWebhook},
        group_numbers, NumberRow, WebhookState, SANDBOX_NUMBER,
    },
    AppError,
};

/// What a connector's Phone Numbers section does (save, Set webhook, Set webhook on all, the
/// sandbox, Refresh), made with the page so that the numbers' resource can be: a resource made
/// inside a part of the page that waits for its data is made again each time the server builds
/// that part, and asked Twilio for the numbers twice a view.
#[derive(Clone, Copy)]
pub(super) struct NumberActions {
    save: ServerAction<SaveNumbers>,
    set_webhook: ServerAction<SetWebhook>,
    set_all: ServerAction<SetAllWebhooks>,
    sandbox: ServerAction<AddSandbox>,
    refresh: RwSignal<u32>,
}

impl NumberActions {
    pub(super) fn new() -> Self {
        Self {
            save: ServerAction::new(),
            set_webhook: ServerAction::new(),
            set_all: ServerAction::new(),
            sandbox: ServerAction::new(),
            refresh: RwSignal::new(0),
        }
    }

    /// Forgets what each last said (a bulk result, an error, "Sandbox added"): made with the page,
    /// they outlive a rebuilt connector view, whose numbers are read anew.
    pub(super) fn forget_results(&self) {
        self.save.value().set(None);
        self.set_webhook.value().set(None);
        self.set_all.value().set(None);
        self.sandbox.value().set(None);
    }

    /// Tracked: changes each time one of them has run, when the numbers are to be read again.
    pub(super) fn version(&self) -> (usize, usize, usize, usize, u32) {
        (
            self.save.version().get(),
            self.set_webhook.version().get(),
            self.set_all.version().get(),
            self.sandbox.version().get(),
            self.refresh.get(),
        )
    }
}

/// The account's numbers as read from Twilio (an error for a connector whose credentials
/// failed, which the page does not show: it asks for them to be fixed instead).
pub(super) type NumberRows = Resource<Result<Vec<NumberRow>, AppError>>;

#[component]
pub(super) fn Numbers(connector_id: String, rows: NumberRows, actions: NumberActions) -> impl IntoView {
    let NumberActions { save, set_webhook, set_all, sandbox, refresh } = actions;
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
