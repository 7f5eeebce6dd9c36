//! A database that goes away and comes back: webhooks answer 503 in time (never 200 for a
//! message not stored), `/readyz` says why, the workers wait and resume, and every message
//! acknowledged once it is back is answered once.
//!
//! SQLite is taken away by a lock held elsewhere (what a full disk or a read-only file also
//! gives: reads work, writes fail); PostgreSQL by refusing and cutting every connection to the
//! test's database, as a stopped server would.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, eventually_within, spawn_app, TestApp};
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
    }
}

/// What holds the database away until [`Away::back`].
enum Away {
    Sqlite(sqlx::SqliteConnection),
    Postgres { admin: sqlx::AnyConnection, name: String },
}

async fn take_database_away(app: &TestApp) -> Away {
    match app.state.db.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
            Away::Sqlite(conn)
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
        }
    }
}

async fn readyz(app: &TestApp) -> (u16, String) {
    let answer = reqwest::get(format!("{}/readyz", app.url)).await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_gets_503s_in_time_and_loses_nothing_once_back() {
    let app = spawn_app().await;
    app.ready_path().await;
    let first = "whatsapp:+15557770000";
    assert_eq!(app.sim.sim.guest_message(question(first)).await.unwrap().status, 200);
    eventually("the first guest is answered", || async { (!app.replies_to(first).is_empty()).then_some(()) }).await;
    assert_eq!(readyz(&app).await.0, 200, "ready before");

    let away = take_database_away(&app).await;
    let guests: Vec<String> = (1..=10).map(|i| format!("whatsapp:+155577700{i:02}")).collect();
    let started = Instant::now();
    let answers = futures_util::future::join_all(guests.iter().map(|g| {
        let sim = app.sim.sim.clone();
        let inbound = question(g);
        async move {
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
    // Longer than SQLite's busy timeout: writes begun before the webhooks gave up fail too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    away.back().await;

    // Twilio's retry (or the guests writing again) after the database is back: all stored and answered.
    for g in &guests {
        assert_eq!(app.sim.sim.guest_message(question(g)).await.unwrap().status, 200, "{g} after the return");
    }
    eventually_within(Duration::from_secs(30), "every guest answered", || async {
        guests.iter().all(|g| !app.replies_to(g).is_empty()).then_some(())
    })
    .await;
    eventually_within(Duration::from_secs(15), "ready again", || async {
        let (status, why) = readyz(&app).await;
        (status == 200).then_some(why)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for g in guests.iter().chain([&first.to_string()]) {
        assert_eq!(app.replies_to(g).len(), 1, "{g} answered once");
    }
    let (inbound,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(inbound, 11, "the messages answered 503 were not stored; the ones acknowledged were");
}
