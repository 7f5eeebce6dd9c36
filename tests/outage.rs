//! A database that goes away and comes back: webhooks answer 503 in time (never 200 for a
//! message not stored), `/readyz` says why, the workers wait and resume, and every message
//! acknowledged once it is back is answered once.
//!
//! SQLite is taken away by a lock held elsewhere (what a full disk or a read-only file also
//! gives: reads work, writes fail); PostgreSQL by refusing and cutting every connection to the
//! test's database, as a stopped server would, or, with `SWITCHBOARD_TEST_PG_HALT=1` (a server of
//! the test's own, as `scripts/chaos.sh` starts), by stopping the server itself (`pg_ctl stop -m
//! fast`) and starting it again.

mod common;

use std::time::{Duration, Instant};

use common::{eventually_within, TestApp};
use sqlx::Connection;
use switchboard::db::Backend;
use twilio_sim::Inbound;

fn question(from: &str) -> Inbound {
    Inbound {
        to: "whatsapp:+14155550100".into(),
        from: from.into(),
        body: "When is breakfast?".into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    }
}

/// What holds the database away until [`Away::back`].
enum Away {
    Sqlite(sqlx::SqliteConnection),
    Postgres {
        admin: sqlx::AnyConnection,
        name: String,
    },
    /// The server itself stopped (`scripts/pg.sh halt`); `resume` starts it again.
    Halted,
}

fn pg_script(verb: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
    let status = std::process::Command::new("bash").arg(script).arg(verb).status().unwrap();
    assert!(status.success(), "scripts/pg.sh {verb}");
}

async fn take_database_away(app: &TestApp) -> Away {
    match app.state.db.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
            Away::Sqlite(conn)
        }
        Backend::Postgres if std::env::var("SWITCHBOARD_TEST_PG_HALT").is_ok_and(|v| v == "1") => {
            tokio::task::spawn_blocking(|| pg_script("halt")).await.unwrap();
            Away::Halted
        }
        Backend::Postgres => {
            let server = std::env::var("TEST_DATABASE_URL").unwrap();
            let name = app.database_url.rsplit('/').next().unwrap().to_string();
            let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
            sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).execute(&mut admin).await.unwrap();
            sqlx::query(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .execute(&mut admin)
            .await
            .unwrap();
            Away::Postgres { admin, name }
        }
    }
}

