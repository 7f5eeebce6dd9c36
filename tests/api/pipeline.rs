//! The message pipeline under Twilio's bad days: failures, throttling, lost answers, window
//! rules, long replies, the rate cap, and two instances sharing one database.

use std::{collections::HashMap, time::Duration};

use crate::common::{eventually, eventually_within, spawn_app, spawn_app_with, TestApp};
use app::{
    agents::{
        api::{ListTemplates, SetAgentTemplate},
        port::AgentInput,
    },
    ports::*,
};
use twilio_sim::{Faults, Inbound};

fn guest(i: usize) -> String {
    format!("whatsapp:+1555{i:07}")
}

async fn write(app: &TestApp, i: usize, body: &str) {
    let inbound = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: guest(i),
        body: body.into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    };
    let d = app.sim.sim.guest_message(inbound).await.unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
}

/// Replies per guest, as the simulator received them (created messages only).
fn replies(app: &TestApp) -> HashMap<String, Vec<String>> {
    let mut by_guest: HashMap<String, Vec<String>> = HashMap::new();
    for m in app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
        by_guest.entry(m.to).or_default().push(m.body);
    }
    by_guest
}

async fn outbox_states(app: &TestApp) -> HashMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    rows.into_iter().collect()
}

#[tokio::test]
async fn thirty_percent_injected_failures_still_deliver_every_reply_once() {
    let app = spawn_app().await;
    app.ready_path().await;
    app.sim.sim.set_faults(Faults {
        fail_rate: 0.15,
        throttle_rate: 0.10,
        phantom_rate: 0.05,
        retry_after_secs: 1,
        // The same rolls every run: with random ones, a few runs in a hundred had no 429 at all.
        seed: Some(21),
        ..Faults::default()
    });
    const N: usize = 30;
    for i in 0..N {
        write(&app, i, "When is breakfast?").await;
    }
    eventually("every send settled", || async {
        let states = outbox_states(&app).await;
        (states.get("sent").copied().unwrap_or(0) == N as i64).then_some(())
    })
    .await;
    let replies = replies(&app);
    for i in 0..N {
        assert_eq!(
            replies.get(&guest(i)).map(Vec::len),
            Some(1),
            "guest {i} gets exactly one reply: {:?}",
            replies.get(&guest(i))
        );
    }
    // Retry-After was honoured: after a 429, the same guest's next attempt waited at least a second.
    let attempts = app.sim.sim.send_attempts();
    let mut throttled = 0;
    for (k, a) in attempts.iter().enumerate().filter(|(_, a)| a.status == 429) {
        throttled += 1;
        if let Some(next) = attempts[k + 1..].iter().find(|b| b.to == a.to) {
            assert!(next.at_ms - a.at_ms >= 990, "retried after {} ms despite Retry-After: 1", next.at_ms - a.at_ms);
        }
    }
    assert!(attempts.len() > N, "failures were injected ({} attempts, {throttled} throttled)", attempts.len());
    assert!(throttled > 0, "a 429 happened, so the Retry-After check above checked something");
}

/// (attempts recorded, claims made) of the reply to guest `i`.
async fn counts_of(app: &TestApp, i: usize) -> (i64, i64) {
    sqlx::query_as(
        "SELECT o.attempts, o.claims FROM outbox o JOIN conversations cv ON cv.id = o.conversation_id \
         WHERE cv.guest_address = $1",
    )
    .bind(guest(i))
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
}

