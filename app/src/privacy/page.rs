//! The Privacy page (how a guest's `/forget` is handled, the requests waiting for an admin) and
//! the Audit log page (who changed what, newest first, with a CSV download).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{live_updates, ErrorNote, FieldError, FormError},
    privacy::{
        api::{get_audit, get_privacy, DecideForget, SetForgetMode, SetRetention},
        AuditPage, ForgetMode, Privacy,
    },
    time::utc_minutes,
};

#[component]
pub fn PrivacyPage() -> impl IntoView {
    let live = live_updates();
    let mode = ServerAction::<SetForgetMode>::new();
    let decide = ServerAction::<DecideForget>::new();
    let retention = ServerAction::<SetRetention>::new();
    let privacy = Resource::new(
        move || (live.get(), mode.version().get(), decide.version().get(), retention.version().get()),
        |_| get_privacy(),
    );
    view! {
        <Title text="Privacy"/>
        <div class="page-head">
            <h1>"Privacy"</h1>
            <a href="/audit">"Audit log"</a>
        </div>
        <p class="hint">"A guest is forgotten from their conversation's page (Forget this guest), through the REST API \
            (POST /api/guests/forget), or at their own request: they send /forget. Forgetting deletes their conversations \
            on every number of the organization, with their messages, media and execution records, their verified \
            email, access requests and login codes. The audit log keeps a line saying how much went, not whose."</p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match privacy.await {
                    Ok(p) => view! { <Sections p mode decide retention/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Sections(
    p: Privacy,
    mode: ServerAction<SetForgetMode>,
    decide: ServerAction<DecideForget>,
    retention: ServerAction<SetRetention>,
) -> impl IntoView {
    let mode_error = Signal::derive(move || mode.value().get().and_then(Result::err));
    let decide_error = Signal::derive(move || decide.value().get().and_then(Result::err));
    let current = p.mode;
    let retention_error = Signal::derive(move || retention.value().get().and_then(Result::err));
    let kept = p.retention_days.map(|d| d.to_string()).unwrap_or_default();
    view! {
        <section class="card" data-testid="retention">
            <h2>"How long messages are kept"</h2>
            <p class="hint">"Messages, their media and execution records older than this are deleted, a few hundred at a \
                time; a conversation left without messages goes with them. The dashboard's counts of past days stay."</p>
            <ActionForm action=retention>
                <input type="hidden" name="agent_id" value=""/>
                <label for="retention-days">"Days (empty: until deleted)"</label>
                <input id="retention-days" name="days" inputmode="numeric" value=kept/>
                <button type="submit" disabled=move || retention.pending().get()>"Save period"</button>
            </ActionForm>
            {move || retention.value().get().and_then(Result::ok).map(|_| view! { <p class="ok" role="status">"Saved."</p> })}
            <FieldError error=retention_error field="days"/>
            <FormError error=retention_error/>
            <h3>"Agents with a period of their own"</h3>
            {if p.agent_periods.is_empty() {
                view! { <p class="empty">"None: every agent follows the organization's period."</p> }.into_any()
            } else {
                view! {
                    <ul class="periods">
                        {p.agent_periods.into_iter().map(|a| {
                            let id = a.agent_id.clone();
                            view! {
                                <li>{a.agent_name} ": " {a.days} " days "
                                    <button class="link" on:click=move |_| { retention.dispatch(SetRetention { agent_id: id.clone(), days: String::new() }); }>
                                        "Follow the organization"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {(!p.agents.is_empty()).then(|| view! {
                <ActionForm action=retention>
                    <label for="retention-agent">"Agent"</label>
                    <select id="retention-agent" name="agent_id">
                        {p.agents.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                    </select>
                    <label for="retention-agent-days">"Its days"</label>
                    <input id="retention-agent-days" name="days" inputmode="numeric"/>
                    <button type="submit" disabled=move || retention.pending().get()>"Give it its own period"</button>
                </ActionForm>
            })}
        </section>
        <section class="card" data-testid="forget-mode">
            <h2>"When a guest sends /forget"</h2>
            <ActionForm action=mode>
                <fieldset>
                    <legend class="sr-only">"When a guest sends /forget"</legend>
                    <label><input type="radio" name="mode" value="Approval" checked=current == ForgetMode::Approval/>
                        " An admin approves each request here first"</label>
                    <label><input type="radio" name="mode" value="Automatic" checked=current == ForgetMode::Automatic/>
                        " They are forgotten at once, after the reply that tells them so"</label>
                </fieldset>
                <button type="submit" disabled=move || mode.pending().get()>"Save"</button>
            </ActionForm>
            {move || mode.value().get().and_then(Result::ok).map(|_| view! { <p class="ok" role="status">"Saved."</p> })}
            <FormError error=mode_error/>
        </section>
        <section class="card" data-testid="forget-requests">
            <h2>"Requests to be forgotten"</h2>
            {move || decide.value().get().and_then(Result::ok).map(|text| view! { <p class="ok" role="status">{text}</p> })}
            <FormError error=decide_error/>
            {if p.requests.is_empty() {
                view! { <p class="empty">"No request is waiting."</p> }.into_any()
            } else {
                view! {
                    <table class="list">
                        <thead><tr><th>"Guest"</th><th>"Asked"</th><th>"Held now"</th><th><span class="sr-only">"Decision"</span></th></tr></thead>
                        <tbody>
                            {p.requests.into_iter().map(|r| {
                                let (yes, no) = (r.id.clone(), r.id.clone());
                                view! {
                                    <tr data-guest=r.guest.clone()>
                                        <td class="mono">{r.guest.clone()}</td>
                                        <td>{utc_minutes(r.at_ms)}</td>
                                        <td>{count(r.conversations, "conversation")} ", " {count(r.messages, "message")}</td>
                                        <td>
                                            <button class="danger" disabled=move || decide.pending().get()
                                                on:click=move |_| { decide.dispatch(DecideForget { id: yes.clone(), approve: true }); }>"Forget now"</button>
                                            " "
                                            <button class="link" disabled=move || decide.pending().get()
                                                on:click=move |_| { decide.dispatch(DecideForget { id: no.clone(), approve: false }); }>"Decline"</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let older = move || query.read().get("older");
    let page = Resource::new(older, get_audit);
    view! {
        <Title text="Audit log"/>
        <div class="page-head">
            <h1>"Audit log"</h1>
            <span class="exports">"Download: " <a href="/export/audit.csv" download>"CSV"</a></span>
        </div>
        <p class="hint">"Who changed what in the backoffice and through the REST API, newest first. \
            No line holds a secret or a guest's number, name, email or words."</p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => view! { <Entries p/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Entries(p: AuditPage) -> impl IntoView {
    let kept = match p.kept_days {
        Some(days) => format!("Each line is kept for {days} days, then deleted."),
        None => "Lines are kept for good.".to_string(),
    };
    let kept = view! { <p class="hint" data-testid="audit-kept">{kept}</p> };
    if p.entries.is_empty() {
        return view! { {kept} <p class="empty">"Nothing yet."</p> }.into_any();
    }
    view! {
        {kept}
        <table class="list" data-testid="audit">
            <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th>"Detail"</th></tr></thead>
            <tbody>
                {p.entries.into_iter().map(|e| view! {
                    <tr>
                        <td>{utc_minutes(e.at_ms)}</td>
                        <td>{e.actor}</td>
                        <td>{e.action}</td>
                        <td>{e.subject}</td>
                        <td>{e.detail}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        {p.older.map(|older| view! { <p><a href=format!("/audit?older={older}")>"Older entries"</a></p> })}
    }
    .into_any()
}

/// "1 message", "4 messages".
fn count(n: i64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
