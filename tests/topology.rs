//! Two Switchboard processes on one database behind a loopback reverse proxy, as
//! `deploy/compose.yaml` runs them: Twilio's webhooks land on either, every guest message is
//! answered exactly once, and when one is killed the other carries on.

mod common;

use std::{collections::HashMap, sync::atomic::Ordering};

use common::{command, eventually, free_port, handed_over_at, wait_until_up, Proxy};
use switchboard::media::{OutboundFile, StoreKind};
use twilio_sim::{Inbound, MediaFile};

/// Two instances on `app`'s database, each with a data folder of its own and `env`, up and behind
/// a proxy on `listener` whose address is `public_url`; their own addresses.
async fn two_instances(
    app: &common::TestApp,
    key: &str,
    listener: tokio::net::TcpListener,
    public_url: &str,
    env: &[(&str, &str)],
) -> (Vec<std::process::Child>, Vec<String>, Proxy) {
    let ports = [free_port(), free_port()];
    let instances = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            command(app, port, key)
                .env("SWITCHBOARD_PUBLIC_URL", public_url)
                .env("SWITCHBOARD_DATA_DIR", app.data_dir.join(format!("instance-{i}")))
                .envs(env.iter().copied())
                .spawn()
                .unwrap()
        })
        .collect();
    for port in ports {
        wait_until_up(port).await;
    }
    let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let proxy = Proxy::serve(listener, urls.clone());
    (instances, urls, proxy)
}

/// A guest's photo (any bytes do: nothing decodes them).
const PHOTO: &[u8] = b"\x89PNG\r\n\x1a\n a guest's photo of the entrance";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_behind_a_proxy_answer_every_message_once_and_survive_losing_one() {
    // The proxy's address is the public URL both instances build and check signatures against.
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    // Files in the database (PostgreSQL's default; SQLite's must be asked for), each instance
    // with its own data folder: any instance serves any file.
    let (app, key) = handed_over_at(None, &public_url, Some(StoreKind::Database)).await;
    let (mut instances, urls, proxy) =
        two_instances(&app, &key, proxy_listener, &public_url, &[("SWITCHBOARD_MEDIA_STORE", "database")]).await;

    let guests: Vec<String> = (0..20).map(|i| format!("whatsapp:+1555111{i:04}")).collect();
    let sim = app.sim.sim.clone();
    let write = |round: usize| {
        let sim = sim.clone();
        let guests = guests.clone();
        async move {
            for (i, g) in guests.iter().enumerate() {
                // The first guest's first message carries a photo.
                let media = if round == 0 && i == 0 {
                    vec![MediaFile { content_type: "image/png".into(), data: PHOTO.to_vec() }]
                } else {
                    vec![]
                };
                let delivery = sim
                    .guest_message(Inbound {
                        to: "whatsapp:+14155550100".into(),
                        from: g.clone(),
                        body: format!("When is breakfast? ({round})"),
                        profile_name: None,
                        media,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(delivery.status, 200, "acknowledged through the proxy: {}", delivery.body);
            }
        }
    };
    let replies = |sim: &twilio_sim::Sim| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for m in sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
            *counts.entry(m.to).or_default() += 1;
        }
        counts
    };
    let answered = |n: usize| {
        let sim = sim.clone();
        let guests = guests.clone();
        async move {
            eventually(&format!("{n} replies to each guest"), || async {
                let counts = replies(&sim);
                guests.iter().all(|g| counts.get(g).copied().unwrap_or(0) >= n).then_some(())
            })
            .await
        }
    };
    write(0).await;
    answered(1).await;

    // The guest's photo, downloaded by whichever instance claimed it, is shown by both.
    let db = app.state.db.pool.clone();
    let (photo,): (String,) = eventually("the guest's photo is stored", || async {
        sqlx::query_as("SELECT id FROM media WHERE state = 'stored'").fetch_optional(&db).await.unwrap()
    })
    .await;
    for url in &urls {
        let staff = common::signed_in(url, "admin@example.com").await;
        let served = staff.get(format!("{url}/media/{photo}")).send().await.unwrap();
        assert_eq!(served.status(), 200, "the photo through {url}");
        assert_eq!(served.bytes().await.unwrap().as_ref(), PHOTO, "the photo through {url}");
    }
    // A file sent to the guest: Twilio fetches it through the proxy, and either instance serves it.
    let (conversation,): (String,) = sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
        .bind(&guests[0])
        .fetch_one(&db)
        .await
        .unwrap();
    let file = OutboundFile { content_type: "image/png".into(), bytes: PHOTO.to_vec() };
    let message =
        switchboard::media::queue_outbound(&app.state, &conversation, "Here is the map", Some(file)).await.unwrap();
    let sent = eventually("the file reaches the guest", || async {
        sim.messages().into_iter().find(|m| m.direction == "outbound-api" && m.body == "Here is the map")
    })
    .await;
    assert_eq!(sent.media, Some((200, "image/png".to_string(), PHOTO.len())), "Twilio fetched the file");
    let (file_id,): (String,) =
        sqlx::query_as("SELECT id FROM media WHERE message_id = $1").bind(&message).fetch_one(&db).await.unwrap();
    let link = switchboard::media::outbound_link(&app.state, &file_id);
    for url in &urls {
        let served = reqwest::get(link.replace(&public_url, url)).await.unwrap();
        assert_eq!(served.status(), 200, "the file through {url}");
        assert_eq!(served.bytes().await.unwrap().as_ref(), PHOTO, "the file through {url}");
    }

    // With PostgreSQL, a change made through one instance reaches live pages served by the other.
    if app.state.db.backend == switchboard::db::Backend::Postgres {
        let watcher = common::signed_in(&urls[1], "admin@example.com").await;
        let mut events = watcher.get(format!("{}/events", urls[1])).send().await.unwrap();
        let (id,): (String,) = sqlx::query_as("SELECT id FROM conversations ORDER BY id LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let staff = common::signed_in(&urls[0], "admin@example.com").await;
        let take_over = |paused: &'static str| {
            let request = staff
                .post(format!("{}/ui/set_paused", urls[0]))
                .header("Accept", "application/json")
                .form(&[("id", id.as_str()), ("paused", paused)]);
            async move { assert!(request.send().await.unwrap().status().is_success()) }
        };
        take_over("true").await;
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
        assert_eq!(heard, Ok(true), "the other instance relays the change: {text:?}");
        take_over("false").await;
    }

    // Two more rounds, then the first instance is killed with its work in hand: what it had
    // acknowledged is answered by the other, and the proxy sends everything there.
    write(1).await;
    write(2).await;
    instances[0].kill().unwrap();
    instances[0].wait().unwrap();
    write(3).await;
    write(4).await;
    assert!(proxy.down.load(Ordering::SeqCst), "the proxy found the first instance gone");
    // Every message is answered: messages a guest sends while their turn is held (here, by the
    // killed instance until its lease runs out) are answered together, with one reply.
    eventually("every message answered and every reply sent", || async {
        let (open,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND answered = 0) \
             + (SELECT COUNT(*) FROM outbox WHERE state <> 'sent') + (SELECT COUNT(*) FROM turns WHERE state <> 'idle')",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        (open == 0).then_some(())
    })
    .await;
    let served: Vec<usize> = proxy.upstreams.iter().map(|(_, n)| n.load(Ordering::SeqCst)).collect();
    assert!(served.iter().all(|&n| n >= 20), "both instances took webhooks: {served:?}");
    // Settled: every reply reached Twilio exactly once, and every guest was answered.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (inbound,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'").fetch_one(&db).await.unwrap();
    assert_eq!(inbound, 100, "every webhook stored once");
    let mut stored: Vec<String> =
        sqlx::query_as::<_, (String,)>("SELECT twilio_sid FROM messages WHERE direction = 'outbound'")
            .fetch_all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
    let mut sent: Vec<String> =
        sim.messages().into_iter().filter(|m| m.direction == "outbound-api").map(|m| m.sid).collect();
    stored.sort();
    sent.sort();
    assert_eq!(sent, stored, "each reply sent once, and only the replies stored");
    let counts = replies(&sim);
    // Five rounds (and the file for the first guest): one reply each at most.
    let most = |g: &String| if g == &guests[0] { 6 } else { 5 };
    assert!(guests.iter().all(|g| counts.get(g).is_some_and(|&n| (1..=most(g)).contains(&n))), "{counts:?}");
    instances[1].kill().unwrap();
    instances[1].wait().unwrap();
}

