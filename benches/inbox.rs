//! The inbox with 100,000 messages of its first organization in the database (or `BENCH_MESSAGES`),
//! beside three others': prints how long each view of it takes.
//!
//!     cargo bench --bench inbox           (or scripts/bench.sh inbox [messages])
//!
//! Sets up a connector, two numbers and an agent through the services (the simulator stands in
//! for Twilio), then writes conversations of 20 messages each straight into the database — 5,000
//! of them spread over the last two weeks by default; with more messages, over proportionally
//! more days (at most a year), so the last two weeks hold about 100,000 — and times the inbox's pages, filters and searches, a conversation's
//! page and the dashboard, as the server functions run them. Three more organizations share the
//! instance: a small hotel (50 conversations), a shop (5,000, in words of its own) and a hotel group
//! (12,000, its guests' numbers of another country). SQLite by default; PostgreSQL when
//! `BENCH_DATABASE_URL` names a fresh database. `BENCH_KEEP=1` keeps the SQLite database afterwards.
//! `BENCH_REUSE=1` with `BENCH_DATABASE_URL` times the views again on a PostgreSQL database an
//! earlier run seeded (ten million messages take an hour to write), without its export.
//! `BENCH_GROUP_UNANALYZED=1` (a fresh seed, not `BENCH_REUSE`) writes the hotel group's
//! conversations after the statistics were taken, as an import does before PostgreSQL's
//! autovacuum analyzes again.

use std::time::{Duration, Instant};

use app::{
    accounts::Me,
    agents::port::AgentInput,
    connectors::{port::ConnectorInput, Provider},
    inbox::{ConversationState, InboxFilter},
    ports::*,
};
use switchboard::{config::Config, startup::Application, state::AppState};
use twilio_sim::{Options, Seed, SeedAccount, SeedNumber};

const PER_CONVERSATION: usize = 20;
const DAY_MS: i64 = 86_400_000;

/// The messages to write: `BENCH_MESSAGES`, 100,000 by default.
fn messages() -> usize {
    std::env::var("BENCH_MESSAGES")
        .ok()
        .map_or(100_000, |v| v.replace(['_', ','], "").parse().expect("BENCH_MESSAGES is a count"))
}

/// The days the conversations' activity spreads over: two weeks per 100,000 messages, at least
/// two weeks and at most a year.
fn days(messages: usize) -> i64 {
    (14 * messages as i64 / 100_000).clamp(14, 365)
}

/// The master key of the benchmark's runs on PostgreSQL (32 bytes, base64): a benchmark's key, no secret.
const BENCH_MASTER_KEY: &str = "YmVuY2gtbWFzdGVyLWtleS0wMTIzNDU2Nzg5YWJjZGU=";

/// The setup token the benchmark's instance starts with.
const BENCH_SETUP_TOKEN: &str = "sbsetup_bench-token-0123456789";
fn number(phone: &str, whatsapp: bool, sms: bool) -> SeedNumber {
    SeedNumber { phone_number: phone.into(), display_name: None, whatsapp, sms, sender_status: "ONLINE".into() }
}

/// Runs `f` `runs` times and returns the median and the slowest, in milliseconds.
async fn time<F, Fut, T>(runs: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut took = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f().await);
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(|a, b| a.total_cmp(b));
    (took[runs / 2], took[runs - 1])
}

/// What a hotel's guests ask about, one word in each message: "towels" in one message of eight.
const HOTEL: [&str; 8] = ["breakfast", "parking", "late checkout", "spa", "taxi", "towels", "wifi", "pool"];

/// What a shop's customers ask about: never towels.
const SHOP: [&str; 8] = ["order", "delivery", "refund", "invoice", "size", "colour", "return", "tracking"];