impl Away {
    async fn back(self) {
        match self {
            Away::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            Away::Postgres { mut admin, name } => {
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            Away::Halted => tokio::task::spawn_blocking(|| pg_script("resume")).await.unwrap(),
        }
    }
}

async fn readyz(app: &TestApp) -> (u16, String) {
    let answer = reqwest::get(format!("{}/readyz", app.url)).await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// How long the database stays away: PostgreSQL as long as a restart of the server takes (30 s);
/// SQLite past its busy timeout (10 s), so writes begun before the webhooks gave up fail too.
fn outage(app: &TestApp) -> Duration {
    match app.state.db.backend {
        Backend::Postgres => Duration::from_secs(30),
        Backend::Sqlite => Duration::from_secs(11),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_gets_503s_in_time_and_loses_nothing_once_back() {
    // A lease shorter than the outage: claims that waited on the database through it come back
    // with leases already run out, and must not send a reply a later claim sends too.
    let app = common::spawn_app_with(|c| c.lease_secs = 2).await;
    app.ready_path().await;
    assert_eq!(readyz(&app).await.0, 200, "ready before");
    // Messages acknowledged just before: Twilio throttles their replies (429, Retry-After 1 s),
    // so they come due again while the database is away, with every sender trying to claim them.
    app.sim.sim.set_faults(twilio_sim::Faults { throttle_rate: 1.0, retry_after_secs: 1, ..Default::default() });
    let before: Vec<String> = (0..10).map(|i| format!("whatsapp:+155577701{i:02}")).collect();
    for g in &before {
        assert_eq!(app.sim.sim.guest_message(question(g)).await.unwrap().status, 200);
    }
    eventually_within(Duration::from_secs(10), "every reply throttled once", || async {
        let (throttled,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE attempts > 0")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        (throttled == before.len() as i64).then_some(())
    })
    .await;

    let away = take_database_away(&app).await;
    app.sim.sim.set_faults(twilio_sim::Faults { slow_ms: 30, ..Default::default() });
    let gone = Instant::now();
    // While it stays away a new guest writes every second: every webhook answered before the
    // database is back is a 503 in time.
    let outage_length = outage(&app);
    let sim = app.sim.sim.clone();
    let writing = tokio::spawn(async move {
        let mut writing = Vec::new();
        while gone.elapsed() < outage_length {
            let guest = format!("whatsapp:+155577703{:02}", writing.len());
            let sim = sim.clone();
            writing.push(tokio::spawn(async move {
                let started = Instant::now();
                let delivery = sim.guest_message(question(&guest)).await.unwrap();
                (guest, delivery, started.elapsed(), Instant::now())
            }));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        writing
    });
    let during: Vec<String> = (0..10).map(|i| format!("whatsapp:+155577702{i:02}")).collect();
    let answers = futures_util::future::join_all(during.iter().map(|g| {
        let sim = app.sim.sim.clone();
        let inbound = question(g);
        async move {
            let started = Instant::now();
            let delivery = sim.guest_message(inbound).await.unwrap();
            (delivery.status, started.elapsed())
        }
    }))
    .await;
    for (status, took) in &answers {
        assert_eq!(*status, 503, "not acknowledged while the database is away");
        // Twilio waits 15 s for an answer; after that it is a timeout, not a 503.
        assert!(*took < Duration::from_secs(14), "answered within Twilio's timeout: {took:?}");
    }
    let (status, why) = readyz(&app).await;
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("database"), "says why: {why}");
    let writing = writing.await.unwrap();
    let back_at = Instant::now();
    away.back().await;
    let mut refused_while_away = 0;
    let mut wrote_while_away = Vec::new();
    for handle in writing {
        let (guest, delivery, took, finished) = handle.await.unwrap();
        assert!(took < Duration::from_secs(14), "{guest} answered within Twilio's timeout: {took:?}");
        if finished < back_at {
            assert_eq!(delivery.status, 503, "{guest}: acknowledged while the database was away");
            refused_while_away += 1;
        } else {
            assert!([200, 503].contains(&delivery.status), "{guest}: {}", delivery.status);
        }
        wrote_while_away.push((guest, delivery));
    }
    assert!(refused_while_away >= 2, "webhooks refused all along the outage: {refused_while_away}");

    // The guests refused write again once it is back: all stored and answered, and the replies
    // in flight when it went are sent.
    for g in &during {
        assert_eq!(app.sim.sim.guest_message(question(g)).await.unwrap().status, 200, "{g} after the return");
    }
    eventually_within(Duration::from_secs(30), "every guest answered", || async {
        before.iter().chain(&during).all(|g| !app.replies_to(g).is_empty()).then_some(())
    })
    .await;
    eventually_within(Duration::from_secs(15), "ready again", || async {
        let (status, why) = readyz(&app).await;
        (status == 200).then_some(why)
    })
    .await;
    // Acknowledged is stored. One answered 503 is not acknowledged, but may be stored when its
    // write had begun before the request gave up; then it is answered like any other (Twilio
    // sending it again is recognised by its MessageSid); one not stored is not answered.
    for (guest, delivery) in &wrote_while_away {
        let stored = stored_with_sid(&app, &delivery.message_sid).await;
        if delivery.status == 200 {
            assert_eq!(stored, 1, "{guest}: acknowledged, so stored");
        }
        let replies = eventually_within(Duration::from_secs(15), "a stored message answered", || async {
            let replies = app.replies_to(guest).len() as i64;
            (replies >= stored).then_some(replies)
        })
        .await;
        assert_eq!(replies, stored, "{guest}: answered once if stored, else not at all");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for g in &before {
        let replies = app.replies_to(g);
        assert_eq!(replies.len(), 1, "{g}: its reply in flight sent once: {replies:#?}");
    }
    // No reply reached Twilio twice (each carries its own id in its status callback URL), and
    // every one that did is recorded as sent.
    let mut sent: std::collections::HashMap<String, usize> = Default::default();
    for m in app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
        let callback = m.status_callback.clone().unwrap_or_default();
        let id = callback.rsplit_once("?m=").map(|(_, id)| id.to_string()).unwrap_or_default();
        *sent.entry(id).or_default() += 1;
    }
    for (id, times) in &sent {
        assert_eq!(*times, 1, "reply {id} reached Twilio {times} times");
    }
    let (recorded,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state = 'sent'").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(recorded as usize, sent.len(), "every reply Twilio took is recorded as sent");
}

async fn stored_with_sid(app: &TestApp, sid: &str) -> i64 {
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE twilio_sid = $1")
        .bind(sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    stored
}

/// A disk that fills up under SQLite: webhooks get 503 (never 200 for a message not stored),
/// `/readyz` says the database refuses writes, and once space is freed everything acknowledged
/// is answered. Needs a small filesystem of its own, named by `SWITCHBOARD_TEST_SMALL_DISK`
/// (`scripts/chaos.sh` mounts one when run as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a small filesystem: scripts/chaos.sh mounts one"]
async fn a_full_disk_gets_503s_and_loses_nothing_once_space_is_freed() {
    use std::io::Write;
    let disk =
        std::path::PathBuf::from(std::env::var("SWITCHBOARD_TEST_SMALL_DISK").expect("SWITCHBOARD_TEST_SMALL_DISK"));
    let data_dir = disk.join(format!("data-{}", common::random_hex(8)));
    let app = common::spawn_app_with(|c| {
        c.data_dir = data_dir.clone();
        c.database_url = Some(switchboard::db::sqlite_url(&data_dir));
    })
    .await;
    assert_eq!(app.state.db.backend, Backend::Sqlite, "a full disk is SQLite's case");
    app.ready_path().await;

    // Fill the disk, then write until Switchboard can no longer store.
    let filler_path = disk.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while filler.write_all(&chunk).is_ok() {}
    let _ = filler.sync_all();
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..2000 {
        let guest = format!("whatsapp:+1555888{i:04}");
        let delivery = app.sim.sim.guest_message(question(&guest)).await.unwrap();
        match delivery.status {
            200 => acknowledged.push((guest, delivery.message_sid)),
            503 => {
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            other => panic!("a full disk answered {other}: {}", delivery.body),
        }
    }
    assert!(refused > 0, "the disk filled up ({} acknowledged)", acknowledged.len());
    let (status, why) = readyz(&app).await;
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("database"), "says why: {why}");

    // Space again: what was acknowledged is stored and answered, and new messages are taken.
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    let after = "whatsapp:+15558889999";
    assert_eq!(app.sim.sim.guest_message(question(after)).await.unwrap().status, 200);
    acknowledged.push((after.to_string(), String::new()));
    eventually_within(Duration::from_secs(60), "every acknowledged message answered", || async {
        acknowledged.iter().all(|(g, _)| !app.replies_to(g).is_empty()).then_some(())
    })
    .await;
    for (guest, sid) in acknowledged.iter().filter(|(_, sid)| !sid.is_empty()) {
        assert_eq!(stored_with_sid(&app, sid).await, 1, "{guest}'s acknowledged message is stored");
    }
    eventually_within(Duration::from_secs(15), "ready again", || async { (readyz(&app).await.0 == 200).then_some(()) })
        .await;
}
