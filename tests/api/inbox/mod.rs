//! The inbox: filters, search and pages; a conversation's history, ticks and execution records;
//! human takeover; the lifecycle; live updates over server-sent events; exports. The searches are in
//! [`search`], the dashboard's counts in [`dashboard`].

mod dashboard;
mod search;

use std::time::Duration;

use crate::common::{eventually, spawn_app, TestApp};
use app::{
    accounts::{api::AddUser, Role},
    agents::api::{AddChannel, ListTemplates},
    connectors::{
        api::{ListConnectors, ListNumbers, SaveNumbers, SetWebhook},
        Provider,
    },
    inbox::{
        api::{
            EndConversation, GetConversation, GetExecution, GetInactivity, GetInbox, SetInactivity, SetPaused,
            StaffReply,
        },
        ConversationState, Direction, InboxFilter,
    },
};
use twilio_sim::Inbound;

fn guest(i: usize) -> String {
    format!("whatsapp:+1555000{i:04}")
}

async fn write(app: &TestApp, from: &str, to: &str, body: &str, name: &str) {
    app.sim
        .sim
        .guest_message(Inbound {
            to: to.into(),
            from: from.into(),
            body: body.into(),
            profile_name: Some(name.into()),
            media: vec![],
            ..Default::default()
        })
        .await
        .unwrap();
}

/// The guest writes to the WhatsApp number and waits for as many replies as `replies`.
async fn say(app: &TestApp, from: &str, body: &str, replies: usize) {
    write(app, from, "whatsapp:+14155550100", body, "Guest").await;
    eventually("the reply", || async { (app.replies_to(from).len() >= replies).then_some(()) }).await;
}

/// The admin adds owner@example.com as an agent owner, on the Users page.
pub(crate) async fn add_owner(app: &TestApp, admin: &reqwest::Client) {
    let form = AddUser {
        email: "owner@example.com".into(),
        role: Role::AgentOwner.as_str().into(),
        password: "correct horse battery".into(),
    };
    app.ui(admin, form).await.unwrap();
}

