//! Two instances of Switchboard on one database behind a loopback reverse proxy, as
//! `deploy/compose.yaml` runs them: Twilio's webhooks land on either, every guest message is
//! answered exactly once, and when one instance goes away the other carries on.

mod common;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
};

use app::ports::Backoffice;
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use common::{eventually, fast_tuning, spawn_app_with};
use switchboard::{config::Config, startup::Application};
use twilio_sim::Inbound;

/// A round-robin proxy: each request goes to the next upstream that answers; an upstream that
/// refuses the connection is skipped (and the request tried on the other).
#[derive(Clone)]
struct Proxy {
    upstreams: Arc<Vec<(String, AtomicUsize)>>,
    next: Arc<AtomicUsize>,
    client: reqwest::Client,
    down: Arc<AtomicBool>,
}

async fn forward(State(proxy): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let n = proxy.upstreams.len();
    let start = proxy.next.fetch_add(1, Ordering::SeqCst);
    for i in 0..n {
        let (base, served) = &proxy.upstreams[(start + i) % n];
        let mut request = proxy.client.request(method.clone(), format!("{base}{uri}")).body(body.clone());
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(answer) => {
                served.fetch_add(1, Ordering::SeqCst);
                let status = answer.status();
                let headers = answer.headers().clone();
                let bytes = answer.bytes().await.unwrap_or_default();
                let mut response = (status, bytes).into_response();
                for (name, value) in &headers {
                    if name != "content-length" && name != "transfer-encoding" {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                }
                return response;
            }
            Err(e) if e.is_connect() => {
                proxy.down.store(true, Ordering::SeqCst);
                continue;
            }
            Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_behind_a_proxy_answer_every_message_once_and_survive_losing_one() {
    // The proxy's address is the public URL both instances build and check signatures against.
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    let mut first = spawn_app_with(|c| c.public_url = Some(public_url.clone())).await;
    first.ready_path().await;

    let mut config = Config::for_data_dir(first.data_dir.clone());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.public_url = Some(public_url.clone());
    config.database_url = Some(first.database_url.clone());
    config.twilio_api_base = first.sim.url();
    config.twilio_messaging_base = first.sim.url();
    config.twilio_content_base = first.sim.url();
    let second = Application::build_with(config, fast_tuning()).await.expect("a second instance on the same database");
    let second_url = format!("http://127.0.0.1:{}", second.port());
    let second_server = tokio::spawn(second.run_until(std::future::pending()));

    let proxy = Proxy {
        upstreams: Arc::new(vec![(first.url.clone(), AtomicUsize::new(0)), (second_url, AtomicUsize::new(0))]),
        next: Arc::default(),
        // A new connection per request: the stopped instance's port refuses it (an in-process
        // "stop" leaves established connections served).
        client: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
        down: Arc::default(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(proxy_listener, app).await.unwrap() });

    let guests: Vec<String> = (0..20).map(|i| format!("whatsapp:+1555111{i:04}")).collect();
    let mut sent: HashMap<String, usize> = HashMap::new();
    let sim = first.sim.sim.clone();
    let mut write = |round: usize| {
        let sim = sim.clone();
        let guests = guests.clone();
        for g in &guests {
            *sent.entry(g.clone()).or_default() += 1;
        }
        async move {
            for g in &guests {
                let delivery = sim
                    .guest_message(Inbound {
                        to: "whatsapp:+14155550100".into(),
                        from: g.clone(),
                        body: format!("When is breakfast? ({round})"),
                        profile_name: None,
                        media: vec![],
                    })
                    .await
                    .unwrap();
                assert_eq!(delivery.status, 200, "acknowledged through the proxy: {}", delivery.body);
            }
        }
    };
    for round in 0..3 {
        write(round).await;
    }
    let replies = |sim: &twilio_sim::Sim| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for m in sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
            *counts.entry(m.to).or_default() += 1;
        }
        counts
    };
    eventually("every message of the first rounds answered", || async {
        let counts = replies(&sim);
        guests.iter().all(|g| counts.get(g).copied().unwrap_or(0) >= 3).then_some(())
    })
    .await;
    let served: Vec<usize> = proxy.upstreams.iter().map(|(_, n)| n.load(Ordering::SeqCst)).collect();
    assert!(served.iter().all(|&n| n >= 20), "both instances took webhooks: {served:?}");

    // With PostgreSQL, a change on one instance reaches live pages served by the other.
    if first.state.db.backend == switchboard::db::Backend::Postgres {
        let browser = common::signed_in(&proxy.upstreams[1].0, "admin@example.com").await;
        let mut events = browser.get(format!("{}/events", proxy.upstreams[1].0)).send().await.unwrap();
        let me = first.admin_me().await;
        let id = first.state.inbox(&me, Default::default()).await.unwrap().rows[0].id.clone();
        first.state.set_paused(&me, &id, true).await.unwrap();
        let mut text = String::new();
        let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Ok(Some(chunk)) = events.chunk().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.contains("event: changed") && text.contains(&id) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(heard, Ok(true), "the second instance relays the first one's change: {text:?}");
        first.state.set_paused(&me, &id, false).await.unwrap();
    }

    // The first instance goes away; the proxy sends everything to the second.
    first.stop_server().await;
    for round in 3..5 {
        write(round).await;
    }
    assert!(proxy.down.load(Ordering::SeqCst), "the proxy found the first instance gone");
    eventually("every message answered", || async {
        let counts = replies(&sim);
        guests.iter().all(|g| counts.get(g).copied().unwrap_or(0) >= 5).then_some(())
    })
    .await;
    // Settled: exactly one reply per message, none twice.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let counts = replies(&sim);
    for g in &guests {
        assert_eq!(counts.get(g).copied(), sent.get(g).copied(), "{g}: one reply per message");
    }
    second_server.abort();
}