async fn seed(
    state: &AppState,
    agent_id: &str,
    numbers: &[(String, String, bool)],
    conversations: usize,
    days: i64,
    words: &[&str],
    country: &str,
) {
    let now = switchboard::now_ms();
    let mut c = 0;
    while c < conversations {
        let mut tx = state.db.begin_write().await.unwrap();
        for _ in 0..250.min(conversations - c) {
            let (number_id, connector_id, whatsapp) = &numbers[c % numbers.len()];
            let id = switchboard::new_id();
            let phone = format!("{country}{:07}", c);
            let guest = if *whatsapp { format!("whatsapp:{phone}") } else { phone.clone() };
            // Activity spread over the last `days` days; a fifth of the conversations ended.
            let last = now - (c as i64 * 241_903) % (days * DAY_MS);
            let state_ = if c % 5 == 0 { "ended" } else { "live" };
            sqlx::query(
                "INSERT INTO conversations (id, number_id, guest_address, guest_name, agent_id, last_inbound_at, \
                 last_activity_at, created_at, state, out_seq) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, 10)",
            )
            .bind(&id)
            .bind(number_id)
            .bind(&guest)
            .bind(format!("Guest {c}"))
            .bind(agent_id)
            .bind(last)
            .bind(last - 3_600_000)
            .bind(state_)
            .execute(&mut *tx)
            .await
            .unwrap();
            for m in 0..PER_CONVERSATION {
                let inbound = m % 2 == 0;
                let body = if inbound {
                    format!("Question {m} about the {} from guest {c}", words[(c + m) % words.len()])
                } else {
                    format!("Answer {m}: the {} is available.", words[(c + m) % words.len()])
                };
                let at = last - (PER_CONVERSATION - m) as i64 * 60_000;
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, connector_id, direction, body, twilio_sid, status, \
                     status_rank, answered, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)",
                )
                .bind(switchboard::new_id())
                .bind(&id)
                .bind(connector_id)
                .bind(if inbound { "inbound" } else { "outbound" })
                .bind(body)
                .bind(format!("SM{}", switchboard::new_id()))
                .bind(if inbound { "received" } else { "read" })
                .bind(if inbound { 0 } else { 6 })
                .bind(at)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            c += 1;
        }
        tx.commit().await.unwrap();
    }
}

/// The conversations of the second, small organization.
const SMALL: usize = 50;

/// The conversations of the third organization, a shop.
const QUIET: usize = 5_000;

/// The conversations of the fourth organization, a hotel group in London, whose guests' numbers
/// begin [`LONDON`] (the others', +1555): more than a search walks for (`Tuning::guest_walk_from`).
const GROUP: usize = 12_000;

/// The start of the hotel group's guests' numbers: a number no message's words begin either (a
/// search also reads the messages, whose words include their guest's number in the list, "guest
/// 4321": below 4,420,795 up to 88 million messages).
const LONDON: &str = "+4420795";

/// Another organization (`<name>@example.com`, lower-cased), with `conversations` of its own spread
/// over the same days as the first's, its guests' messages each holding one of `words`, their
/// numbers beginning with `country`, seeded once (a run that reuses the database finds it: then
/// `false`).
async fn organization(
    state: &AppState,
    account: &SeedAccount,
    name: &str,
    conversations: usize,
    words: &[&str],
    country: &str,
) -> (Me, bool) {
    let email = format!("{}@example.com", name.to_lowercase());
    let password = format!("{} password", name.to_lowercase());
    if let Ok(me) = state.authenticate(email.clone(), password.clone(), None).await {
        return (me, false);
    }
    let me = switchboard::accounts::create_organization(&state.db, name, &email, password).await.unwrap();
    let connector = state
        .create_connector(&me, ConnectorInput::new(name, account.sid.clone(), account.auth_token.clone()))
        .await
        .unwrap();
    let rows = state.list_numbers(&me, &connector.id).await.unwrap();
    state.save_numbers(&me, &connector.id, rows.iter().map(|r| r.id.clone()).collect(), false).await.unwrap();
    let agent = state
        .create_agent(&me, AgentInput { name: name.into(), fallback_reply: "Thanks!".into(), ..Default::default() })
        .await
        .unwrap();
    state.add_channel(&me, &agent.id, &rows[0].id).await.unwrap();
    let (before,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM conversations").fetch_one(&state.db.pool).await.unwrap();
    let numbers = [(rows[0].id.clone(), connector.id.clone(), true)];
    seed(state, &agent.id, &numbers, conversations, days(before as usize * PER_CONVERSATION), words, country).await;
    (me, true)
}

/// The third organization (`quiet@example.com`): a shop with [`QUIET`] conversations, one of whose
/// messages, halfway down its list, asks about towels, which the first's messages hold in one of
/// eight (the first's search for them walks from 80,000 messages on, `Tuning::search_walk_from`).
async fn quiet_organization(state: &AppState, account: &SeedAccount) -> Me {
    let (me, created) = organization(state, account, "Quiet", QUIET, &SHOP, "+1555").await;
    if !created {
        return me;
    }
    sqlx::query(
        "UPDATE messages SET body = 'Do you sell towels too?' WHERE id = (SELECT m.id FROM messages m \
         JOIN conversations cv ON cv.id = m.conversation_id WHERE cv.org_id = $1 AND cv.guest_name = $2 \
         AND m.direction = 'inbound' AND m.body NOT LIKE '%towels%' ORDER BY m.created_at LIMIT 1)",
    )
    .bind(&me.org_id)
    .bind(format!("Guest {}", QUIET / 2))
    .execute(&state.db.pool)
    .await
    .unwrap();
    me
}

/// The process's resident memory, in kB (Linux).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn row(label: &str, figures: (f64, f64)) {
    println!("| {label} | {:.1} ms | {:.1} ms |", figures.0, figures.1);
}

