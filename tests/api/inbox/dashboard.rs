//! The dashboard: messages, replies, failures and refused webhooks counted, the days that are over
//! kept, and what it shows held equal to a recount from the messages.

use super::{add_owner, guest, say, write};
use crate::common::{eventually, spawn_app, TestApp};
use app::dashboard::api::GetDashboard;

/// The guest writes and Twilio refuses the reply (21610, the guest opted out): one failed reply.
async fn a_reply_is_refused(app: &TestApp, from: &str) {
    app.sim.sim.set_faults(twilio_sim::Faults { reject_code: Some(21610), ..Default::default() });
    write(app, from, "whatsapp:+14155550100", "When is breakfast?", "Ben").await;
    eventually("the refused send is recorded", || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE status = 'failed'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_counts_messages_replies_failures_and_refusals() {
    let app = spawn_app().await;
    let (_, connector, _, _) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, &guest(7), "When is breakfast?", 1).await;
    a_reply_is_refused(&app, &guest(8)).await;
    // A forged webhook for the connector.
    let key = app.webhook_key(&connector).await;
    let forged = reqwest::Client::new()
        .post(format!("{}/twilio/inbound/{key}", app.url))
        .header("X-Twilio-Signature", "forged")
        .form(&[("MessageSid", "SM0"), ("From", "whatsapp:+15550000009"), ("To", "whatsapp:+14155550100")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let d = eventually("the refusal is written", || async {
        let d = app.ui(&admin, GetDashboard {}).await.unwrap();
        (!d.rejections.is_empty()).then_some(d)
    })
    .await;
    let today = d.days.last().unwrap();
    assert_eq!(d.days.len(), 14);
    assert_eq!((today.inbound, today.outbound), (2, 2));
    assert_eq!(d.replies_measured, 2);
    assert!(d.median_reply_ms.unwrap() >= 0);
    assert_eq!(d.failures.len(), 1);
    assert_eq!((d.failures[0].code, d.failures[0].count), (Some(21610), 1));
    assert_eq!(d.failures[0].meaning, "The recipient has opted out (STOP)");
    assert_eq!((d.rejections[0].meaning.as_str(), d.rejections[0].count), ("Signature check failed", 1));
    assert_eq!(d.connectors, vec![("Front Desk".to_string(), "Connected".to_string(), true)]);

    add_owner(&app, &admin).await;
    let owner = app.browser("owner@example.com").await;
    assert!(matches!(app.ui(&owner, GetDashboard {}).await, Err(app::AppError::Forbidden)));
}

/// What the dashboard shows, counted again from the messages (one organization).
struct Recount {
    /// (day, inbound, outbound) for each day with messages since `since`.
    days: Vec<(i64, i64, i64)>,
    /// Failed or undelivered replies by error code.
    failures: Vec<(Option<i64>, i64)>,
    /// Each answered guest message's wait for the first reply, sorted.
    waits: Vec<i64>,
}

async fn recount(app: &TestApp, since: i64) -> Recount {
    let pool = &app.state.db.pool;
    let days: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000, SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END) FROM messages WHERE created_at >= $1 \
         GROUP BY created_at / 86400000 ORDER BY 1",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap();
    let failures = sqlx::query_as(
        "SELECT error_code, COUNT(*) FROM messages WHERE direction = 'outbound' \
         AND status IN ('failed', 'undelivered') AND created_at >= $1 GROUP BY error_code ORDER BY 2 DESC",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap();
    let asked: Vec<(String, i64)> = sqlx::query_as(
        "SELECT conversation_id, created_at FROM messages WHERE direction = 'inbound' AND origin IS NULL \
         AND created_at >= $1",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap();
    let replies: Vec<(String, i64)> = sqlx::query_as(
        "SELECT conversation_id, created_at FROM messages WHERE direction = 'outbound' AND origin IS NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut waits: Vec<i64> = asked
        .iter()
        .filter_map(|(c, at)| replies.iter().filter(|(r, t)| r == c && t >= at).map(|(_, t)| t - at).min())
        .collect();
    waits.sort_unstable();
    Recount { days, failures, waits }
}

/// The dashboard's days that are over are counted once and kept; what it shows equals a count of
/// the messages, and deleting what is kept counts the days again.
#[tokio::test]
async fn the_dashboard_keeps_the_days_that_are_over_and_equals_a_recount() {
    const DAY: i64 = 86_400_000;
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    for i in 0..4 {
        say(&app, &guest(i), "When is breakfast?", 1).await;
    }
    a_reply_is_refused(&app, &guest(4)).await;
    // Guests 0, 1, 2 and 4 wrote 3, 5, 10 and 20 days ago (20 is before the dashboard's 14 days).
    for (i, days) in [(0, 3), (1, 5), (2, 10), (4, 20)] {
        let shift = days * DAY;
        let (id,): (String,) = sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
            .bind(guest(i))
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE messages SET created_at = created_at - $1 WHERE conversation_id = $2")
            .bind(shift)
            .bind(&id)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE conversations SET last_activity_at = last_activity_at - $1, \
             last_inbound_at = last_inbound_at - $1 WHERE id = $2",
        )
        .bind(shift)
        .bind(&id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    }
    // Times rewritten behind the triggers' back: the live counts are counted again.
    switchboard::dashboard::rebuild_live(&app.state).await.unwrap();
    let today = switchboard::now_ms().div_euclid(DAY);
    let since = (today - 13) * DAY;
    let (from_day,): (i64,) =
        sqlx::query_as("SELECT from_day FROM dashboard_live_state").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(from_day, today - 2, "older days are counted from their messages");
    let matches_recount = |d: &app::dashboard::Dashboard, r: &Recount| {
        let shown: Vec<(i64, i64, i64)> = d
            .days
            .iter()
            .enumerate()
            .filter(|(_, c)| c.inbound + c.outbound > 0)
            .map(|(i, c)| (today - 13 + i as i64, c.inbound, c.outbound))
            .collect();
        assert_eq!(shown, r.days);
        let failures: Vec<(Option<i64>, i64)> = d.failures.iter().map(|f| (f.code, f.count)).collect();
        assert_eq!(failures, r.failures);
        assert_eq!(d.replies_measured, r.waits.len() as i64);
        // The median is told to within 5 % below.
        let exact = r.waits[r.waits.len() / 2];
        let shown = d.median_reply_ms.unwrap();
        assert!(shown <= exact && shown as f64 >= exact as f64 / 1.05 - 1.0, "median {shown}, exact {exact}");
    };

    let first = app.ui(&admin, GetDashboard {}).await.unwrap();
    let r = recount(&app, since).await;
    assert_eq!(r.days.len(), 4, "four days with messages: {:?}", r.days);
    assert_eq!(r.failures, vec![], "the refused reply is 20 days old");
    matches_recount(&first, &r);
    let kept: Vec<(i64,)> = sqlx::query_as("SELECT day FROM dashboard_counts WHERE kind = 'sealed' ORDER BY day")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    let kept: Vec<i64> = kept.into_iter().map(|(d,)| d).collect();
    assert_eq!(kept, ((today - 13)..(today - 2)).collect::<Vec<_>>(), "the days that are over are kept");
    assert_eq!(app.ui(&admin, GetDashboard {}).await.unwrap(), first, "read again from what is kept");

    // What is kept stays when messages go (as retention will delete them)…
    sqlx::query(
        "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE guest_address = $1)",
    )
    .bind(guest(1))
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(app.ui(&admin, GetDashboard {}).await.unwrap().days, first.days);
    // …and deleted, the days are counted again from the messages there are.
    sqlx::query("DELETE FROM dashboard_counts").execute(&app.state.db.pool).await.unwrap();
    let again = app.ui(&admin, GetDashboard {}).await.unwrap();
    let r = recount(&app, since).await;
    assert_eq!(r.days.len(), 3);
    matches_recount(&again, &r);
}

/// A message written directly, at a chosen time.
async fn put(pool: &sqlx::AnyPool, conversation: &str, connector: &str, id: &str, direction: &str, at: i64) {
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
         VALUES ($1, $2, $3, $4, 'x', $5, $6)",
    )
    .bind(id)
    .bind(conversation)
    .bind(connector)
    .bind(direction)
    .bind(if direction == "inbound" { "received" } else { "sent" })
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
}

async fn set_status(pool: &sqlx::AnyPool, id: &str, status: &str, code: Option<i64>) {
    sqlx::query("UPDATE messages SET status = $1, error_code = $2 WHERE id = $3")
        .bind(status)
        .bind(code)
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}

/// The live counts, every connector's shards added up: (day, kind, item, count), sorted.
async fn live_counts(app: &TestApp) -> Vec<(i64, String, i64, i64)> {
    sqlx::query_as(
        "SELECT day, kind, item, CAST(SUM(count) AS BIGINT) FROM dashboard_live GROUP BY day, kind, item \
         HAVING SUM(count) <> 0 ORDER BY day, kind, item",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

/// The days not over yet are counted by the database as messages and statuses are written
/// (migration 0024's triggers). Whatever order they come in — replies, a refused reply, a guest's
/// message stored after the reply that answers it, a reply stored before one already there (the
/// clocks of two instances), a failure that changes code and one taken back — the counts equal a
/// recount of the messages (`rebuild_live`), and the dashboard shows them.
#[tokio::test]
async fn the_live_counts_equal_a_recount_whatever_order_messages_and_statuses_come_in() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    for i in 0..3 {
        say(&app, &guest(i), "When is breakfast?", 1).await;
    }
    a_reply_is_refused(&app, &guest(3)).await;
    app.sim.sim.set_faults(twilio_sim::Faults::default());
    say(&app, &guest(0), "And dinner?", 2).await;

    // Guest 4's conversation, written directly with chosen times.
    say(&app, &guest(4), "Hello", 1).await;
    let pool = &app.state.db.pool;
    let (conversation, connector): (String, String) =
        sqlx::query_as("SELECT conversation_id, connector_id FROM messages WHERE body = 'Hello'")
            .fetch_one(pool)
            .await
            .unwrap();
    let t = switchboard::now_ms() - 3_600_000;
    // A reply at t + 100 s, then the guest's message it answers, stored after it (t)…
    let insert = |id, direction, at| put(pool, &conversation, &connector, id, direction, at);
    insert("0000000000000000000000000000000a", "outbound", t + 100_000).await;
    insert("0000000000000000000000000000000b", "inbound", t).await;
    // …then a reply to it stored later but made earlier (t + 50 s): the wait moves to it.
    insert("0000000000000000000000000000000c", "outbound", t + 50_000).await;
    // A reply failing with one code, then another, another failing, then delivered after all.
    set_status(pool, "0000000000000000000000000000000a", "undelivered", Some(30003)).await;
    set_status(pool, "0000000000000000000000000000000a", "failed", Some(30008)).await;
    set_status(pool, "0000000000000000000000000000000c", "failed", None).await;
    set_status(pool, "0000000000000000000000000000000c", "delivered", None).await;

    let kept = live_counts(&app).await;
    let kinds = |kind: &str| kept.iter().filter(|c| c.1 == kind).map(|c| c.3).sum::<i64>();
    let (inbound, outbound): (i64, i64) = sqlx::query_as(
        "SELECT SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END) FROM messages",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((kinds("inbound"), kinds("outbound")), (inbound, outbound));
    assert_eq!(kinds("wait"), inbound, "every guest message has a reply");
    // Sorted by code: the rows come by day first, and an hour back may be yesterday (near midnight).
    let mut failures: Vec<(i64, i64)> = kept.iter().filter(|c| c.1 == "failure").map(|c| (c.2, c.3)).collect();
    failures.sort_unstable();
    assert_eq!(failures, [(21610, 1), (30008, 1)], "the refused reply and the last code of the other");
    switchboard::dashboard::rebuild_live(&app.state).await.unwrap();
    assert_eq!(live_counts(&app).await, kept, "kept as written = counted again from the messages");

    // A day that is over is kept from these counts when they hold it whole: here a day five days
    // back, written as the triggers see it. The dashboard's first view keeps it and shows it.
    const DAY: i64 = 86_400_000;
    let five = switchboard::now_ms() - 5 * DAY;
    put(pool, &conversation, &connector, "0000000000000000000000000000000d", "inbound", five).await;
    put(pool, &conversation, &connector, "0000000000000000000000000000000e", "outbound", five + 2_000).await;
    put(pool, &conversation, &connector, "0000000000000000000000000000000f", "outbound", five + 3_000).await;
    set_status(pool, "0000000000000000000000000000000f", "failed", Some(63016)).await;
    let (from_day,): (i64,) =
        sqlx::query_as("SELECT from_day FROM dashboard_live_state").fetch_one(pool).await.unwrap();
    assert_eq!(from_day, 0, "rebuilt without older messages, the counts hold every day whole");
    let day = five.div_euclid(DAY);
    let before: Vec<(i64, String, i64, i64)> = live_counts(&app).await.into_iter().filter(|c| c.0 == day).collect();
    assert_eq!(before.len(), 4, "in, out, a wait, a failure: {before:?}");
    let d = app.ui(&admin, GetDashboard {}).await.unwrap();
    // Today and yesterday: an hour back is yesterday just after midnight.
    let recent = &d.days[d.days.len() - 2..];
    let sum = |f: fn(&app::dashboard::DayCount) -> i64| recent.iter().map(f).sum::<i64>();
    assert_eq!((sum(|d| d.inbound), sum(|d| d.outbound)), (inbound, outbound));
    assert_eq!(d.replies_measured, inbound + 1);
    let shown: Vec<(Option<i64>, i64)> = d.failures.iter().map(|f| (f.code, f.count)).collect();
    assert_eq!(shown, [(Some(21610), 1), (Some(30008), 1), (Some(63016), 1)]);
    let shown = &d.days[d.days.len() - 6];
    assert_eq!((shown.inbound, shown.outbound), (1, 2), "{:?}", d.days);
    let kept: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT day, kind, item, count FROM dashboard_counts WHERE day = $1 AND kind <> 'sealed' ORDER BY kind, item",
    )
    .bind(day)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(kept, before, "kept as counted");
    assert!(live_counts(&app).await.iter().all(|c| c.0 != day), "the day's live counts are dropped once it is kept");

    // Counts of a day before the dashboard's window are dropped by the lifecycle sweep.
    let old = switchboard::now_ms() - 20 * DAY;
    put(pool, &conversation, &connector, "00000000000000000000000000000010", "inbound", old).await;
    let old_day = old.div_euclid(DAY);
    eventually("the old day's counts dropped", || async {
        live_counts(&app).await.iter().all(|c| c.0 != old_day).then_some(())
    })
    .await;
}

/// The database's buckets (for its triggers) and the server's (for its recounts) are the same.
#[tokio::test]
async fn the_databases_wait_buckets_are_the_servers() {
    let app = spawn_app().await;
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT bucket, floor_ms FROM wait_buckets ORDER BY bucket")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 601);
    for (bucket, floor) in rows {
        assert_eq!(floor, switchboard::dashboard::bucket_floor(bucket), "bucket {bucket}");
    }
}
