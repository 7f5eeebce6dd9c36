//! The inbox's search: words in the messages' text, accents and case aside, through an index that
//! follows rewrites and deletions; guests by any part of their number or name.

use std::time::Duration;

use super::{guest, say, write};
use crate::common::{eventually, spawn_app, spawn_app_tuned, TestApp};
use app::{
    connectors::api::DeleteConnector,
    inbox::{
        api::{EndConversation, GetInbox},
        InboxFilter,
    },
};

/// The text is indexed after the webhook's transaction (SQLite: a queue the indexer empties in
/// batches, and every search empties first). Whether a message is still queued or already
/// indexed when its text is rewritten (a /login code masked) or it is deleted, the index follows,
/// and a search finds every message stored before it.
#[tokio::test]
async fn the_search_index_follows_rewrites_and_deletions_queued_or_indexed() {
    // The background indexer is kept out of the way, so which messages are queued is known.
    let app = spawn_app_tuned(|_| {}, |t| t.search_index = Duration::from_secs(3600)).await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let sqlite = app.state.db.backend == switchboard::db::Backend::Sqlite;
    let queued = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM search_queue").fetch_one(&app.state.db.pool).await.unwrap()
    };
    say(&app, &guest(1), "alpha", 1).await;
    say(&app, &guest(2), "bravo", 1).await;
    if sqlite {
        assert!(queued().await >= 2, "the guests' messages wait in the queue");
    }
    assert_eq!(found(&app, &admin, "alpha").await, [guest(1)], "a search finds what is still queued");
    if sqlite {
        assert_eq!(queued().await, 0, "the search indexed the queue first");
    }
    say(&app, &guest(3), "charlie", 1).await;
    say(&app, &guest(4), "delta", 1).await;
    if sqlite {
        assert!(queued().await >= 2);
    }
    // Guests 1 and 2 are indexed, 3 and 4 queued: rewrite one of each, delete one of each.
    let body = |text: &'static str, new: &'static str| {
        let app = &app;
        async move {
            sqlx::query("UPDATE messages SET body = $1 WHERE body = $2")
                .bind(new)
                .bind(text)
                .execute(&app.state.db.pool)
                .await
                .unwrap();
        }
    };
    body("alpha", "echo").await;
    body("charlie", "foxtrot").await;
    for text in ["bravo", "delta"] {
        sqlx::query("DELETE FROM messages WHERE body = $1").bind(text).execute(&app.state.db.pool).await.unwrap();
    }
    assert_eq!(found(&app, &admin, "echo").await, [guest(1)], "an indexed message's new words");
    assert_eq!(found(&app, &admin, "foxtrot").await, [guest(3)], "a queued message's new words");
    for gone in ["alpha", "charlie", "bravo", "delta"] {
        assert!(found(&app, &admin, gone).await.is_empty(), "{gone:?} is still found");
    }
    if sqlite {
        // The index and the messages agree (FTS5 checks every word against the bodies).
        sqlx::query("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)")
            .execute(&app.state.db.pool)
            .await
            .expect("the search index matches the messages");
    }
}