#[tokio::main]
async fn main() {
    let account = SeedAccount {
        sid: "AC0123456789abcdef0123456789abcdef".into(),
        auth_token: "0123456789abcdef0123456789abcdef".into(),
        friendly_name: "Bench".into(),
        kind: "Full".into(),
        numbers: vec![number("+14155550100", true, false), number("+14155550199", false, true)],
        templates: vec![],
        services: vec![],
        sandbox_keyword: None,
    };
    // The other organizations' Twilio accounts, each with a WhatsApp number: a small hotel, a shop
    // and a hotel group on the same instance.
    let other = |n: u8, name: &str| SeedAccount {
        sid: format!("AC{n:032}"),
        auth_token: format!("{n:032}"),
        friendly_name: name.into(),
        numbers: vec![number(&format!("+141555504{n:02}"), true, false)],
        ..account.clone()
    };
    let (small_account, quiet_account, group_account) = (other(2, "Small"), other(3, "Quiet"), other(4, "Group"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let accounts = vec![account.clone(), small_account.clone(), quiet_account.clone(), group_account.clone()];
    let sim = twilio_sim::start(listener, Seed { accounts }, Options::default(), None).await.unwrap();
    let data = std::env::temp_dir().join(format!("switchboard-inbox-bench-{}", switchboard::new_id()));
    let mut config = Config::for_data_dir(data.clone());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty());
    config.twilio_api_base = sim.url();
    config.twilio_messaging_base = sim.url();
    config.twilio_content_base = sim.url();
    config.setup_token = Some(switchboard::crypto::Secret::new(BENCH_SETUP_TOKEN));
    let backend = if config.database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    if backend == "PostgreSQL" {
        // One master key for every run on PostgreSQL, whose database outlives the run's folder: a
        // later run (`BENCH_REUSE`) opens the connector's sealed Auth Token with it.
        config.master_key = Some(switchboard::crypto::Secret::new(BENCH_MASTER_KEY));
    }
    let app = Application::build(config).await.unwrap();
    let state = app.state().clone();
    let reuse = std::env::var_os("BENCH_REUSE").is_some() && backend == "PostgreSQL";
    if reuse {
        let me = state.authenticate("bench@example.com".into(), "bench password".into(), None).await.unwrap();
        let agent = state.list_agents(&me).await.unwrap().into_iter().find(|a| a.name == "bench").unwrap();
        let (messages,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&state.db.pool).await.unwrap();
        println!(
            "Inbox benchmark (PostgreSQL, {} cores), on the database an earlier run seeded: {messages} messages \
             (before the shop's, if this run seeds them)\n",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
        let small = organization(&state, &small_account, "Small", SMALL, &HOTEL, "+1555").await.0;
        let quiet = quiet_organization(&state, &quiet_account).await;
        let group = organization(&state, &group_account, "Group", GROUP, &HOTEL, LONDON).await.0;
        switchboard::inbox::lifecycle::fold_totals(&state).await.unwrap();
        // The statistics of the organizations this run seeded (autovacuum would not analyze for
        // fewer than a tenth of the table).
        sqlx::query("ANALYZE conversations").execute(&state.db.pool).await.unwrap();
        views(app, state, me, [small, quiet, group], agent.id, messages, false).await;
        let _ = std::fs::remove_dir_all(&data);
        return;
    }
    let me: Me = state
        .setup(BENCH_SETUP_TOKEN.into(), "Bench".into(), "bench@example.com".into(), "bench password".into())
        .await
        .unwrap();
    let connector = state
        .create_connector(&me, ConnectorInput::new("Bench", account.sid.clone(), account.auth_token.clone()))
        .await
        .unwrap();
    let rows = state.list_numbers(&me, &connector.id).await.unwrap();
    state.save_numbers(&me, &connector.id, rows.iter().map(|r| r.id.clone()).collect(), false).await.unwrap();
    let agent = state
        .create_agent(&me, AgentInput { name: "bench".into(), fallback_reply: "Thanks!".into(), ..Default::default() })
        .await
        .unwrap();
    let mut numbers = Vec::new();
    for r in &rows {
        state.add_channel(&me, &agent.id, &r.id).await.unwrap();
        numbers.push((r.id.clone(), connector.id.clone(), r.provider == Provider::WhatsApp));
    }

    let wanted = messages();
    let (conversations, days) = (wanted / PER_CONVERSATION, days(wanted));
    let seeding = Instant::now();
    seed(&state, &agent.id, &numbers, conversations, days, &HOTEL, "+1555").await;
    let small = organization(&state, &small_account, "Small", SMALL, &HOTEL, "+1555").await.0;
    let quiet = quiet_organization(&state, &quiet_account).await;
    // `BENCH_GROUP_UNANALYZED=1`: the hotel group moves in after the statistics were taken (as an
    // import does, before PostgreSQL's autovacuum analyzes the table again).
    let late_group = std::env::var_os("BENCH_GROUP_UNANALYZED").is_some();
    let mut group = None;
    if !late_group {
        group = Some(organization(&state, &group_account, "Group", GROUP, &HOTEL, LONDON).await.0);
    }
    let written = seeding.elapsed().as_secs_f64();
    // The text goes into the search index after the writes, in batches (SQLite), as the indexer does.
    let indexing = Instant::now();
    let indexed = switchboard::inbox::search::index_queued(&state.db).await.unwrap();
    let indexing = indexing.elapsed().as_secs_f64();
    // And the indexer merges the index's segments, as it has long done when a history grew this big.
    let merging = Instant::now();
    let merges = switchboard::inbox::search::merge(&state.db, Duration::MAX).await.unwrap();
    let merging = merging.elapsed().as_secs_f64();
    // The agent's conversation total, a row per conversation the seed wrote, folded into one as the
    // lifecycle worker does every few seconds.
    switchboard::inbox::lifecycle::fold_totals(&state).await.unwrap();
    let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&state.db.pool).await.unwrap();
    // Both databases plan from their statistics: a running PostgreSQL's autovacuum gathers them
    // soon after a load like the seed's, as SQLite's ANALYZE does here.
    sqlx::query("ANALYZE").execute(&state.db.pool).await.unwrap();
    if backend == "SQLite" {
        // The seed's writes are in the write-ahead log: move them into the database file first, as
        // a running instance's checkpoints have done long before its data grew this large (a
        // checkpoint copying gigabytes during the timed views made scans several times slower).
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&state.db.pool).await.unwrap();
    }
    let (group, messages) = match group {
        Some(group) => (group, messages),
        None => {
            if backend == "PostgreSQL" {
                // Nor does autovacuum analyze the table while the views are timed.
                sqlx::query("ALTER TABLE conversations SET (autovacuum_analyze_threshold = 2000000000)")
                    .execute(&state.db.pool)
                    .await
                    .unwrap();
            }
            let group = organization(&state, &group_account, "Group", GROUP, &HOTEL, LONDON).await.0;
            switchboard::inbox::search::index_queued(&state.db).await.unwrap();
            switchboard::inbox::search::merge(&state.db, Duration::MAX).await.unwrap();
            switchboard::inbox::lifecycle::fold_totals(&state).await.unwrap();
            println!("The hotel group's {GROUP} conversations were written after the statistics were taken.");
            let (messages,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&state.db.pool).await.unwrap();
            (group, messages)
        }
    };
    println!(
        "Inbox benchmark ({backend}, {} cores): {messages} messages, the first organization's {wanted} in \
         {conversations} conversations over {days} days (a small one's {SMALL}, a shop's {QUIET} and a hotel \
         group's {GROUP} conversations beside them), \
         written in {written:.1} s, {indexed} messages and guests indexed for search afterwards in {indexing:.1} s, \
         their segments merged in {merges} steps and {merging:.1} s\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    views(app, state, me, [small, quiet, group], agent.id, messages, true).await;
    if std::env::var_os("BENCH_KEEP").is_some() {
        // To read a plan on the same data afterwards (`sqlite3 <folder>/switchboard.db`).
        println!("\nthe database is kept in {}", data.display());
    } else {
        let _ = std::fs::remove_dir_all(&data);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Times each view on the seeded database, then (`export`) streams the export of everything.
async fn views(
    app: Application,
    state: AppState,
    me: Me,
    [small, quiet, group]: [Me; 3],
    agent_id: String,
    messages: i64,
    export: bool,
) {
    println!("| view (as the server function runs it) | median | slowest of 20 |");
    println!("|---|---|---|");
    let runs = 20;
    let inbox = |filter: InboxFilter| {
        let state = state.clone();
        let me = me.clone();
        move || {
            let state = state.clone();
            let me = me.clone();
            let filter = filter.clone();
            async move { state.inbox(&me, filter).await.unwrap() }
        }
    };
    row("organization inbox, first page (25 rows)", time(runs, inbox(InboxFilter::default())).await).await;
    row(
        "the agent's Conversations tab, first page",
        time(runs, inbox(InboxFilter { agent_id: Some(agent_id.clone()), ..Default::default() })).await,
    )
    .await;
    // Page 100, reached by following each page's place in the list (untimed), then timed.
    let mut deep = InboxFilter::default();
    for _ in 0..99 {
        deep.after = state.inbox(&me, deep.clone()).await.unwrap().older;
    }
    row("page 100 (rows 2,476–2,500)", time(runs, inbox(deep)).await).await;
    row(
        "filtered: SMS only",
        time(runs, inbox(InboxFilter { provider: Some(Provider::Sms), ..Default::default() })).await,
    )
    .await;
    row(
        "filtered: ended",
        time(runs, inbox(InboxFilter { state: Some(ConversationState::Ended), ..Default::default() })).await,
    )
    .await;
    row(
        "search by number (+15550004321)",
        time(runs, inbox(InboxFilter { q: "+15550004321".into(), ..Default::default() })).await,
    )
    .await;
    row(
        "search for the start every guest's number shares (+1555)",
        time(runs, inbox(InboxFilter { q: "+1555".into(), ..Default::default() })).await,
    )
    .await;
    row(
        &format!("search in the text of {messages} messages (\"guest 4321\")"),
        time(runs, inbox(InboxFilter { q: "guest 4321".into(), ..Default::default() })).await,
    )
    .await;
    row(
        "search for a word one message in eight holds (\"towels\")",
        time(runs, inbox(InboxFilter { q: "towels".into(), ..Default::default() })).await,
    )
    .await;
    // Another organization's view under `filter`, as its admin sees it.
    let inbox_of = |who: &Me, filter: InboxFilter| {
        let state = state.clone();
        let who = who.clone();
        move || {
            let state = state.clone();
            let who = who.clone();
            let filter = filter.clone();
            async move { state.inbox(&who, filter).await.unwrap() }
        }
    };
    // The small organization's views: its own few conversations, among the other's many.
    let small_inbox = |filter: InboxFilter| inbox_of(&small, filter);
    row(
        &format!("a second organization's inbox ({SMALL} conversations), first page"),
        time(runs, small_inbox(InboxFilter::default())).await,
    )
    .await;
    row(
        "its search for \"towels\"",
        time(runs, small_inbox(InboxFilter { q: "towels".into(), ..Default::default() })).await,
    )
    .await;
    row(
        "its search for \"+1555\"",
        time(runs, small_inbox(InboxFilter { q: "+1555".into(), ..Default::default() })).await,
    )
    .await;
    // The shop's: a word its messages hold once and the first organization's in one of eight.
    let found = state.inbox(&quiet, InboxFilter { q: "towels".into(), ..Default::default() }).await.unwrap();
    assert_eq!(found.rows.len(), 1, "the shop's one conversation about towels");
    row(
        &format!(
            "a third organization's ({QUIET} conversations) search for a word one of its messages holds (\"towels\")"
        ),
        time(runs, inbox_of(&quiet, InboxFilter { q: "towels".into(), ..Default::default() })).await,
    )
    .await;
    // The hotel group's guests' numbers begin with LONDON, and none of the first organization's do:
    // each finds its own.
    let london = || InboxFilter { q: LONDON.into(), ..Default::default() };
    assert!(state.inbox(&me, london()).await.unwrap().rows.is_empty(), "none of the first's guests");
    assert_eq!(state.inbox(&group, london()).await.unwrap().rows.len(), 25, "a page of the group's");
    row(
        &format!("the first organization's search for the start of a fourth's {GROUP} guests' numbers ({LONDON})"),
        time(runs, inbox(london())).await,
    )
    .await;
    row("the fourth's search for it", time(runs, inbox_of(&group, london())).await).await;
    row("the fourth's inbox, first page", time(runs, inbox_of(&group, InboxFilter::default())).await).await;
    let first = state.inbox(&me, InboxFilter::default()).await.unwrap().rows[0].id.clone();
    row(
        "one conversation's page (20 messages)",
        time(runs, || {
            let state = state.clone();
            let me = me.clone();
            let id = first.clone();
            async move { state.conversation(&me, &id).await.unwrap() }
        })
        .await,
    )
    .await;
    // A running instance's lifecycle sweep drops, every minute, the live counts of the days before
    // the dashboard's window; the seed wrote a year of them at once.
    switchboard::dashboard::prune_live(&state).await.unwrap();
    let dashboard = || {
        let state = state.clone();
        let me = me.clone();
        async move { state.dashboard(&me).await.unwrap() }
    };
    // The first view keeps the days that are over (all twelve of them: no one has looked yet).
    row("the dashboard's first view (keeps the 12 days that are over)", time(1, dashboard).await).await;
    row("the dashboard (14 days)", time(runs, dashboard).await).await;
    let ended = time(3, || {
        let state = state.clone();
        async move { switchboard::inbox::lifecycle::end_idle(&state).await.unwrap() }
    })
    .await;
    row("the lifecycle sweep (ending idle conversations)", ended).await;

    let port = app.port();
    tokio::spawn(app.run_until(std::future::pending()));
    let url = format!("http://127.0.0.1:{port}");
    // The REST API's list of the agent's conversations (50 a page, with their messages, as JSON),
    // its first page and its hundredth (reached by following the `Link` header), over HTTP.
    let token = state.create_token(&me, "bench").await.unwrap().token;
    let api = reqwest::Client::new();
    let get = |url: String| {
        let (api, token) = (api.clone(), token.clone());
        async move {
            let response = api.get(url).bearer_auth(token).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let next = response.headers().get("link").map(|l| l.to_str().unwrap().to_string());
            response.bytes().await.unwrap();
            next
        }
    };
    let first = format!("{url}/api/agents/bench/conversations?limit=50");
    row(
        "REST: the agent's conversations, first page (50, with their messages)",
        time(runs, || get(first.clone())).await,
    )
    .await;
    let mut page = first;
    for _ in 1..100 {
        let link = get(page.clone()).await.expect("a next page");
        let path = link.trim_start_matches('<').split('>').next().unwrap().to_string();
        page = format!("{url}{path}");
    }
    row("REST: the same, page 100 (by its cursor)", time(runs, || get(page.clone())).await).await;

    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = client
        .post(format!("{url}/ui/login"))
        .header("Accept", "application/json")
        .form(&[("email", "bench@example.com"), ("password", "bench password")])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success());
    if !export {
        return;
    }
    // An export of every conversation with every message (JSON), streamed over HTTP as a browser
    // downloads it: how much the process's memory grows while it streams.
    let before = rss_kb();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    // As the inbox page's link asks for it.
    let mut response = client
        .get(format!("{url}/export/conversations.json"))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (mut bytes, mut marks) = (0usize, Vec::new());
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        // The memory as the download goes (at 25 MB, 50, 100, 200 and so on): flat once the caches
        // are warm, if nothing grows with it.
        if bytes >= 25_000_000 << marks.len() {
            marks.push(format!("{:.0} MB at {} MB", rss_kb() as f64 / 1024.0, bytes / 1_000_000));
        }
    }
    let took = started.elapsed().as_secs_f64();
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "\nexport of every conversation as JSON ({messages} messages, {:.1} MB) streamed in {took:.1} s; the \
         process's memory {:.1} MB before, {:.1} MB at its highest while streaming (+{:.1} MB)",
        bytes as f64 / 1e6,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak.saturating_sub(before)) as f64 / 1024.0,
    );
    println!("the process's memory as the download went: {}", marks.join(", "));
}