/// At 2 messages a second per number, 8 send workers claim replies faster than the number may
/// send them; each puts its reply back until its slot comes. Those are no attempts: no reply
/// may run out of attempts that were never made, or wait for a backoff grown from them.
#[tokio::test]
async fn at_a_low_send_rate_waiting_for_a_slot_is_no_attempt_and_no_reply_is_lost() {
    let app = spawn_app_with(|c| c.send_rate = 2.0).await;
    app.ready_path().await;
    app.sim.sim.set_faults(Faults {
        throttle_rate: 0.15,
        retry_after_secs: 1,
        // The same rolls every run: with random ones, about one run in a hundred had no 429.
        seed: Some(7),
        ..Faults::default()
    });
    const N: usize = 30;
    for i in 0..N {
        write(&app, i, "When is breakfast?").await;
    }
    let states = eventually_within(Duration::from_secs(120), "every reply settled", || async {
        let states = outbox_states(&app).await;
        let settled = states.get("sent").copied().unwrap_or(0) + states.get("failed").copied().unwrap_or(0);
        (settled == N as i64).then_some(states)
    })
    .await;
    assert_eq!(states.get("failed"), None, "no reply failed: {states:?}");
    let calls = app.sim.sim.send_attempts();
    assert!(calls.iter().any(|a| a.status == 429), "the injected 429s happened");
    let mut put_back = 0;
    for i in 0..N {
        let made = calls.iter().filter(|a| a.to == guest(i)).count() as i64;
        let (attempts, claims) = counts_of(&app, i).await;
        assert_eq!(attempts, made, "guest {i}: the attempts recorded are the requests made to Twilio");
        put_back += claims - attempts;
    }
    assert!(put_back > 0, "the rate cap put replies back (claims without a request)");
    let replies = replies(&app);
    for i in 0..N {
        assert_eq!(replies.get(&guest(i)).map(Vec::len), Some(1), "guest {i} gets exactly one reply");
    }
}