/// Each indexing batch adds a segment to the text index and no write merges them (FTS5's own
/// merging would run inside whichever transaction crossed its threshold, holding the webhooks
/// back): the indexer merges them in steps of its own, after which nothing is left to merge and
/// every message is still found.
#[tokio::test]
async fn the_index_segments_are_merged_by_the_indexer_in_steps_of_its_own() {
    let app = spawn_app_tuned(|_| {}, |t| t.search_index = Duration::from_secs(3600)).await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let db = &app.state.db;
    if db.backend != switchboard::db::Backend::Sqlite {
        // PostgreSQL's GIN index merges its pending list itself.
        assert_eq!(switchboard::inbox::search::merge(db, Duration::MAX).await.unwrap(), 0);
        return;
    }
    let pages = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM message_search_data").fetch_one(&db.pool).await.unwrap()
    };
    let before = pages().await;
    // Twelve batches, each indexed by the search that follows it.
    for n in 1..=12 {
        say(&app, &guest(n), &format!("batch{n} towels please"), 1).await;
        assert_eq!(found(&app, &admin, &format!("batch{n}")).await, [guest(n)]);
    }
    let unmerged = pages().await;
    assert!(unmerged >= before + 12, "a segment per batch: {before} → {unmerged}");
    for index in ["message_search", "guest_search"] {
        let automerge: i64 = sqlx::query_scalar(&format!("SELECT v FROM {index}_config WHERE k = 'automerge'"))
            .fetch_one(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{index}: FTS5 merges inside the writes ({e})"));
        assert_eq!(automerge, 0, "{index}: FTS5 merges inside the writes");
    }
    let steps = switchboard::inbox::search::merge(db, Duration::MAX).await.unwrap();
    assert!(steps > 0, "the indexer found segments to merge");
    let merged = pages().await;
    assert!(merged < unmerged, "merging left {merged} of {unmerged} rows");
    assert_eq!(switchboard::inbox::search::merge(db, Duration::MAX).await.unwrap(), 0, "nothing left to merge");
    assert_eq!(found(&app, &admin, "towels").await.len(), 12, "every message is still found");
    sqlx::query("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)")
        .execute(&db.pool)
        .await
        .expect("the merged index matches the messages");
}

/// The guests whose conversations a search for `q` lists, in order.
async fn found(app: &TestApp, admin: &reqwest::Client, q: &str) -> Vec<String> {
    let rows =
        app.ui(admin, GetInbox { filter: InboxFilter { q: q.to_string(), ..Default::default() } }).await.unwrap().rows;
    let mut guests: Vec<String> = rows.into_iter().map(|r| r.guest).collect();
    guests.sort();
    guests
}

#[tokio::test]
async fn search_finds_words_whatever_their_case_and_accents() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, &guest(1), "¿Dónde está el café?", 1).await;
    say(&app, &guest(2), "Is the SAUNA open on Sundays?", 1).await;
    say(&app, &guest(3), "Crème brûlée tonight, s'il vous plaît", 1).await;
    assert_eq!(found(&app, &admin, "cafe").await, [guest(1)], "accents fold");
    assert_eq!(found(&app, &admin, "CAFÉ").await, [guest(1)], "and case");
    assert_eq!(found(&app, &admin, "donde").await, [guest(1)]);
    assert_eq!(found(&app, &admin, "sauna").await, [guest(2)]);
    assert_eq!(found(&app, &admin, "creme brulee").await, [guest(3)], "every word");
    assert_eq!(found(&app, &admin, "brul").await, [guest(3)], "the start of a word");
    assert_eq!(found(&app, &admin, "creme brul").await, [guest(3)], "the last word may be still being typed");
    assert!(found(&app, &admin, "cre brulee").await.is_empty(), "the words before it are whole words");
    assert!(found(&app, &admin, "sauna cafe").await.is_empty(), "words of two conversations: none has both");
    // A word with a character PostgreSQL's parser reads as a separator (a superscript digit) is
    // one word to FTS5 and a phrase to PostgreSQL: either way, its parts apart are not it.
    say(&app, &guest(4), "The suite is 40m²h, isn't it?", 1).await;
    say(&app, &guest(5), "40m please, and h too", 1).await;
    assert_eq!(found(&app, &admin, "40m²h").await, [guest(4)], "a word's parts, side by side");
    // What a search engine would read as syntax is text here.
    for q in ["\"sauna", "sauna*", "NEAR(sauna cafe)", "sauna OR cafe", "-sauna", "^", "()"] {
        let guests = found(&app, &admin, q).await;
        assert!(guests.is_empty() || guests == [guest(2)], "{q:?} gave {guests:?}");
    }
}