#[tokio::test]
async fn the_inbox_filters_searches_and_pages() {
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    // The SMS number answers for the same agent.
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let sms = TestApp::number(&rows, "+14155550199", false).id.clone();
    let whatsapp = TestApp::number(&rows, "+14155550100", true).id.clone();
    let other = TestApp::number(&rows, "+14155550101", true).id.clone();
    let active = vec![whatsapp, sms.clone(), other.clone()];
    app.ui(&admin, SaveNumbers { connector_id: connector.clone(), active, unbind: false }).await.unwrap();
    for number_id in [&other, &sms] {
        app.ui(&admin, SetWebhook { connector_id: connector.clone(), number_id: number_id.clone() }).await.unwrap();
    }
    app.ui(&admin, AddChannel { agent_id: agent.clone(), number_id: sms }).await.unwrap();

    for i in 0..27 {
        let body = if i == 7 { "Is the sauna open on Sundays?" } else { "When is breakfast?" };
        write(&app, &guest(i), "whatsapp:+14155550100", body, &format!("Guest {i}")).await;
    }
    write(&app, "+15559990001", "+14155550199", "Late checkout please", "").await;
    eventually("every reply", || async {
        let sent = app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api").count();
        (sent == 28).then_some(())
    })
    .await;

    let first = app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap();
    assert_eq!(first.rows.len(), 25);
    assert!(first.older.is_some() && first.newer.is_none());
    assert_eq!(first.numbers, vec!["+14155550100", "+14155550101", "+14155550199"]);
    let second = app
        .ui(&admin, GetInbox { filter: InboxFilter { after: first.older.clone(), ..Default::default() } })
        .await
        .unwrap();
    assert_eq!(second.rows.len(), 3);
    assert!(second.older.is_none() && second.newer.is_some());
    let mut all: Vec<String> = first.rows.iter().chain(&second.rows).map(|r| r.id.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 28, "every conversation once across the pages");
    // Newest activity first; the last message is the agent's reply, the window open.
    assert!(first.rows.windows(2).all(|w| w[0].last_at_ms >= w[1].last_at_ms));
    let row = &first.rows[0];
    assert!(!row.last_from_guest && row.window_open && row.state == ConversationState::Live);
    assert_eq!(row.agent_name.as_deref(), Some("concierge"));

    let sms_only = app
        .ui(&admin, GetInbox { filter: InboxFilter { provider: Some(Provider::Sms), ..Default::default() } })
        .await
        .unwrap();
    assert_eq!(sms_only.rows.len(), 1);
    assert_eq!((sms_only.rows[0].guest.as_str(), sms_only.rows[0].number.as_str()), ("+15559990001", "+14155550199"));
    let by_number = app
        .ui(&admin, GetInbox { filter: InboxFilter { number: Some("+14155550199".into()), ..Default::default() } })
        .await
        .unwrap();
    assert_eq!(by_number.rows.len(), 1);
    let whatsapp_page = app
        .ui(&admin, GetInbox { filter: InboxFilter { provider: Some(Provider::WhatsApp), ..Default::default() } })
        .await
        .unwrap();
    assert_eq!((whatsapp_page.rows.len(), whatsapp_page.older.is_some()), (25, true));
    let search = |q: &str| {
        let (app, admin) = (&app, &admin);
        let q = q.to_string();
        async move { app.ui(admin, GetInbox { filter: InboxFilter { q, ..Default::default() } }).await.unwrap().rows }
    };
    let sauna = search("SAUNA").await;
    assert_eq!(sauna.len(), 1, "text, case-insensitive");
    assert_eq!(sauna[0].guest_name.as_deref(), Some("Guest 7"));
    assert_eq!(search("Guest 12").await.len(), 1, "by name");
    assert_eq!(search("+15550000013").await.len(), 1, "by number");
    assert!(search("100%_").await.is_empty(), "LIKE wildcards are taken literally");
    let ended = app
        .ui(&admin, GetInbox { filter: InboxFilter { state: Some(ConversationState::Ended), ..Default::default() } })
        .await
        .unwrap();
    assert!(ended.rows.is_empty());

    // An agent owner sees only their agents' conversations, with guests' numbers masked.
    add_owner(&app, &admin).await;
    let owner = app.browser("owner@example.com").await;
    assert!(app.ui(&owner, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows.is_empty());
    assert!(app
        .ui(&owner, GetInbox { filter: InboxFilter { agent_id: Some(agent.clone()), ..Default::default() } })
        .await
        .is_err());
    let theirs = app.ui(&owner, TestApp::agent_form("owners-bot", "Soon.")).await.unwrap();
    app.ui(&owner, AddChannel { agent_id: theirs.id, number_id: other }).await.unwrap();
    write(&app, "whatsapp:+15559990002", "whatsapp:+14155550101", "Hello", "").await;
    let mine = eventually("the owner's conversation", || async {
        let rows = app.ui(&owner, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows;
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].guest, "whatsapp:…002");
}

#[tokio::test]
async fn a_conversation_shows_ticks_and_the_execution_record_of_each_reply() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, &guest(1), "When is breakfast?", 1).await;
    let id = app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows[0].id.clone();
    let c = eventually("the reply is read", || async {
        let c = app.ui(&admin, GetConversation { id: id.clone() }).await.unwrap();
        (c.messages.last().map(|m| m.status.as_str()) == Some("read")).then_some(c)
    })
    .await;
    assert_eq!(c.messages.len(), 2);
    let (question, answer) = (&c.messages[0], &c.messages[1]);
    assert_eq!((question.direction, question.who()), (Direction::Inbound, "Guest"));
    assert_eq!((answer.who(), answer.tick(), answer.body.as_str()), ("Agent", "✓✓", "Breakfast is from 7 to 10."));
    assert!(answer.twilio_sid.as_deref().is_some_and(|s| s.starts_with("SM")));

    let record =
        app.ui(&admin, GetExecution { id: answer.execution_id.as_deref().unwrap().to_string() }).await.unwrap();
    assert_eq!(record.brain, "Built-in FAQ");
    assert_eq!(record.output.as_deref(), Some("Breakfast is from 7 to 10."));
    assert!(record.error.is_none());
    let input: serde_json::Value = serde_json::from_str(&record.input).unwrap();
    assert_eq!(input["messages"], serde_json::json!(["When is breakfast?"]));
    assert_eq!(input["guest"], "whatsapp:…001", "the guest's number is masked in the record");
    assert_eq!(record.sends.len(), 1);
    assert_eq!((record.sends[0].attempts, record.sends[0].twilio_sid.clone()), (1, answer.twilio_sid.clone()));

    // A failed delivery says what Twilio's code means.
    app.sim.sim.set_faults(twilio_sim::Faults {
        final_status: Some("undelivered".into()),
        error_code: Some(63024),
        ..Default::default()
    });
    say(&app, &guest(1), "When is breakfast?", 2).await;
    let failed = eventually("the failure arrives", || async {
        let c = app.ui(&admin, GetConversation { id: id.clone() }).await.unwrap();
        c.messages.last().filter(|m| m.status == "undelivered").cloned()
    })
    .await;
    assert_eq!(failed.tick(), "⚠");
    assert!(failed.error.unwrap().contains("63024"));
}

