//! The organization's dashboard, as charts: messages per day, reply time, delivery failures,
//! refused webhooks and connector health. Drawn as SVG, no script needed.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{live_updates, ErrorNote},
    dashboard::{api::get_dashboard, CodeCount, Dashboard, DayCount},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let live = live_updates();
    let dashboard = Resource::new(move || live.get() / 20, |_| get_dashboard());
    view! {
        <Title text="Dashboard"/>
        <h1>"Dashboard"</h1>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match dashboard.await {
                    Ok(d) => view! { <Charts d/> }.into_any(),
                    Err(error) => view! { <ErrorNote error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A duration for people: 850 ms, 4.2 s, 3 min.
fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{:.0} min", ms as f64 / 60_000.0),
    }
}

#[component]
fn Charts(d: Dashboard) -> impl IntoView {
    let total_in: i64 = d.days.iter().map(|x| x.inbound).sum();
    let total_out: i64 = d.days.iter().map(|x| x.outbound).sum();
    let kept = match d.retention_days {
        Some(days) => format!("Messages, execution records and media are kept for {days} days"),
        None => "Messages, execution records and media are kept until deleted".to_string(),
    };
    let own = match d.agents_with_own_period {
        0 => String::new(),
        1 => " (one agent has a period of its own)".to_string(),
        n => format!(" ({n} agents have a period of their own)"),
    };
    view! {
        <p class="hint" data-testid="retention">{kept} {own} "; the counts of past days stay. "
            <a href="/privacy">"Privacy"</a></p>
        <div class="tiles">
            <section class="card tile" data-testid="totals">
                <h2>"Last 14 days"</h2>
                <p class="big">{total_in} " in · " {total_out} " out"</p>
            </section>
            <section class="card tile" data-testid="reply-time">
                <h2>"Median reply time"</h2>
                <p class="big">{d.median_reply_ms.map_or("—".to_string(), duration)}</p>
                <p class="hint">"From a guest's message to the agent's reply, over " {d.replies_measured} " replies."</p>
            </section>
        </div>
        <section class="card" data-testid="per-day">
            <h2>"Messages per day"</h2>
            <DayChart days=d.days/>
            <p class="legend"><span class="swatch in"></span>" from guests " <span class="swatch out"></span>" to guests"</p>
        </section>
        <section class="card" data-testid="failures">
            <h2>"Delivery failures by error code"</h2>
            <Bars rows=d.failures empty="No failed deliveries." label="Failed deliveries by Twilio error code"/>
        </section>
        <section class="card" data-testid="rejections">
            <h2>"Webhook requests refused"</h2>
            <Bars rows=d.rejections empty="None refused." label="Refused webhook requests by reason"/>
        </section>
        <section class="card" data-testid="health">
            <h2>"Connector health"</h2>
            {if d.connectors.is_empty() {
                view! { <p class="empty">"No connectors yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="health">
                        {d.connectors.into_iter().map(|(name, label, ok)| view! {
                            <li><span class=if ok { "badge ok" } else { "badge bad" }>{label}</span> " " {name}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Paired bars per day, inbound and outbound, with the day under each pair.
#[component]
fn DayChart(days: Vec<DayCount>) -> impl IntoView {
    let (width, height, top) = (700.0_f64, 160.0_f64, 20.0_f64);
    let max = days.iter().map(|d| d.inbound.max(d.outbound)).max().unwrap_or(0).max(1) as f64;
    let slot = width / days.len().max(1) as f64;
    let bar = (slot - 8.0) / 2.0;
    let scale = move |n: i64| (n as f64 / max) * (height - top);
    view! {
        <svg class="chart" viewBox=format!("0 0 {width} {}", height + 30.0) role="img"
            aria-label="Messages from and to guests per day">
            {days.into_iter().enumerate().map(|(i, d)| {
                let x = i as f64 * slot + 4.0;
                let (hi, ho) = (scale(d.inbound), scale(d.outbound));
                let label = d.day[5..].to_string();
                view! {
                    <g data-day=d.day.clone()>
                        <title>{format!("{}: {} in, {} out", d.day, d.inbound, d.outbound)}</title>
                        <rect class="in" x=x y=height - hi width=bar height=hi/>
                        <rect class="out" x=x + bar y=height - ho width=bar height=ho/>
                        {(d.inbound > 0).then(|| view! { <text x=x + bar / 2.0 y=height - hi - 4.0 text-anchor="middle">{d.inbound}</text> })}
                        {(d.outbound > 0).then(|| view! { <text x=x + bar * 1.5 y=height - ho - 4.0 text-anchor="middle">{d.outbound}</text> })}
                        <text class="axis" x=x + bar y=height + 18.0 text-anchor="middle">{label}</text>
                    </g>
                }
            }).collect_view()}
            <line x1="0" y1=height x2=width y2=height class="axis"/>
        </svg>
    }
}

/// Horizontal bars, one per row, longest first.
#[component]
fn Bars(rows: Vec<CodeCount>, empty: &'static str, label: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">{empty}</p> }.into_any();
    }
    let max = rows.iter().map(|r| r.count).max().unwrap_or(1).max(1) as f64;
    let height = rows.len() as f64 * 28.0;
    view! {
        <svg class="chart bars" viewBox=format!("0 0 700 {height}") role="group" aria-label=label>
            {rows.into_iter().enumerate().map(|(i, r)| {
                let y = i as f64 * 28.0;
                let w = (r.count as f64 / max) * 300.0;
                let label = match r.code { Some(c) => format!("{} ({c})", r.meaning), None => r.meaning.clone() };
                view! {
                    <g data-code=r.code.map(|c| c.to_string()).unwrap_or_default()>
                        <text x="0" y=y + 18.0>{label}</text>
                        <rect class="fail" x="380" y=y + 4.0 width=w height="18"/>
                        <text x=386.0 + w y=y + 18.0>{r.count}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
    .into_any()
}