/// A guest is found by any part of their number or name, whatever its case and accents; a renamed
/// guest by their new name only; a deleted conversation by nothing.
#[tokio::test]
async fn guests_are_found_by_any_part_of_their_number_or_name() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    write(&app, "whatsapp:+15550001234", "whatsapp:+14155550100", "Hello", "José Álvarez").await;
    write(&app, "whatsapp:+15550009876", "whatsapp:+14155550100", "Hello", "Zoë").await;
    write(&app, "whatsapp:+15550005555", "whatsapp:+14155550100", "Hello", "").await;
    eventually("three conversations", || async {
        (app.ui(&admin, GetInbox { filter: InboxFilter::default() }).await.unwrap().rows.len() == 3).then_some(())
    })
    .await;
    let jose = "whatsapp:+15550001234";
    let zoe = "whatsapp:+15550009876";
    assert_eq!(found(&app, &admin, "jose").await, [jose], "accents and case aside");
    assert_eq!(found(&app, &admin, "ÁLVAREZ").await, [jose]);
    assert_eq!(found(&app, &admin, "é álv").await, [jose], "a part across the words");
    assert_eq!(found(&app, &admin, "zoe").await, [zoe]);
    assert_eq!(found(&app, &admin, "1234").await, [jose], "a part of the number");
    assert_eq!(found(&app, &admin, "+1555000").await.len(), 3);
    assert_eq!(found(&app, &admin, "98").await, [zoe], "two characters");
    assert!(
        found(&app, &admin, "jos%").await.is_empty() && found(&app, &admin, "_ose").await.is_empty(),
        "wildcards are text"
    );

    // Renamed (the guest's WhatsApp profile name changed): found by the new name only.
    write(&app, "whatsapp:+15550001234", "whatsapp:+14155550100", "Hi again", "Pepe").await;
    eventually("the new name", || async { (found(&app, &admin, "pepe").await == [jose]).then_some(()) }).await;
    assert!(found(&app, &admin, "álvarez").await.is_empty(), "the old name is gone from the index");

    // Its conversations gone with the connector, the guest is found by nothing.
    let (connector,): (String,) =
        sqlx::query_as("SELECT id FROM connectors").fetch_one(&app.state.db.pool).await.unwrap();
    app.ui(&admin, DeleteConnector { id: connector }).await.unwrap();
    assert!(found(&app, &admin, "pepe").await.is_empty() && found(&app, &admin, "1234").await.is_empty());
    if app.state.db.backend == switchboard::db::Backend::Sqlite {
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM guest_search WHERE guest_search MATCH '1234'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(left, 0, "nothing of the guest is left in the index");
    }
}