#[tokio::test]
async fn staff_take_over_reply_under_the_window_rule_and_hand_back() {
    let app = spawn_app().await;
    let (_, connector, _, _) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let reply = |body: &str| StaffReply {
        id: String::new(),
        body: body.into(),
        template_sid: String::new(),
        variables: String::new(),
    };
    let ana = guest(2);
    say(&app, &ana, "When is breakfast?", 1).await;
    let id = app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows[0].id.clone();

    let c = app.ui(&admin, SetPaused { id: id.clone(), paused: true }).await.unwrap();
    assert_eq!(c.paused_by.as_deref(), Some("admin@example.com"));
    assert!(app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows[0].paused);
    write(&app, &ana, "whatsapp:+14155550100", "Can I talk to a person?", "Ana").await;
    eventually("the turn passes", || async {
        let (answered,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND answered = 1")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        (answered == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.replies_to(&ana).len(), 1, "the agent stays silent while staff have it");

    let empty = app.ui(&admin, StaffReply { id: id.clone(), ..reply("  ") }).await.unwrap_err();
    assert!(matches!(empty, app::AppError::Invalid { ref field, .. } if field == "body"));
    app.ui(&admin, StaffReply { id: id.clone(), ..reply("Hello Ana, this is Marta from reception.") }).await.unwrap();
    eventually("the staff reply arrives", || async {
        app.replies_to(&ana).last().filter(|m| m.body.starts_with("Hello Ana")).map(|_| ())
    })
    .await;
    let c = app.ui(&admin, GetConversation { id: id.clone() }).await.unwrap();
    let staff = c.messages.iter().find(|m| m.who() == "Staff").unwrap();
    assert_eq!(staff.note.as_deref(), Some("Sent by admin@example.com."));

    // Outside the window only a template may go, and it does.
    sqlx::query("UPDATE conversations SET last_inbound_at = $1")
        .bind(switchboard::now_ms() - 25 * 3600 * 1000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let refused = app.ui(&admin, StaffReply { id: id.clone(), ..reply("Are you still there?") }).await.unwrap_err();
    assert!(matches!(refused, app::AppError::OutsideWindow(_)), "{refused:?}");
    let templates = app.ui(&admin, ListTemplates { connector_id: connector }).await.unwrap();
    let template = StaffReply {
        id: id.clone(),
        template_sid: templates[0].sid.clone(),
        variables: r#"{"1": "Ana"}"#.into(),
        ..reply("")
    };
    app.ui(&admin, template).await.unwrap();
    eventually("the template arrives", || async {
        app.replies_to(&ana).last().filter(|m| m.body == "Hello Ana, we have news for you.").map(|_| ())
    })
    .await;

    // Handed back: the agent answers again.
    let c = app.ui(&admin, SetPaused { id: id.clone(), paused: false }).await.unwrap();
    assert!(c.paused_by.is_none());
    say(&app, &ana, "When is breakfast?", 4).await;
    assert_eq!(app.replies_to(&ana).last().unwrap().body, "Breakfast is from 7 to 10.");
}

#[tokio::test]
async fn a_quiet_conversation_ends_and_a_new_message_opens_it_again() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    // The form takes minutes (a second is 1/60 of one); the conversation ends after seconds.
    let inactivity = |minutes: &str| SetInactivity { agent_id: agent.clone(), minutes: minutes.into() };
    assert_eq!(app.ui(&admin, GetInactivity { agent_id: agent.clone() }).await.unwrap(), 600, "ten minutes by default");
    assert!(matches!(app.ui(&admin, inactivity("0.0167")).await, Err(app::AppError::Invalid { .. })), "one second");
    assert!(
        matches!(app.ui(&admin, inactivity("ten")).await, Err(app::AppError::Invalid { field, .. }) if field == "minutes")
    );
    assert_eq!(app.ui(&admin, inactivity("0.0833")).await.unwrap(), 5, "five seconds");
    let ana = guest(3);
    say(&app, &ana, "When is breakfast?", 1).await;
    let id = app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows[0].id.clone();
    assert_eq!(app.ui(&admin, GetConversation { id: id.clone() }).await.unwrap().state, ConversationState::Live);
    // Five quiet seconds later (the sweep runs every 200 ms in tests), it has ended.
    let ended = eventually("the conversation ends", || async {
        let c = app.ui(&admin, GetConversation { id: id.clone() }).await.unwrap();
        (c.state == ConversationState::Ended).then_some(c)
    })
    .await;
    assert!(ended.ended_at_ms.is_some());
    let list = app
        .ui(&admin, GetInbox { filter: InboxFilter { state: Some(ConversationState::Ended), ..Default::default() } })
        .await;
    assert_eq!(list.unwrap().rows.len(), 1);

    say(&app, &ana, "One more thing", 2).await;
    assert_eq!(app.ui(&admin, GetConversation { id: id.clone() }).await.unwrap().state, ConversationState::Live);
    app.ui(&admin, inactivity("10")).await.unwrap();
    // Ended by hand.
    let c = app.ui(&admin, EndConversation { id: id.clone() }).await.unwrap();
    assert_eq!(c.state, ConversationState::Ended);
    assert!(matches!(app.ui(&admin, EndConversation { id: id.clone() }).await, Err(app::AppError::Conflict(_))));
}

/// Reads server-sent events until one named `changed` carries `id`.
async fn wait_for_event(response: &mut reqwest::Response, id: &str) -> bool {
    read_events_until(response, id).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_reach_the_signed_in_users_who_may_see_them() {
    let app = spawn_app().await;
    app.ready_path().await;
    assert_eq!(reqwest::get(format!("{}/events", app.url)).await.unwrap().status(), 401);
    let admin = app.browser("admin@example.com").await;
    add_owner(&app, &admin).await;
    let owner = app.browser("owner@example.com").await;
    let mut admin_events = admin.get(format!("{}/events", app.url)).send().await.unwrap();
    assert_eq!(admin_events.headers()["content-type"], "text/event-stream");
    let mut owner_events = owner.get(format!("{}/events", app.url)).send().await.unwrap();

    write(&app, &guest(4), "whatsapp:+14155550100", "When is breakfast?", "Ana").await;
    let id = eventually("the conversation", || async {
        app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows.first().map(|r| r.id.clone())
    })
    .await;
    assert!(wait_for_event(&mut admin_events, &id).await, "the admin hears of the new message");
    // Later changes come as further events (changes within a quarter of a second come as one).
    eventually("read", || async { app.replies_to(&guest(4)).pop().filter(|m| m.status == "read") }).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.ui(&admin, EndConversation { id: id.clone() }).await.unwrap();
    assert!(wait_for_event(&mut admin_events, &id).await, "the admin hears the conversation ended");
    // The owner does not own this agent: nothing about it reaches them. Their own agent's
    // conversation does (the positive control), and nothing about the other came before it.
    let spa = app.ui(&owner, TestApp::agent_form("spa", "We will call you.")).await.unwrap();
    let connector = app.ui(&admin, ListConnectors {}).await.unwrap().remove(0).id;
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let numbers: Vec<String> =
        ["+14155550100", "+14155550101"].iter().map(|n| TestApp::number(&rows, n, true).id.clone()).collect();
    let save = SaveNumbers { connector_id: connector.clone(), active: numbers.clone(), unbind: false };
    app.ui(&admin, save).await.unwrap();
    app.ui(&admin, SetWebhook { connector_id: connector, number_id: numbers[1].clone() }).await.unwrap();
    app.ui(&owner, AddChannel { agent_id: spa.id, number_id: numbers[1].clone() }).await.unwrap();
    write(&app, &guest(7), "whatsapp:+14155550101", "Is the sauna open?", "Bo").await;
    let theirs = eventually("the owner's conversation", || async {
        let rows = app.ui(&owner, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows;
        rows.first().map(|r| r.id.clone())
    })
    .await;
    let (heard, text) = read_events_until(&mut owner_events, &theirs).await;
    assert!(heard, "the owner hears of their own agent's conversation: {text:?}");
    assert!(!text.contains(&id), "no event for a conversation the owner may not see: {text:?}");
}

/// Reads server-sent events until one named `changed` carries `id`; says whether it came, and
/// everything read.
async fn read_events_until(response: &mut reqwest::Response, id: &str) -> (bool, String) {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.split("\n\n").any(|e| e.contains("event: changed") && e.contains(id)) {
            return (true, text);
        }
    }
    (false, text)
}

#[tokio::test]
async fn exports_give_a_conversation_or_a_filtered_list_as_json_and_csv() {
    let app = spawn_app().await;
    app.ready_path().await;
    say(&app, &guest(5), "When is breakfast?", 1).await;
    say(&app, &guest(6), "=cmd|' /C calc'!A0", 1).await;
    let browser = app.browser("admin@example.com").await;
    let rows = app.ui(&browser, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows;
    let get = |path: String| {
        let (app, browser) = (&app, &browser);
        async move { app.export(browser, &path).await }
    };

    assert_eq!(reqwest::get(format!("{}/export/conversations.csv", app.url)).await.unwrap().status(), 401);
    let csv = get("/export/conversations.csv".into()).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("conversations.csv"));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("\"conversation_id\",\"agent\",\"guest\""), "{}", lines[0]);
    assert!(csv.contains("whatsapp:+15550000005") && csv.contains("Breakfast is from 7 to 10."));

    let filtered: serde_json::Value =
        get("/export/conversations.json?q=breakfast&state=live".to_string()).await.json().await.unwrap();
    let list = filtered.as_array().unwrap();
    assert_eq!(list.len(), 1, "the filter applies");
    assert_eq!(list[0]["messages"].as_array().unwrap().len(), 2);

    let hostile = rows.iter().find(|r| r.guest.ends_with("0006")).unwrap();
    let one = get(format!("/export/conversations/{}.csv", hostile.id)).await.text().await.unwrap();
    assert!(one.contains(",\"'=cmd|' /C calc'!A0\","), "a formula is defused: {one}");
    let json: serde_json::Value = get(format!("/export/conversations/{}.json", hostile.id)).await.json().await.unwrap();
    assert_eq!(json["messages"][0]["body"], "=cmd|' /C calc'!A0", "JSON keeps the text as it was");
    assert_eq!(get("/export/conversations/nope.json".into()).await.status(), 404);
}

/// Writes `count` conversations straight into the database (ids `{:032x}` of 1 to `count`, an hour
/// back and a second apart, the last one newest) on the given connector, number and agent:
/// conversation `c` (from 0) with `messages(c)` guest messages whose text is `body(m)`, two at
/// each time, so that ties are broken by id.
async fn write_conversations(
    app: &TestApp,
    (connector, number, agent): (&str, &str, &str),
    count: i64,
    messages: impl Fn(i64) -> i64,
    body: impl Fn(i64) -> String,
) {
    let now = switchboard::now_ms() - 3_600_000;
    // As the server's writers do (SQLite: its write turn, the lock taken at once): a transaction
    // that took it at its first write met the server's commits under load ("database is locked").
    let mut tx = app.state.db.begin_write().await.unwrap();
    for c in 0..count {
        let id = format!("{:032x}", c + 1);
        sqlx::query(
            "INSERT INTO conversations (id, number_id, guest_address, agent_id, created_at, last_activity_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(number)
        .bind(format!("whatsapp:+1555{c:07}"))
        .bind(agent)
        .bind(now + c * 1000)
        .execute(&mut *tx)
        .await
        .unwrap();
        for m in 0..messages(c) {
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
                 VALUES ($1, $2, $3, 'inbound', $4, 'received', $5)",
            )
            .bind(format!("{:016x}{:016x}", c + 1, m))
            .bind(&id)
            .bind(connector)
            .bind(body(m))
            .bind(now + c * 1000 - 1000 + m / 2)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// Exports are read and sent a page at a time: a list of 230 conversations (past its 100-row
/// pages) and one of them with 1,234 messages (past its 500-message pages) come whole, each
/// message once and in order, the list newest first.
#[tokio::test]
async fn exports_longer_than_their_pages_come_whole_and_in_order() {
    let app = spawn_app().await;
    let (_, connector, number, agent) = app.ready_path().await;
    let ids = (connector.as_str(), number.as_str(), agent.as_str());
    write_conversations(&app, ids, 230, |c| if c == 7 { 1234 } else { 2 }, |m| format!("message {m}")).await;
    let browser = app.browser("admin@example.com").await;
    let get = |path: String| {
        let (app, browser) = (&app, &browser);
        async move { app.export(browser, &path).await }
    };

    let list: serde_json::Value = get("/export/conversations.json".into()).await.json().await.unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 230);
    let ids: Vec<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..230).rev().map(|c| format!("{:032x}", c + 1)).collect();
    assert_eq!(ids, expected, "newest first, each once");
    let long = &list[230 - 8]["messages"];
    let bodies: Vec<&str> = long.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, (0..1234).map(|m| format!("message {m}")).collect::<Vec<_>>());
    assert!(list.iter().enumerate().all(|(i, c)| i == 222 || c["messages"].as_array().unwrap().len() == 2));

    let csv = get("/export/conversations.csv".into()).await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 231);
    let one = get(format!("/export/conversations/{:032x}.csv", 8)).await.text().await.unwrap();
    assert_eq!(one.lines().count(), 1235);
    let json: serde_json::Value = get(format!("/export/conversations/{:032x}.json", 8)).await.json().await.unwrap();
    assert_eq!(json["messages"].as_array().unwrap().len(), 1234);
    assert_eq!(json["messages"][1233]["body"], "message 1233");
}

/// A list export is read from one snapshot of the database: a conversation that moves up the list
/// while the download is under way (its guest writes) is in the file once, not lost because it
/// jumped over the place the export had reached.
#[tokio::test]
async fn a_conversation_moving_up_during_an_export_is_in_it_once() {
    let app = spawn_app().await;
    let (_, connector, number, agent) = app.ready_path().await;
    let pool = &app.state.db.pool;
    // 1,000 conversations of two 10 kB messages: 20 MB, more than the connection's buffers hold,
    // so the export is still reading pages when the oldest conversation moves.
    let body = "x".repeat(10_000);
    let ids = (connector.as_str(), number.as_str(), agent.as_str());
    write_conversations(&app, ids, 1000, |_| 2, |_| body.clone()).await;
    let browser = app.browser("admin@example.com").await;
    let mut response = app.export(&browser, "/export/conversations.json").await;
    let mut file = Vec::new();
    while file.len() < 1_000_000 {
        file.extend_from_slice(&response.chunk().await.unwrap().expect("more of the file"));
    }
    // The oldest conversation, far below where the export is, gets a message now.
    sqlx::query("UPDATE conversations SET last_activity_at = $1 WHERE id = $2")
        .bind(switchboard::now_ms())
        .bind(format!("{:032x}", 1))
        .execute(pool)
        .await
        .unwrap();
    while let Some(chunk) = response.chunk().await.unwrap() {
        file.extend_from_slice(&chunk);
    }
    let list: serde_json::Value = serde_json::from_slice(&file).unwrap();
    let mut ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "every conversation once");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "none twice");
}