/// The last attempt a reply's time allows ends in a 500 after Twilio created the message: it
/// is looked up before it is called failed, as every earlier attempt's outcome is.
#[tokio::test]
async fn a_last_attempt_with_an_unknown_outcome_is_looked_up_before_it_is_called_failed() {
    let app = spawn_app_with(|c| c.send_give_up_secs = 1).await;
    app.ready_path().await;
    app.sim.sim.set_faults(Faults { phantom_rate: 1.0, slow_ms: 1200, ..Faults::default() });
    write(&app, 1, "When is breakfast?").await;
    let states = eventually("the reply settled", || async {
        let states = outbox_states(&app).await;
        (!states.contains_key("pending") && !states.is_empty()).then_some(states)
    })
    .await;
    assert_eq!(states.get("sent"), Some(&1), "found at Twilio, so sent, not failed: {states:?}");
    let created: Vec<_> =
        app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api" && m.to == guest(1)).collect();
    assert_eq!(created.len(), 1, "sent once");
    let (sid,): (Option<String>,) = sqlx::query_as("SELECT twilio_sid FROM messages WHERE direction = 'outbound'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(sid.as_deref(), Some(created[0].sid.as_str()), "recorded with Twilio's SID");
}

#[tokio::test]
async fn a_permanent_error_ends_the_reply_as_failed_with_its_code() {
    let app = spawn_app().await;
    let (me, _, _, agent) = app.ready_path().await;
    app.sim.sim.set_faults(Faults { reject_code: Some(21610), ..Faults::default() });
    write(&app, 1, "When is breakfast?").await;
    let failed = eventually("the reply failed", || async {
        let c = app.state.conversations(&me, &agent).await.unwrap().into_iter().next()?;
        c.messages.into_iter().find(|m| m.status == "failed")
    })
    .await;
    assert!(failed.error.as_deref().unwrap().contains("opted out") && failed.error.unwrap().contains("21610"));
    assert_eq!(app.sim.sim.send_attempts().len(), 1, "a permanent error is not retried");
}

#[tokio::test]
async fn twilio_closing_the_window_stops_free_text_until_the_guest_writes_again() {
    let app = spawn_app().await;
    let (me, _, _, agent) = app.ready_path().await;
    app.sim.sim.set_faults(Faults {
        final_status: Some("undelivered".into()),
        error_code: Some(63016),
        ..Faults::default()
    });
    write(&app, 1, "When is breakfast?").await;
    let undelivered = eventually("the reply is undelivered", || async {
        let c = app.state.conversations(&me, &agent).await.unwrap().into_iter().next()?;
        c.messages.into_iter().find(|m| m.status == "undelivered")
    })
    .await;
    assert!(undelivered.error.unwrap().contains("24-hour window"));
    let (closed,): (Option<i64>,) =
        sqlx::query_as("SELECT window_closed_at FROM conversations").fetch_one(&app.state.db.pool).await.unwrap();
    assert!(closed.is_some());

    // A reply queued now is refused by Switchboard itself, without asking Twilio.
    let before = app.sim.sim.send_attempts().len();
    queue_reply(&app, "A late answer").await;
    eventually("the late reply is refused", || failure_of(&app, "A late answer")).await;
    assert_eq!(app.sim.sim.send_attempts().len(), before);

    // The guest writes again: the window is open and the agent answers.
    app.sim.sim.set_faults(Faults::default());
    write(&app, 1, "When is breakfast?").await;
    eventually("the new reply is read", || async {
        let c = app.state.conversations(&me, &agent).await.unwrap().into_iter().next()?;
        c.messages.iter().any(|m| m.status == "read").then_some(())
    })
    .await;
}

/// The error of the reply with this body once it has failed.
async fn failure_of(app: &TestApp, body: &str) -> Option<Option<String>> {
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, error_message FROM messages WHERE body = $1")
            .bind(body)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    (status == "failed").then_some(error)
}

/// Moves every guest's last message 25 hours into the past: the 24-hour window is closed.
async fn guests_last_message_25_hours_ago(app: &TestApp) {
    sqlx::query("UPDATE conversations SET last_inbound_at = $1")
        .bind(switchboard::now_ms() - 25 * 3600 * 1000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

/// Queues an outbound reply straight into the existing conversation, as a turn would.
async fn queue_reply(app: &TestApp, body: &str) {
    let (conversation, connector): (String, String) =
        sqlx::query_as("SELECT cv.id, n.connector_id FROM conversations cv JOIN numbers n ON n.id = cv.number_id")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    let id = switchboard::new_id();
    let now = switchboard::now_ms();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
         VALUES ($1, $2, $3, 'outbound', $4, 'pending', $5)",
    )
    .bind(&id)
    .bind(&conversation)
    .bind(&connector)
    .bind(body)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let (seq,): (i64,) =
        sqlx::query_as("UPDATE conversations SET out_seq = out_seq + 1 WHERE id = $1 RETURNING out_seq")
            .bind(&conversation)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO outbox (message_id, conversation_id, seq, state, run_at, created_at) \
         VALUES ($1, $2, $3, 'pending', $4, $4)",
    )
    .bind(&id)
    .bind(&conversation)
    .bind(seq)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    app.state.wake_sends().await;
}

#[tokio::test]
async fn free_text_is_not_sent_24_hours_after_the_guests_last_message() {
    let app = spawn_app().await;
    app.ready_path().await;
    write(&app, 1, "When is breakfast?").await;
    eventually("the first reply", || async { replies(&app).get(&guest(1)).cloned() }).await;
    guests_last_message_25_hours_ago(&app).await;
    queue_reply(&app, "Too late").await;
    let error = eventually("the reply is refused", || failure_of(&app, "Too late")).await;
    assert!(error.unwrap().contains("24-hour window"));
    assert_eq!(replies(&app)[&guest(1)].len(), 1);
}

#[tokio::test]
async fn long_replies_are_split_and_sent_in_order() {
    let app = spawn_app().await;
    let (me, connector, _, _) = app.ready_path().await;
    let long: String = (0..900).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let agent = app
        .state
        .create_agent(
            &me,
            AgentInput {
                name: "talker".into(),
                fallback_reply: "?".into(),
                faq: vec![app::agents::FaqEntry { question: "Tell me everything".into(), answer: long.clone() }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let rows = app.state.list_numbers(&me, &connector).await.unwrap();
    let spa = TestApp::number(&rows, "+14155550101", true).id.clone();
    let front = TestApp::number(&rows, "+14155550100", true).id.clone();
    app.state.save_numbers(&me, &connector, vec![front, spa.clone()], false).await.unwrap();
    app.state.set_webhook(&me, &connector, &spa).await.unwrap();
    app.state.add_channel(&me, &agent.id, &spa).await.unwrap();
    let inbound = Inbound {
        to: "whatsapp:+14155550101".into(),
        from: guest(7),
        body: "Tell me everything".into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    };
    app.sim.sim.guest_message(inbound).await.unwrap();
    let parts = eventually("all parts arrive", || async {
        let parts = replies(&app).get(&guest(7)).cloned()?;
        (parts.iter().map(|p| p.len() + 1).sum::<usize>() > long.len()).then_some(parts)
    })
    .await;
    assert_eq!(parts.len(), 5, "{} characters make five parts", long.chars().count());
    assert!(parts.iter().all(|p| p.chars().count() <= 1600));
    assert_eq!(parts.join(" "), long, "nothing lost, nothing out of order");
}

#[tokio::test]
async fn status_callbacks_out_of_order_never_move_a_reply_backwards() {
    let app = spawn_app().await;
    app.ready_path().await;
    app.sim.sim.set_faults(Faults { shuffle_status: true, ..Faults::default() });
    for i in 0..8 {
        write(&app, i, "When is breakfast?").await;
    }
    eventually("every reply ends read", || async {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT status FROM messages WHERE direction = 'outbound'")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
        (rows.len() == 8 && rows.iter().all(|(s,)| s == "read")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_rate_cap_per_number_holds() {
    let app = crate::common::spawn_app_with(|c| c.send_rate = 10.0).await;
    app.ready_path().await;
    const N: usize = 16;
    for i in 0..N {
        write(&app, i, "When is breakfast?").await;
    }
    eventually("all replies", || async { (replies(&app).len() == N).then_some(()) }).await;
    let mut times: Vec<i64> = app.sim.sim.send_attempts().iter().map(|a| a.at_ms).collect();
    times.sort();
    // No second holds more than 10 sends (a window a little under a second, for the moments
    // between leaving Switchboard and reaching Twilio) …
    let busiest = times.iter().map(|t| times.iter().filter(|u| (*t..t + 950).contains(*u)).count()).max().unwrap();
    assert!(busiest <= 10, "{busiest} sends within a second at 10/s: {times:?}");
    // … and the cap is what spaced them: without it, 16 sends take a few milliseconds.
    let span = times.last().unwrap() - times.first().unwrap();
    assert!(span >= 950, "16 sends took only {span} ms at 10/s");
}

#[tokio::test]
async fn a_burst_from_one_guest_is_answered_in_order_with_nothing_left_over() {
    let app = spawn_app().await;
    let (me, _, _, agent) = app.ready_path().await;
    for body in ["Hi", "When is breakfast?", "And is there a pool?", "Thanks"] {
        write(&app, 3, body).await;
    }
    eventually("every message answered", || async {
        let (left,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND answered = 0")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM turns WHERE state = 'pending'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let (unsent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        (left == 0 && pending == 0 && unsent == 0).then_some(())
    })
    .await;
    let c = app.state.conversations(&me, &agent).await.unwrap().remove(0);
    let replies: Vec<_> = c.messages.iter().filter(|m| m.direction == app::inbox::Direction::Outbound).collect();
    assert!((1..=4).contains(&replies.len()), "one reply per turn, turns batch what arrived meanwhile");
    // Twilio received the replies in the order the conversation holds them, and each answers
    // messages the one before had not: the breakfast answer comes after the greeting's turn.
    let sent: Vec<String> = self::replies(&app)[&guest(3)].clone();
    let held: Vec<String> = replies.iter().map(|m| m.body.clone()).collect();
    assert_eq!(sent, held, "sent in the conversation's order");
    assert!(held.iter().any(|b| b.contains("Breakfast is from 7 to 10")), "the question was answered: {held:?}");
}

/// Two processes on one database share the turns and the sends and never send twice.
#[tokio::test]
async fn two_instances_on_one_database_never_send_twice() {
    let app = spawn_app().await;
    app.ready_path().await;
    let key = std::fs::read_to_string(app.data_dir.join("master.key")).unwrap();
    let mut config = switchboard::config::Config::for_data_dir(app.data_dir.join("twin"));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(app.database_url.clone());
    config.master_key = Some(switchboard::crypto::Secret::new(key.trim()));
    config.twilio_api_base = app.sim.url();
    config.twilio_messaging_base = app.sim.url();
    config.twilio_content_base = app.sim.url();
    let twin = switchboard::startup::Application::build_with(config, crate::common::fast_tuning()).await.unwrap();
    let twin_task = tokio::spawn(twin.run_until(std::future::pending()));
    // Sends slow enough (150 ms) that the first instance's workers are busy while sends are due:
    // the twin, which only polls, finds work even when the machine is loaded.
    app.sim.sim.set_faults(Faults { slow_ms: 150, phantom_rate: 0.05, fail_rate: 0.05, ..Faults::default() });
    const N: usize = 40;
    for i in 0..N {
        write(&app, i, "When is breakfast?").await;
    }
    eventually("every send settled", || async {
        (outbox_states(&app).await.get("sent").copied().unwrap_or(0) == N as i64).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replies = replies(&app);
    for i in 0..N {
        assert_eq!(replies.get(&guest(i)).map(Vec::len), Some(1), "guest {i}");
    }
    // Both instances took part: the last claim of each row names its instance.
    let (owners,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT lease_owner) FROM (SELECT lease_owner FROM outbox UNION ALL SELECT lease_owner FROM turns) x",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(owners, 2, "the second instance claimed work too");
    twin_task.abort();
}

#[tokio::test]
async fn outside_the_window_the_agents_approved_template_goes_instead() {
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let templates = app.ui(&admin, ListTemplates { connector_id: connector.clone() }).await.unwrap();
    assert_eq!(
        templates.iter().map(|t| (t.name.as_str(), t.status.as_str())).collect::<Vec<_>>(),
        vec![("follow_up", "approved"), ("promo", "rejected")]
    );
    // The agent's template form; an empty template clears the choice.
    let choice = |sid: &str, variables: &str| SetAgentTemplate {
        agent_id: agent.clone(),
        connector_id: connector.clone(),
        template_sid: sid.into(),
        variables: variables.into(),
    };
    let rejected = app.ui(&admin, choice(&templates[1].sid, "")).await.unwrap_err();
    assert!(
        matches!(&rejected, app::AppError::Invalid { field, message } if field == "template_sid" && message.contains("rejected"))
    );
    let bad_json = app.ui(&admin, choice(&templates[0].sid, "{1: Ana")).await.unwrap_err();
    assert!(matches!(&bad_json, app::AppError::Invalid { field, .. } if field == "variables"));
    let detail = app.ui(&admin, choice(&templates[0].sid, r#"{"1": "Ana"}"#)).await.unwrap();
    assert_eq!(detail.template.as_ref().map(|t| t.name.as_str()), Some("follow_up"));
    assert_eq!(detail.template.as_ref().map(|t| t.variables.as_str()), Some(r#"{"1":"Ana"}"#));

    write(&app, 1, "When is breakfast?").await;
    eventually("the first reply", || async { replies(&app).get(&guest(1)).cloned() }).await;
    guests_last_message_25_hours_ago(&app).await;
    queue_reply(&app, "Breakfast is ready").await;
    let sent = eventually("the template arrives", || async {
        replies(&app).get(&guest(1)).filter(|r| r.len() == 2).map(|r| r[1].clone())
    })
    .await;
    assert_eq!(sent, "Hello Ana, we have news for you.");
    // The reply is marked sent, with the template it went as, once Twilio's answer is back: the
    // simulator has the message a moment before that commit.
    let (template_sid, note): (Option<String>, Option<String>) = eventually("the reply marked sent", || async {
        sqlx::query_as(
            "SELECT m.template_sid, m.note FROM messages m JOIN outbox o ON o.message_id = m.id \
             WHERE m.body = 'Breakfast is ready' AND o.state = 'sent'",
        )
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(template_sid.as_deref(), Some(templates[0].sid.as_str()));
    assert!(note.unwrap().contains("24-hour window"));

    // Clearing the choice leaves nothing of it: no template shown, none stored.
    let cleared = app.ui(&admin, choice("", "")).await.unwrap();
    assert!(cleared.template.is_none());
    let stored: (Option<String>, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT template_connector_id, template_sid, template_name, template_variables FROM agents WHERE id = $1",
    )
    .bind(&agent)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, (None, None, None, None));
}

/// Many turns closing at once, each queueing a reply of several parts (and Switchboard's own
/// message beside it) for guests who wrote several times: every message counts on the
/// dashboard's counters in the transaction that writes it, and on PostgreSQL two transactions
/// that took the same counters in opposite orders would each wait for the other until one was
/// cancelled as a deadlock (seen once between two instances in the topology test).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_of_several_parts_queued_at_once_never_deadlock() {
    use switchboard::{db::Condition, pipeline::outbox};
    const GUESTS: usize = 24;
    const ROUNDS: usize = 6;
    let app = spawn_app().await;
    let (_, connector, number, _) = app.ready_path().await;
    let db = app.state.db.clone();
    let now = switchboard::now_ms();
    let mut conversations = Vec::new();
    for g in 0..GUESTS {
        let id = switchboard::new_id();
        sqlx::query(
            "INSERT INTO conversations (id, number_id, guest_address, created_at, last_activity_at, last_inbound_at) \
             VALUES ($1, $2, $3, $4, $4, $4)",
        )
        .bind(&id)
        .bind(&number)
        .bind(guest(100 + g))
        .bind(now)
        .execute(&db.pool)
        .await
        .unwrap();
        // The guest's messages waited from a few milliseconds to a minute: their waits fall in
        // buckets of their own.
        for k in 0..4i64 {
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
                 VALUES ($1, $2, $3, 'inbound', 'hello', 'received', $4)",
            )
            .bind(switchboard::new_id())
            .bind(&id)
            .bind(&connector)
            .bind(now - 7i64.pow(k as u32 + 1) * (g as i64 + 1))
            .execute(&db.pool)
            .await
            .unwrap();
        }
        conversations.push(id);
    }
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut turns = tokio::task::JoinSet::new();
    for round in 0..ROUNDS {
        for conversation in &conversations {
            let (db, conversation, connector, failures) =
                (db.clone(), conversation.clone(), connector.clone(), failures.clone());
            turns.spawn(async move {
                let own = vec![outbox::Outgoing { origin: Some("switchboard"), ..outbox::Outgoing::text("Welcome") }];
                let parts: Vec<_> = (0..3).map(|p| outbox::Outgoing::text(format!("part {p} of {round}"))).collect();
                let now = switchboard::now_ms();
                let queues = [(conversation.as_str(), own.as_slice()), (conversation.as_str(), parts.as_slice())];
                let script = outbox::queue_statements(&queues, &connector, now, &Condition::always());
                if let Err(e) = db.write_script(script, false).await {
                    eprintln!("{e}");
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    }
    while let Some(done) = turns.join_next().await {
        done.unwrap();
    }
    assert_eq!(failures.load(std::sync::atomic::Ordering::Relaxed), 0, "turns cancelled (as deadlocks)");
    let (queued,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox").fetch_one(&db.pool).await.unwrap();
    assert_eq!(queued, (GUESTS * ROUNDS * 4) as i64, "every message queued once");
    // Each conversation's messages keep their order: its places are 1 to 24, each turn's four
    // in the order given, whatever order their rows went in.
    for conversation in &conversations {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT o.seq, m.body FROM outbox o JOIN messages m ON m.id = o.message_id \
             WHERE o.conversation_id = $1 ORDER BY o.seq",
        )
        .bind(conversation)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let places: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(places, (1..=(ROUNDS * 4) as i64).collect::<Vec<_>>());
        for turn in rows.chunks(4) {
            let bodies: Vec<&str> = turn.iter().map(|r| r.1.as_str()).collect();
            let round = bodies[1].rsplit(' ').next().unwrap();
            assert_eq!(
                bodies,
                [
                    "Welcome".to_string(),
                    format!("part 0 of {round}"),
                    format!("part 1 of {round}"),
                    format!("part 2 of {round}")
                ]
            );
        }
    }
}

/// The heartbeat renewing this instance's leases while a guest's message bumps the same turns:
/// a batch of webhooks takes its turns in the order of their keys, and so does the heartbeat,
/// whatever order their rows lie in. On PostgreSQL a heartbeat that took them in the table's
/// order held one turn and waited for the other while the batch did the reverse, and one of the
/// two was cancelled as a deadlock (seen between two instances in the topology test).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renewing_leases_takes_turns_in_the_order_a_batch_of_webhooks_does() {
    let app = spawn_app().await;
    let (_, _, number, _) = app.ready_path().await;
    let db = app.state.db.clone();
    let now = switchboard::now_ms();
    // Two conversations whose turns lie in the table the other way round from their keys'
    // order: the larger key first.
    let (first, second) = (format!("0{}", &switchboard::new_id()[1..]), format!("f{}", &switchboard::new_id()[1..]));
    for (i, id) in [&second, &first].into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO conversations (id, number_id, guest_address, created_at, last_activity_at, last_inbound_at) \
             VALUES ($1, $2, $3, $4, $4, $4)",
        )
        .bind(id)
        .bind(&number)
        .bind(guest(300 + i))
        .bind(now)
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO turns (conversation_id, state, generation, run_at, updated_at, lease_owner, lease_until, attempts) \
             VALUES ($1, 'idle', 1, $2, $2, $3, $4, 1)",
        )
        .bind(id)
        .bind(now)
        .bind(&*app.state.instance_id)
        .bind(now + 1_000)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // A worker of this instance is on each.
    let _jobs = [app.state.held.hold("turns", &first), app.state.held.hold("turns", &second)];

    // A batch of webhooks for both guests: it bumps the first turn, ...
    let bump = "UPDATE turns SET generation = generation + 1 WHERE conversation_id = $1";
    let mut batch = db.pool.begin().await.unwrap();
    sqlx::query(bump).bind(&first).execute(&mut *batch).await.unwrap();
    // ... the heartbeat comes meanwhile, ...
    let heartbeat = tokio::spawn({
        let state = app.state.clone();
        async move { switchboard::instances::beat(&state, now).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    if app.state.db.backend == switchboard::db::Backend::Postgres {
        // The heartbeat waits for the first turn holding nothing of the second, whatever order
        // the database reads the rows in.
        let mut probe = db.pool.begin().await.unwrap();
        let free = sqlx::query("SELECT 1 FROM turns WHERE conversation_id = $1 FOR UPDATE NOWAIT")
            .bind(&second)
            .fetch_all(&mut *probe)
            .await
            .map(|rows| rows.len());
        assert!(free.is_ok(), "the heartbeat holds the second turn while it waits for the first: {free:?}");
        probe.rollback().await.unwrap();
    }
    // ... and the batch goes on to the second turn and ends.
    let second_bumped = sqlx::query(bump).bind(&second).execute(&mut *batch).await;
    let committed = match second_bumped {
        Ok(_) => batch.commit().await,
        Err(e) => Err(e),
    };
    let renewed = heartbeat.await.unwrap();
    assert!(committed.is_ok(), "the batch of webhooks was cancelled: {committed:?}");
    assert!(renewed.is_ok(), "the heartbeat was cancelled: {renewed:?}");
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT generation, lease_until FROM turns ORDER BY conversation_id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let lease = app.state.tuning.lease.as_millis() as i64;
    assert!(rows.iter().all(|&(generation, until)| generation == 2 && until >= now + lease), "{rows:?}");
}