/// A word many messages hold is not looked up message by message and sorted (ten million messages
/// with "towels" in one of eight took 4.2 s): the list is walked in its order, each conversation
/// asked whether it holds the words. Two instances get the same messages, one walking for every
/// search with words, one gathering as for rare words: the walk finds, page after page and in its
/// list's order, what gathering finds, a guest's name included; and so does a walk that matches
/// each guest's number or name as it reads it (a number's start every guest shares).
#[tokio::test]
async fn a_word_many_messages_hold_walks_the_list_and_finds_what_gathering_finds() {
    // Walks for the words, gathering the guests; walks for both; gathers both.
    let walking = spawn_app_tuned(|_| {}, |t| t.search_walk_from = 0).await;
    let walking_guests = spawn_app_tuned(
        |_| {},
        |t| {
            t.search_walk_from = 0;
            t.guest_walk_from = 0
        },
    )
    .await;
    let gathering = spawn_app().await;
    const GUESTS: usize = 32;
    let body = |i: usize| match i {
        5 => "Hello",
        7 => "Is the sauna open?",
        2 => "When is breakfast served in the 40m²h suite?",
        _ if i.is_multiple_of(3) => "Fresh towels and breakfast, please",
        _ if i % 4 == 1 => "Crème brûlée after breakfast?",
        _ => "When is breakfast?",
    };
    let mut admins = vec![];
    for app in [&walking, &walking_guests, &gathering] {
        app.ready_path().await;
        admins.push(app.browser("admin@example.com").await);
        for i in 0..GUESTS {
            // Guest 5 says no word searched for, but is named for one.
            let name = if i == 5 { "Breakfast Club".to_string() } else { format!("Guest {i}") };
            write(app, &guest(i), "whatsapp:+14155550100", body(i), &name).await;
        }
        eventually("every reply", || async {
            let sent = app.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api").count();
            (sent == GUESTS).then_some(())
        })
        .await;
        // A few conversations ended: a walk reads each state in order and merges the two.
        let admin = admins.last().unwrap();
        for ended in [3, 4, 13, 30] {
            let number = guest(ended).trim_start_matches("whatsapp:").to_string();
            let rows =
                app.ui(admin, GetInbox { filter: InboxFilter { q: number, ..Default::default() } }).await.unwrap();
            let [row] = &rows.rows[..] else { panic!("one conversation for {}", guest(ended)) };
            app.ui(admin, EndConversation { id: row.id.clone() }).await.unwrap();
        }
    }
    let (walker, guest_walker, gatherer) = (&admins[0], &admins[1], &admins[2]);
    // Each instance's own order (its replies came at their own times).
    let everyone = pages(&walking, walker, "").await;
    let everyone_too = pages(&walking_guests, guest_walker, "").await;
    assert_eq!((everyone.len(), everyone_too.len()), (GUESTS, GUESTS));
    // The last word begun, in plain letters (spelled out on SQLite) or with accents (the messages
    // gathered once); a rare word; none found.
    let searches = [
        ("breakfast", GUESTS - 1),
        ("towels", 11),
        ("fresh towels bre", 11),
        ("creme bru", 5),
        ("crème brûl", 5),
        ("sauna", 1),
        // A word PostgreSQL reads as a phrase (a superscript digit parts it).
        ("40m²h suite", 1),
        // Guests' numbers and names, which the second walker matches as it reads each guest; text
        // the index and `LIKE` read as text, not as their syntax.
        ("+1555", GUESTS),
        ("guest 2", 11),
        ("club", 1),
        ("05", 1),
        ("o'brien", 0),
        ("50\\%_", 0),
        ("\"club", 0),
    ];
    for (app, admin) in [(&gathering, gatherer), (&walking, walker), (&walking_guests, guest_walker)] {
        assert!(pages(app, admin, "towels sauna").await.is_empty());
    }
    for (q, least) in searches {
        let mut found = pages(&gathering, gatherer, q).await;
        found.sort();
        assert!(found.len() >= least, "{q:?} found {found:?}");
        let in_order: Vec<String> = everyone.iter().filter(|g| found.binary_search(g).is_ok()).cloned().collect();
        assert_eq!(pages(&walking, walker, q).await, in_order, "{q:?}: what gathering finds, in the list's order");
        let in_its_order: Vec<String> =
            everyone_too.iter().filter(|g| found.binary_search(g).is_ok()).cloned().collect();
        let walked = pages(&walking_guests, guest_walker, q).await;
        assert_eq!(walked, in_its_order, "{q:?}: the same, each guest matched as it is read");
    }
    let breakfast = pages(&walking, walker, "breakfast").await;
    assert!(breakfast.contains(&guest(5)), "the guest named for the word");
    assert!(!breakfast.contains(&guest(7)));
}

/// The guests of every page of the inbox under the search `q`, in order, following its cursors.
async fn pages(app: &TestApp, admin: &reqwest::Client, q: &str) -> Vec<String> {
    let mut all = vec![];
    let mut after = None;
    loop {
        let filter = InboxFilter { q: q.to_string(), after, ..Default::default() };
        let page = app.ui(admin, GetInbox { filter }).await.unwrap();
        assert!(page.rows.len() <= 25);
        all.extend(page.rows.into_iter().map(|r| r.guest));
        match page.older {
            Some(older) => after = Some(older),
            None => return all,
        }
    }
}