#[tokio::test]
async fn paging_holds_steady_while_guests_write() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    for i in 0..27 {
        write(&app, &guest(i), "whatsapp:+14155550100", "When is breakfast?", &format!("Guest {i}")).await;
    }
    eventually("every reply", || async {
        let sent = app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api").count();
        (sent == 27).then_some(())
    })
    .await;
    let first = app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap();
    assert_eq!(first.rows.len(), 25);

    // A new guest writes while staff read the first page: their conversation goes to the top,
    // and the next page goes on from where the first ended.
    say(&app, "whatsapp:+15557770000", "Hello?", 1).await;
    let second = app
        .ui(&admin, GetInbox { filter: InboxFilter { after: first.older.clone(), ..Default::default() } })
        .await
        .unwrap();
    let seen: Vec<&String> = first.rows.iter().map(|r| &r.id).collect();
    let again: Vec<&String> = second.rows.iter().map(|r| &r.id).filter(|id| seen.contains(id)).collect();
    assert!(again.is_empty(), "conversations shown on both pages: {again:?}");
    assert_eq!(first.rows.len() + second.rows.len(), 27, "every conversation of the first look, once");
    assert!(second.older.is_none(), "the last page");

    // Back towards the top: the page before the second is the 25 just above it, the first look's
    // first page; above that is the new conversation, and going there gives the first page.
    let back = app
        .ui(&admin, GetInbox { filter: InboxFilter { before: second.newer.clone(), ..Default::default() } })
        .await
        .unwrap();
    let ids = |rows: &[app::inbox::InboxRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&back.rows), ids(&first.rows));
    assert_eq!(back.older, first.older, "it ends where the first look's first page ended");
    let top = app
        .ui(&admin, GetInbox { filter: InboxFilter { before: back.newer.clone(), ..Default::default() } })
        .await
        .unwrap();
    assert_eq!((top.rows.len(), top.newer.is_none()), (25, true), "the first page, full");
    assert_eq!(top.rows[0].guest, "whatsapp:+15557770000");

    // A page further back than the top is the first page; a made-up place is refused.
    let wrong = app
        .ui(&admin, GetInbox { filter: InboxFilter { after: Some("not-a-place".into()), ..Default::default() } })
        .await;
    assert!(matches!(wrong, Err(app::AppError::Invalid { field, .. }) if field == "cursor"));
}

