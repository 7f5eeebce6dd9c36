//! The list of conversations, the organization's or an agent's: filters and search in the
//! address bar, exports of what is filtered, and a pager that goes from a place in the list (a
//! guest writing meanwhile moves to the top instead of showing twice). It updates live.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::{
    components::{live_updates, ErrorNote},
    connectors::Provider,
    inbox::{api::get_inbox, ConversationState, InboxFilter, InboxPage},
    time::utc_minutes,
};

#[component]
pub fn Inbox(agent_id: Option<String>) -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let fixed_agent = agent_id.clone();
    let agent_id_fixed = agent_id.is_none();
    let filter = Memo::new(move |_| {
        let q = query.read();
        let mut f = InboxFilter::from_pairs(
            ["provider", "number", "state", "q", "after", "before", "agent_id"]
                .into_iter()
                .filter_map(|k| q.get(k).map(|v| (k, v)))
                .collect::<Vec<_>>()
                .iter()
                .map(|(k, v)| (*k, v.as_str())),
        );
        if fixed_agent.is_some() {
            f.agent_id = fixed_agent.clone();
        }
        f
    });
    let live = live_updates();
    let page = Resource::new(move || (filter.get(), live.get()), |(f, _)| get_inbox(f));
    let go = Callback::new(move |f: InboxFilter| {
        let mut f = f;
        if agent_id.is_some() {
            f.agent_id = None;
        }
        navigate(&format!("?{}", f.query_with_place()), Default::default());
    });
    let set = move |change: Box<dyn Fn(&mut InboxFilter)>| {
        let mut f = filter.get_untracked().first_page();
        change(&mut f);
        go.run(f);
    };
    let export = move |ext: &str| format!("/export/conversations.{ext}?{}", filter.get().query());
    view! {
        <form class="filters" on:submit=move |ev| ev.prevent_default() data-testid="filters">
            <label>"Search"
                <input type="search" name="q" placeholder="Number, name or text" prop:value=move || filter.get().q
                    on:change=move |ev| { let v = event_target_value(&ev); set(Box::new(move |f| f.q = v.clone())); }/>
            </label>
            <label>"Provider"
                <select name="provider" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    set(Box::new(move |f| f.provider = Provider::parse(&v)));
                }>
                    <option value="" selected=move || filter.get().provider.is_none()>"All"</option>
                    <option value="whatsapp" selected=move || filter.get().provider == Some(Provider::WhatsApp)>"WhatsApp"</option>
                    <option value="sms" selected=move || filter.get().provider == Some(Provider::Sms)>"SMS"</option>
                </select>
            </label>
            <label>"State"
                <select name="state" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    set(Box::new(move |f| f.state = ConversationState::parse(&v)));
                }>
                    <option value="" selected=move || filter.get().state.is_none()>"All"</option>
                    <option value="live" selected=move || filter.get().state == Some(ConversationState::Live)>"Live"</option>
                    <option value="ended" selected=move || filter.get().state == Some(ConversationState::Ended)>"Ended"</option>
                </select>
            </label>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let numbers = page.await.map(|p| p.numbers).unwrap_or_default();
                    view! {
                        <label>"Number"
                            <select name="number" on:change=move |ev| {
                                let v = event_target_value(&ev);
                                set(Box::new(move |f| f.number = (!v.is_empty()).then(|| v.clone())));
                            }>
                                <option value="">"All"</option>
                                {numbers.into_iter().map(|n| {
                                    let selected = filter.get_untracked().number.as_deref() == Some(n.as_str());
                                    view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    }
                })}
            </Transition>
            <span class="exports">"Export: " <a href=move || export("csv") download>"CSV"</a> " · " <a href=move || export("json") download>"JSON"</a></span>
        </form>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => view! { <InboxTable page=p filter=filter.get_untracked() org_wide=agent_id_fixed go/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InboxTable(page: InboxPage, filter: InboxFilter, org_wide: bool, go: Callback<InboxFilter>) -> impl IntoView {
    if page.rows.is_empty() {
        // An agent's own tab is filtered by its agent without anyone choosing it.
        let chosen = InboxFilter { agent_id: filter.agent_id.clone().filter(|_| org_wide), ..filter.first_page() };
        let unfiltered = chosen == InboxFilter::default();
        let text = if unfiltered && filter.after.is_none() && filter.before.is_none() {
            "No conversations yet. They appear here when a guest writes to one of the agent's numbers."
        } else {
            "No conversations match."
        };
        // A place in the list past its end (the conversations after it were deleted): a way back.
        let placed = filter.after.is_some() || filter.before.is_some();
        let first = filter.first_page();
        return view! {
            <p class="empty">{text}</p>
            {placed.then(|| view! { <p><button class="link" on:click=move |_| go.run(first.clone())>"« Newest"</button></p> })}
        }
        .into_any();
    }
    // Where each button goes: the same filter, from the page's places.
    let first = filter.first_page();
    let newer = page.newer.clone().map(|b| InboxFilter { before: Some(b), ..first.clone() });
    let older = page.older.clone().map(|a| InboxFilter { after: Some(a), ..first.clone() });
    view! {
        <table class="list inbox" data-testid="inbox">
            <thead><tr>
                <th>"Guest"</th>
                {org_wide.then(|| view! { <th>"Agent"</th> })}
                <th>"Number"</th><th>"State"</th><th>"Last message"</th><th>"Window"</th>
            </tr></thead>
            <tbody>
                {page.rows.into_iter().map(|r| view! {
                    <tr data-conversation=r.id.clone() data-state=r.state.as_str()>
                        <td>
                            <a href=format!("/conversations/{}", r.id)>{r.guest_name.clone().unwrap_or_else(|| r.guest.clone())}</a>
                            <br/><span class="hint mono">{r.guest.clone()}</span>
                        </td>
                        {org_wide.then(|| view! { <td data-label="Agent">{r.agent_name.clone().unwrap_or_else(|| "—".into())}</td> })}
                        <td data-label="Number"><span class="mono">{r.number.clone()}</span><br/><span class="hint">{r.provider.label()}</span></td>
                        <td>
                            {match r.state {
                                ConversationState::Live => view! { <span class="badge ok">"Live"</span> }.into_any(),
                                ConversationState::Ended => view! { <span class="badge">"Ended"</span> }.into_any(),
                            }}
                            {r.paused.then(|| view! { <span class="badge warn">"Staff"</span> })}
                        </td>
                        <td class="preview">
                            <span class="hint">{if r.last_from_guest { "Guest: " } else { "Reply: " }}</span>{r.last_body.clone()}
                            <br/><span class="hint">{utc_minutes(r.last_at_ms)}</span>
                        </td>
                        <td data-label="Window">{if r.window_open { "Open" } else { "Closed" }}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <nav class="pager">
            {newer.map(|to| view! {
                <button class="link" on:click=move |_| go.run(first.clone())>"« Newest"</button>
                <button class="link" on:click=move |_| go.run(to.clone())>"← Newer"</button>
            })}
            {older.map(|to| view! { <button class="link" on:click=move |_| go.run(to.clone())>"Older →"</button> })}
        </nav>
    }
    .into_any()
}
