//! `kill -9` in the middle of a run: every stored guest message still gets exactly one reply.

mod common;

use std::{collections::HashMap, process::Command, sync::Arc, time::Duration};

use common::{command, eventually, eventually_within, free_port, handed_over, start, wait_until_up, TestApp};
use twilio_sim::{Faults, Inbound};

const N: usize = 1000;

/// A guest's "When is breakfast?" to the concierge's WhatsApp number.
fn breakfast_question(from: String) -> Inbound {
    Inbound {
        to: "whatsapp:+14155550100".into(),
        from,
        body: "When is breakfast?".into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    }
}

fn replies_by_guest(app: &TestApp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
        *counts.entry(m.to).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_run_loses_and_duplicates_nothing_over_a_thousand_conversations() {
    let port = free_port();
    let (app, key) = handed_over(port).await;
    let mut child = start(&app, port, &key);
    wait_until_up(port).await;
    app.sim.sim.set_faults(Faults { slow_ms: 4, phantom_rate: 0.02, ..Faults::default() });

    let sim = Arc::new(app.sim.sim.clone());
    let deliver = |i: usize| {
        let sim = sim.clone();
        async move {
            let inbound = breakfast_question(format!("whatsapp:+1666{i:07}"));
            matches!(sim.guest_message(inbound).await, Ok(d) if d.status == 200)
        }
    };
    let mut stored = vec![false; N];
    let mut killed = false;
    for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
        let results = futures_join_all(chunk.iter().map(|&i| deliver(i))).await;
        for (&i, ok) in chunk.iter().zip(results) {
            stored[i] = ok;
        }
        let answered = replies_by_guest(&app).len();
        if !killed && answered >= N / 4 {
            assert!(answered < N, "the kill must land while work is in flight");
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed = true;
            child = start(&app, port, &key);
            wait_until_up(port).await;
        }
    }
    if !killed {
        // Every delivery was stored before a quarter was answered: kill while the rest is in flight.
        eventually("a quarter answered", || async { (replies_by_guest(&app).len() >= N / 4).then_some(()) }).await;
        assert!(replies_by_guest(&app).len() < N, "the kill must land while work is in flight");
        child.kill().unwrap();
        child.wait().unwrap();
        killed = true;
        child = start(&app, port, &key);
        wait_until_up(port).await;
    }
    assert!(killed, "the process was killed mid-run");
    eprintln!("killed and restarted; {} deliveries failed while it was down", stored.iter().filter(|s| !**s).count());
    // Messages Twilio could not deliver while the process was down are written again.
    for i in (0..N).filter(|&i| !stored[i]) {
        assert!(deliver(i).await, "redelivery of {i}");
    }
    eventually_within(Duration::from_secs(60), "every conversation answered", || async {
        (replies_by_guest(&app).len() == N).then_some(())
    })
    .await;
    // Let stragglers (a duplicate would be one) reach the simulator before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = replies_by_guest(&app);
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled.is_empty(), "guests with other than one reply: {doubled:?}");
    let (unsent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A process killed with replies in hand takes them back at once when it starts again, instead
/// of waiting out their leases (set to two minutes here, so only taking them back can explain a
/// quick answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_started_again_after_kill_9_takes_back_its_work_at_once() {
    const GUESTS: usize = 5;
    let port = free_port();
    let (app, key) = handed_over(port).await;
    let run = || {
        let mut command = command(&app, port, &key);
        command.env("SWITCHBOARD_LEASE_SECS", "120");
        command.spawn().unwrap()
    };
    let mut child = run();
    wait_until_up(port).await;
    // Twilio takes 4 s to answer: the replies are in the sender's hands when the process dies.
    app.sim.sim.set_faults(Faults { slow_ms: 4000, ..Faults::default() });
    for i in 0..GUESTS {
        let inbound = breakfast_question(format!("whatsapp:+1777{i:07}"));
        assert_eq!(app.sim.sim.guest_message(inbound).await.unwrap().status, 200);
    }
    eventually("every reply is in hand", || async {
        let (leased,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND lease_until IS NOT NULL")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        (leased == GUESTS as i64).then_some(())
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    app.sim.sim.set_faults(Faults::default());

    let restarted = std::time::Instant::now();
    child = run();
    wait_until_up(port).await;
    eventually_within(Duration::from_secs(60), "every guest answered", || async {
        (replies_by_guest(&app).len() == GUESTS).then_some(())
    })
    .await;
    let took = restarted.elapsed();
    eprintln!("from the restart to the last reply: {} ms", took.as_millis());
    assert!(took < Duration::from_secs(15), "the work was taken back at start, not after its lease: {took:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let counts = replies_by_guest(&app);
    assert!(counts.values().all(|n| *n == 1), "exactly one reply each: {counts:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn futures_join_all<F: std::future::Future<Output = bool> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<bool> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in handles.into_iter().enumerate() {
        set.spawn(async move { (i, f.await) });
    }
    out.resize(set.len(), false);
    while let Some(r) = set.join_next().await {
        let (i, ok) = r.unwrap();
        out[i] = ok;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_and_loses_or_duplicates_nothing() {
    const M: usize = 300;
    let port = free_port();
    let (app, key) = handed_over(port).await;
    let mut child = start(&app, port, &key);
    wait_until_up(port).await;

    // Messages every 10 ms for 3 s; SIGTERM after the first second.
    let sim = Arc::new(app.sim.sim.clone());
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..M {
        let sim = sim.clone();
        sends.spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let inbound = breakfast_question(format!("whatsapp:+1777{i:07}"));
            (i, sim.guest_message(inbound).await.map(|d| d.status).unwrap_or(0))
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(exited.success(), "a clean exit after SIGTERM: {exited:?}");
    let mut statuses = vec![0u16; M];
    while let Some(done) = sends.join_next().await {
        let (i, status) = done.unwrap();
        statuses[i] = status;
    }
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    eprintln!("200: {}, 503: {}, refused: {}", count(200), count(503), count(0));
    assert!(statuses.iter().all(|s| [200, 503, 0].contains(s)), "only acknowledged, 503 or refused: {statuses:?}");
    assert!(count(200) > 0 && count(503) > 0, "new webhooks got 503 while the process drained");

    // Restarted, with Twilio retrying what was not acknowledged: one reply each, nothing twice.
    let mut child = start(&app, port, &key);
    wait_until_up(port).await;
    for i in (0..M).filter(|&i| statuses[i] != 200) {
        let inbound = breakfast_question(format!("whatsapp:+1777{i:07}"));
        assert_eq!(sim.guest_message(inbound).await.unwrap().status, 200);
    }
    eventually_within(Duration::from_secs(60), "every guest answered", || async {
        (replies_by_guest(&app).len() == M).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let doubled: Vec<_> = replies_by_guest(&app).into_iter().filter(|(_, n)| *n != 1).collect();
    assert!(doubled.is_empty(), "guests with other than one reply: {doubled:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_logs_carry_request_and_message_ids_and_no_secret_or_full_number() {
    let port = free_port();
    let (app, key) = handed_over(port).await;
    let log_path = app.data_dir.join("switchboard.log");
    let mut command = command(&app, port, &key);
    command
        .env("SWITCHBOARD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log_path).unwrap());
    let mut child = command.spawn().unwrap();
    wait_until_up(port).await;
    let guest = "whatsapp:+15550008888";
    let inbound = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: guest.into(),
        body: "When is breakfast?".into(),
        profile_name: Some("Ana".into()),
        media: vec![],
        ..Default::default()
    };
    app.sim.sim.guest_message(inbound).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while app.replies_to(guest).pop().filter(|m| m.status == "read").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("no reply; the log:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines.len() > 5, "{text}");
    assert!(!text.contains(common::TOKEN), "the Auth Token is never logged");
    assert!(!text.contains("15550008888"), "the guest's number appears masked only");
    let stored = lines
        .iter()
        .find(|l| l["fields"]["message"] == "inbound message stored")
        .unwrap_or_else(|| panic!("the webhook's line: {text}"));
    let spans = stored["spans"].to_string();
    assert!(
        spans.contains("request_id") && spans.contains("connector_id") && spans.contains("message_sid"),
        "{stored}"
    );
    let sent = lines
        .iter()
        .find(|l| l["fields"]["message"] == "reply handed to Twilio")
        .unwrap_or_else(|| panic!("the sender's line: {text}"));
    assert!(sent["spans"].to_string().contains("message_id") && sent["fields"]["message_sid"].is_string(), "{sent}");
}