/// Two organizations on one instance: each conversation keeps the organization its number is of,
/// whoever writes it (a guest's webhook, a message Switchboard starts, a row written straight
/// into the database), and each organization's list, page after page, holds its own and nothing
/// else, read along the index of its own conversations (the plan is checked in the list's unit
/// tests; the inbox benchmark times a small organization beside a big one).
#[tokio::test]
async fn each_organizations_list_holds_its_own_conversations_and_no_other() {
    let app = spawn_app().await;
    let (admin, connector, number, agent) = app.ready_path().await;
    write_conversations(&app, (&connector, &number, &agent), 40, |_| 1, |_| "Is the pool open?".into()).await;
    let d = app
        .sim
        .sim
        .guest_message(Inbound {
            to: "whatsapp:+14155550100".into(),
            from: guest(900),
            body: "Hi".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
    let opened =
        switchboard::pipeline::outbox::open(&app.state, &number, "whatsapp:+15559990000", Some(&agent)).await.unwrap();

    // A second organization, its connector and number written straight into the database.
    let other = app.other_organization().await;
    let now = switchboard::now_ms();
    let (other_connector, other_number) = (switchboard::new_id(), switchboard::new_id());
    sqlx::query(
        "INSERT INTO connectors (id, org_id, name, account_sid, auth_token_enc, receive_inbound, state, health, \
         webhook_key, created_at, updated_at) VALUES ($1, $2, 'Other', 'AC00000000000000000000000000000009', $3, 1, \
         'active', 'connected', $4, $5, $5)",
    )
    .bind(&other_connector)
    .bind(&other.org_id)
    .bind(vec![0u8; 32])
    .bind(switchboard::new_id())
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, active, created_at) \
         VALUES ($1, $2, 'whatsapp:+14155550900', '+14155550900', 'whatsapp', 'XE00000000000000000000000000000009', 1, $3)",
    )
    .bind(&other_number)
    .bind(&other_connector)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let mut theirs = Vec::new();
    for c in 0..7 {
        let id = switchboard::new_id();
        sqlx::query(
            "INSERT INTO conversations (id, number_id, guest_address, created_at, last_activity_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&id)
        .bind(&other_number)
        .bind(guest(c))
        // Among the first organization's, in time.
        .bind(now - 3_600_000 + c as i64 * 5_000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        theirs.push(id);
    }

    // Every conversation keeps its number's organization.
    let (missing, wrong): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE cv.org_id IS NULL), COUNT(*) FILTER (WHERE cv.org_id <> c.org_id) \
         FROM conversations cv JOIN numbers n ON n.id = cv.number_id JOIN connectors c ON c.id = n.connector_id",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!((missing, wrong), (0, 0));

    // Each list, read page after page, holds its own.
    async fn all(app: &TestApp, me: &app::accounts::Me) -> Vec<String> {
        use app::ports::*;
        let (mut ids, mut filter) = (Vec::new(), InboxFilter::default());
        loop {
            let page = app.state.inbox(me, filter.clone()).await.unwrap();
            ids.extend(page.rows.into_iter().map(|r| r.id));
            match page.older {
                Some(older) => filter.after = Some(older),
                None => return ids,
            }
        }
    }
    let mut listed = all(&app, &other).await;
    listed.sort();
    theirs.sort();
    assert_eq!(listed, theirs, "the second organization's list");
    let ours = all(&app, &admin).await;
    assert_eq!(ours.len(), 42, "the first organization's list");
    assert!(ours.contains(&opened) && !ours.iter().any(|id| theirs.contains(id)));
}