/// A search reads its own organization's messages (the index holds each message's connector beside
/// its words): each organization finds its own conversations by their words and none of the
/// other's, whether the search gathers them or walks its list; the connector's id is no word of any
/// message.
#[tokio::test]
async fn each_organization_finds_its_own_messages_and_none_of_anothers() {
    for walk_from in [10_000, 0] {
        let app = spawn_app_tuned(|_| {}, |t| t.search_walk_from = walk_from).await;
        app.ready_path().await;
        let admin = app.browser("admin@example.com").await;
        say(&app, &guest(1), "Fresh towels please", 1).await;
        say(&app, &guest(2), "Is the sauna open?", 1).await;

        // A second organization's two connectors, each with a number, and their conversations and
        // messages, written straight into the database.
        let pool = &app.state.db.pool;
        let other = app.other_organization().await;
        let now = switchboard::now_ms();
        let mut connectors = vec![];
        let messages = [
            (0, "More towels"),
            (0, "Towels for the spa"),
            (1, "Clean towels, please"),
            // `unaccent` turns ʻ into a quote, which PostgreSQL's query text doubles.
            (1, "Greetings from Oʻzbekiston"),
        ];
        for (c, body) in messages.iter().enumerate() {
            let (on, body) = *body;
            if connectors.len() == on {
                let (connector, number) = (switchboard::new_id(), switchboard::new_id());
                sqlx::query(
                    "INSERT INTO connectors (id, org_id, name, account_sid, auth_token_enc, receive_inbound, state, \
                     health, webhook_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, 'active', \
                     'connected', $6, $7, $7)",
                )
                .bind(&connector)
                .bind(&other.org_id)
                .bind(format!("Other {on}"))
                .bind(format!("AC0000000000000000000000000000000{on}"))
                .bind(vec![0u8; 32])
                .bind(switchboard::new_id())
                .bind(now)
                .execute(pool)
                .await
                .unwrap();
                sqlx::query(
                    "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, active, \
                     created_at) VALUES ($1, $2, $3, $4, 'whatsapp', $5, 1, $6)",
                )
                .bind(&number)
                .bind(&connector)
                .bind(format!("whatsapp:+1415555090{on}"))
                .bind(format!("+1415555090{on}"))
                .bind(format!("XE0000000000000000000000000000000{on}"))
                .bind(now)
                .execute(pool)
                .await
                .unwrap();
                connectors.push((connector, number));
            }
            let (connector, number) = &connectors[on];
            let conversation = crate::common::conversation_row(pool, number, &guest(10 + c), now).await;
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
                 VALUES ($1, $2, $3, 'inbound', $4, 'received', $5)",
            )
            .bind(switchboard::new_id())
            .bind(&conversation)
            .bind(connector)
            .bind(body)
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
        }
        let theirs = |q: &str| {
            let filter = InboxFilter { q: q.to_string(), ..Default::default() };
            let (app, other) = (&app, &other);
            async move {
                use app::ports::*;
                let mut guests: Vec<String> =
                    app.state.inbox(other, filter).await.unwrap().rows.into_iter().map(|r| r.guest).collect();
                guests.sort();
                guests
            }
        };

        assert_eq!(found(&app, &admin, "towels").await, [guest(1)], "walking from {walk_from}");
        assert_eq!(found(&app, &admin, "towel").await, [guest(1)], "the start of a word");
        assert!(found(&app, &admin, "spa").await.is_empty(), "the other organization's word");
        assert_eq!(theirs("towels").await, [guest(10), guest(11), guest(12)], "on both connectors");
        assert_eq!(theirs("towel").await, [guest(10), guest(11), guest(12)]);
        assert_eq!(theirs("spa").await, [guest(11)]);
        assert_eq!(theirs("Oʻzbekiston").await, [guest(13)], "walking from {walk_from}");
        assert_eq!(theirs("greetings oʻzb").await, [guest(13)]);
        assert!(theirs("sauna").await.is_empty() && theirs("fresh").await.is_empty());
        let ours: String = sqlx::query_scalar("SELECT id FROM connectors WHERE org_id <> $1")
            .bind(&other.org_id)
            .fetch_one(pool)
            .await
            .unwrap();
        let (theirs_first, theirs_second) = (&connectors[0].0, &connectors[1].0);
        for id in [&ours, &ours[..4], theirs_first, &theirs_first[..4], theirs_second] {
            assert!(found(&app, &admin, id).await.is_empty(), "{id:?} found messages");
            assert!(theirs(id).await.is_empty(), "{id:?} found the other's messages");
        }
    }
}