/// Two instances storing messages for the same guests at the same moment, and the status
/// callbacks of their replies: each batch locks its rows in the same order, so neither ever
/// waits for what the other holds. On PostgreSQL a batch that did would be cancelled as a
/// deadlock a second later and written again (two instances behind one proxy stored 221
/// webhooks a second in the benchmark); the server counts every one it detects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_writing_for_the_same_guests_at_once_never_deadlock() {
    const WRITERS: usize = 16;
    const EACH: usize = 25;
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    let (app, key) = handed_over_at(None, &public_url, None).await;
    let (mut instances, _, _proxy) = two_instances(&app, &key, proxy_listener, &public_url, &[]).await;
    let deadlocks = || async {
        if app.state.db.backend != switchboard::db::Backend::Postgres {
            return 0;
        }
        let (n,): (i64,) = sqlx::query_as("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        n
    };
    let before = deadlocks().await;

    // Sixteen writers at once, each going through ten guests in an order of its own.
    let guests: Vec<String> = (0..10).map(|i| format!("whatsapp:+1555222{i:04}")).collect();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let (sim, guests) = (app.sim.sim.clone(), guests.clone());
        writers.spawn(async move {
            for k in 0..EACH {
                let delivery = sim
                    .guest_message(Inbound {
                        to: "whatsapp:+14155550100".into(),
                        from: guests[(w * 3 + k * (w % 3 + 1)) % guests.len()].clone(),
                        body: format!("Is the pool open? ({w}/{k})"),
                        profile_name: None,
                        media: vec![],
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(delivery.status, 200, "{}", delivery.body);
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let db = app.state.db.pool.clone();
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'").fetch_one(&db).await.unwrap();
    assert_eq!(stored, (WRITERS * EACH) as i64, "every message stored once");
    // The replies go out and their status callbacks come back through either instance.
    eventually("every guest answered and the replies' callbacks in", || async {
        let delivered: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND status IN ('delivered', 'read')",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        (delivered >= guests.len() as i64).then_some(())
    })
    .await;
    // A server process counts the deadlocks it found when it ends, at the latest.
    for child in &mut instances {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let _ = sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&db).await;
    assert_eq!(deadlocks().await - before, 0, "deadlocks between the two instances' writes");
}
