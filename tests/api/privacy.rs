//! Privacy: a guest forgotten (from a conversation's page, through the REST API, at their own
//! `/forget` with an admin's approval or at once) leaves nothing of them in any table nor in the
//! data folder, touches no other guest, and leaves an audit line without them; who may do it.

use crate::{
    access::{code_for, policy, say},
    common::{eventually, spawn_app, spawn_app_tuned, TestApp, TOKEN},
};
use app::{
    ports::*,
    privacy::{
        api::{DecideForget, ForgetGuest, GetAudit, GetPrivacy, SetForgetMode},
        ForgetMode, Forgotten,
    },
    sharing::{
        api::{DecideAccess, GetSharing},
        AccessPolicy,
    },
};
use twilio_sim::{Inbound, MediaFile};

const ANA: &str = "whatsapp:+15550001111";
const BEN: &str = "whatsapp:+15550002222";
const CAROL: &str = "whatsapp:+15550003333";
const PNG: &[u8] = &[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4];

/// Where each of `needles` is found in the database: every column of every table (text as text,
/// anything else as its text or its bytes), as "table.column".
async fn found_in_database(app: &TestApp, needles: &[&str]) -> Vec<String> {
    let pool = &app.state.db.pool;
    let postgres = app.state.db.backend == switchboard::db::Backend::Postgres;
    let columns: Vec<(String, String, String)> = if postgres {
        sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    } else {
        sqlx::query_as(
            "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    };
    assert!(columns.len() > 100, "every table's columns listed: {}", columns.len());
    let mut found = Vec::new();
    for (table, column, kind) in &columns {
        for needle in needles {
            let test = match (postgres, kind.to_lowercase().as_str()) {
                (true, "bytea") => format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0"),
                (true, _) => format!("\"{column}\"::text LIKE '%' || $1 || '%'"),
                (false, _) => format!("(instr(CAST(\"{column}\" AS BLOB), CAST($1 AS BLOB)) > 0)"),
            };
            let sql = format!("SELECT COUNT(*) FROM \"{table}\" WHERE {test}");
            let (n,): (i64,) = sqlx::query_as(&sql).bind(*needle).fetch_one(pool).await.unwrap();
            if n > 0 {
                found.push(format!("{table}.{column} ({needle})"));
            }
        }
    }
    found
}

/// A guest's conversation ids, as the database has them.
async fn conversations_of(app: &TestApp, address: &str) -> Vec<String> {
    sqlx::query_as::<_, (String,)>("SELECT id FROM conversations WHERE guest_address = $1")
        .bind(address)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect()
}

/// Ana sends an image with `body`; waits until it is stored and she has an answer.
async fn ana_sends_an_image(app: &TestApp, body: &str, profile_name: Option<&str>) {
    let message = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: ANA.into(),
        body: body.into(),
        profile_name: profile_name.map(str::to_string),
        media: vec![MediaFile { content_type: "image/png".into(), data: PNG.to_vec() }],
        ..Default::default()
    };
    app.sim.sim.guest_message(message).await.unwrap();
    eventually("Ana answered, her image stored", || async {
        let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM media WHERE state = 'stored'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        (stored == 1 && !app.replies_to(ANA).is_empty()).then_some(())
    })
    .await;
}

/// Ana, as much of her as the organization can hold: messages with her name, her number and her
/// email in them and an image, a verified email, login codes, an approved access request (which
/// put her email on the agent's shared list), execution records. Ben writes too.
async fn ana_everywhere(app: &TestApp, agent: &str) -> Vec<String> {
    let admin = app.browser("admin@example.com").await;
    let introduction = "Hello, Anastasia Quill here: +15550001111, ana.quill@example.com";
    ana_sends_an_image(app, introduction, Some("Anastasia Quill")).await;
    say(app, BEN, "When is breakfast?").await;
    policy(app, &admin, agent, AccessPolicy::RequireApproval, false).await;
    say(app, ANA, "/login ana.quill@example.com").await;
    let (code, _) = code_for(app, "ana.quill@example.com");
    say(app, ANA, &format!("/login {code}")).await;
    let sharing = app.ui(&admin, GetSharing { agent_id: agent.into() }).await.unwrap();
    let request = sharing.requests.iter().find(|r| r.guest == ANA).expect("Ana's access request");
    app.ui(&admin, DecideAccess { agent_id: agent.into(), request_id: request.id.clone(), approve: true })
        .await
        .unwrap();
    say(app, ANA, "When is breakfast?").await;
    let media: Vec<(String,)> = sqlx::query_as("SELECT id FROM media").fetch_all(&app.state.db.pool).await.unwrap();
    media.into_iter().map(|(id,)| id).collect()
}

// (Lower-cased too: the text index keeps its words so.)
const ANA_NEEDLES: [&str; 6] = ["5550001111", "ana.quill@example.com", "Anastasia", "Quill", "anastasia", "quill"];

#[tokio::test]
async fn a_forgotten_guest_leaves_nothing_in_any_table_nor_on_disk_and_no_one_else_is_touched() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let media = ana_everywhere(&app, &agent).await;
    // Her words are in the text index (a search indexes what is queued first).
    let search =
        |q: &str| app::inbox::api::GetInbox { filter: app::inbox::InboxFilter { q: q.into(), ..Default::default() } };
    assert_eq!(app.ui(&admin, search("Quill")).await.unwrap().rows.len(), 1);
    assert_eq!(app.ui(&admin, search("5550001111")).await.unwrap().rows.len(), 1);
    let before = found_in_database(&app, &ANA_NEEDLES).await;
    for table in [
        "messages.body",
        "conversations.guest_address",
        "guest_identities.email",
        "login_codes.guest_address",
        "access_requests.subject",
        "shared_emails.email",
        "executions.input",
    ] {
        assert!(before.iter().any(|f| f.starts_with(table)), "{table} holds Ana before: {before:?}");
    }
    let ben_before = conversations_of(&app, BEN).await;
    let (ben_messages,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE guest_address = $1)",
    )
    .bind(BEN)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();

    let conversation = conversations_of(&app, ANA).await.pop().unwrap();
    let f = app.ui(&admin, ForgetGuest { conversation_id: conversation.clone() }).await.unwrap();
    assert_eq!((f.conversations, f.media, f.emails, f.access_requests), (1, 1, 1, 1), "{f:?}");
    assert!(f.messages >= 8 && f.login_codes >= 1, "{f:?}");

    let after = found_in_database(&app, &ANA_NEEDLES).await;
    assert!(after.is_empty(), "Ana is still in {after:?}");
    for id in &media {
        assert_eq!(app.state.media.load(&app.state.db, id).await, None, "her image's file is gone");
    }
    if app.state.db.backend == switchboard::db::Backend::Sqlite {
        // Nor in the database's file or its log: what was deleted is overwritten, the log emptied.
        let found = found_on_disk(&app, &ANA_NEEDLES);
        assert!(found.is_empty(), "still on disk: {found:?}");
    }
    // The text index no longer finds her words.
    for q in ["Quill", "5550001111", "Anastasia"] {
        let inbox = app.ui(&admin, search(q)).await.unwrap();
        assert!(inbox.rows.is_empty(), "{q}: {:?}", inbox.rows);
    }
    // Ben is untouched.
    assert_eq!(conversations_of(&app, BEN).await, ben_before);
    let (ben_after,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE guest_address = $1)",
    )
    .bind(BEN)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(ben_after, ben_messages);
    // The conversation's page is gone; the audit log says how much went and who did it, not whose.
    let gone = app.ui(&admin, app::inbox::api::GetConversation { id: conversation }).await.unwrap_err();
    assert!(matches!(gone, app::AppError::NotFound(_)), "{gone:?}");
    let audit = app.ui(&admin, GetAudit { older: None }).await.unwrap();
    let line = &audit.entries[0];
    assert_eq!((line.action.as_str(), line.actor.as_str()), ("Guest forgotten", "admin@example.com"));
    assert!(line.detail.starts_with(&f.summary()), "{}", line.detail);

    // She writes again: a new conversation, nothing of the old one.
    say(&app, ANA, "Hello again").await;
    assert_eq!(conversations_of(&app, ANA).await.len(), 1);
}

/// The database file and its write-ahead log (SQLite), read from disk: where each of `needles` is.
fn found_on_disk(app: &TestApp, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in ["switchboard.db", "switchboard.db-wal"] {
        // The database's file is there; its log only while it holds something.
        let read = std::fs::read(app.data_dir.join(file));
        let bytes = if file == "switchboard.db" { read.unwrap() } else { read.unwrap_or_default() };
        for needle in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!("{needle} in {file} ({} bytes)", bytes.len()));
            }
        }
    }
    found
}

/// A guest forgotten while a read is open (an export reads one snapshot from its start to its
/// end): once the read is over, nothing of them is left in the database's file or its log. SQLite
/// cannot empty its log while a reader holds an older snapshot; the erasure must not leave that
/// for the log's next restart (at 64 MB, or the process's).
#[tokio::test]
async fn a_guest_forgotten_while_an_export_reads_is_gone_from_the_log_once_it_ends() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, ANA, "Hello, Anastasia Quill here").await;
    eventually("her reply", || async { (!app.replies_to(ANA).is_empty()).then_some(()) }).await;
    say(&app, BEN, "When is breakfast?").await;
    // An export's read, held open (its snapshot taken by its first read).
    let mut reading = app.state.db.pool.begin().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&mut *reading).await.unwrap();
    assert!(n >= 2);
    let conversation = conversations_of(&app, ANA).await.pop().unwrap();
    let f = app.ui(&admin, ForgetGuest { conversation_id: conversation }).await.unwrap();
    assert_eq!(f.conversations, 1, "{f:?}");
    assert!(found_in_database(&app, &["5550001111", "Anastasia"]).await.is_empty());
    if app.state.db.backend == switchboard::db::Backend::Sqlite {
        // Still in the log meanwhile: the reader's snapshot holds it.
        assert!(!found_on_disk(&app, &["5550001111"]).is_empty(), "the read held nothing back");
    }
    reading.rollback().await.unwrap();
    if app.state.db.backend == switchboard::db::Backend::Sqlite {
        eventually("the log emptied of her", || async {
            found_on_disk(&app, &["5550001111", "Anastasia"]).is_empty().then_some(())
        })
        .await;
    }
    // Ben, who wrote after her, is still there.
    assert_eq!(conversations_of(&app, BEN).await.len(), 1);
}

#[tokio::test]
async fn a_guests_forget_waits_for_an_admin_or_is_carried_out_after_its_reply() {
    let app = spawn_app().await;
    let (_, _, _, _agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    for guest in [ANA, BEN, CAROL] {
        say(&app, guest, "When is breakfast?").await;
    }
    assert!(say(&app, ANA, "/help").await.contains("/forget"));

    // Approval (the default): the request waits on the Privacy page.
    let answer = say(&app, ANA, "/forget").await;
    assert!(answer.starts_with("Your request to be forgotten was sent to Test Org."), "{answer}");
    assert!(say(&app, ANA, "/forget").await.contains("already"), "one request at a time");
    say(&app, CAROL, "/forget").await;
    let privacy = app.ui(&admin, GetPrivacy {}).await.unwrap();
    assert_eq!(privacy.mode, ForgetMode::Approval);
    let guests: Vec<&str> = privacy.requests.iter().map(|r| r.guest.as_str()).collect();
    assert_eq!(guests, [ANA, CAROL]);
    assert_eq!(
        (privacy.requests[0].conversations, privacy.requests[0].messages),
        (1, 8),
        "four messages and their answers"
    );
    assert_eq!(conversations_of(&app, ANA).await.len(), 1, "nothing goes before approval");

    let approved = app.ui(&admin, DecideForget { id: privacy.requests[0].id.clone(), approve: true }).await.unwrap();
    assert!(approved.starts_with("Forgotten: 1 conversation, 8 messages"), "{approved}");
    assert!(conversations_of(&app, ANA).await.is_empty());
    let declined = app.ui(&admin, DecideForget { id: privacy.requests[1].id.clone(), approve: false }).await.unwrap();
    assert!(declined.starts_with("Declined"), "{declined}");
    assert_eq!(conversations_of(&app, CAROL).await.len(), 1, "a declined request keeps the guest");
    let again = app.ui(&admin, DecideForget { id: privacy.requests[1].id.clone(), approve: true }).await.unwrap_err();
    assert!(matches!(again, app::AppError::Conflict(_)), "{again:?}");
    assert!(app.ui(&admin, GetPrivacy {}).await.unwrap().requests.is_empty());
    let kept: Vec<(String, String)> = sqlx::query_as("SELECT state, guest_address FROM forget_requests ORDER BY id")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(kept, [("done".into(), String::new()), ("declined".into(), String::new())], "no number kept");

    // At once: the guest is told, then forgotten.
    app.ui(&admin, SetForgetMode { mode: ForgetMode::Automatic }).await.unwrap();
    let told = say(&app, BEN, "/forget").await;
    assert!(told.starts_with("Done:"), "{told}");
    eventually("Ben forgotten", || async { conversations_of(&app, BEN).await.is_empty().then_some(()) }).await;
    assert!(found_in_database(&app, &["5550002222"]).await.is_empty());
    let audit = app.ui(&admin, GetAudit { older: None }).await.unwrap();
    let actions: Vec<(&str, &str)> =
        audit.entries.iter().take(4).map(|e| (e.action.as_str(), e.actor.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("Guest forgotten", "The guest (/forget)"),
            ("Handling of /forget changed", "admin@example.com"),
            ("Request to be forgotten declined", "admin@example.com"),
            ("Guest forgotten", "admin@example.com"),
        ]
    );
}

#[tokio::test]
async fn only_the_organizations_admins_forget_and_read_the_audit_log_and_the_api_says_which_token() {
    let app = spawn_app().await;
    let (admin_me, _, _, _) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, ANA, "When is breakfast?").await;
    let conversation = conversations_of(&app, ANA).await.pop().unwrap();

    // An agent owner, and another organization's admin.
    crate::inbox::add_owner(&app, &admin).await;
    let owner = app.browser("owner@example.com").await;
    let refused = |e: app::AppError| assert!(matches!(e, app::AppError::Forbidden), "{e:?}");
    refused(app.ui(&owner, ForgetGuest { conversation_id: conversation.clone() }).await.unwrap_err());
    refused(app.ui(&owner, GetPrivacy {}).await.unwrap_err());
    refused(app.ui(&owner, GetAudit { older: None }).await.unwrap_err());
    refused(app.ui(&owner, SetForgetMode { mode: ForgetMode::Automatic }).await.unwrap_err());
    let other = app.other_organization().await;
    let outsider = app.browser(&other.email).await;
    let e = app.ui(&outsider, ForgetGuest { conversation_id: conversation.clone() }).await.unwrap_err();
    assert!(matches!(e, app::AppError::NotFound(_)), "{e:?}");
    assert_eq!(conversations_of(&app, ANA).await.len(), 1, "nothing went");
    let bad = app.ui(&admin, GetAudit { older: Some("' OR 1=1".into()) }).await.unwrap_err();
    assert!(matches!(bad, app::AppError::Invalid { .. }), "{bad:?}");

    // The REST API: by number, admins only; the audit line names the token.
    let token = app.state.create_token(&admin_me, "crm sync").await.unwrap().token;
    let post = |token: String, body: serde_json::Value| {
        let request = app.http.post(format!("{}/api/guests/forget", app.url)).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = post(token.clone(), serde_json::json!({"number": "15550001111"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid")), "{body}");
    let owner_me =
        app.state.authenticate("owner@example.com".into(), "correct horse battery".into(), None).await.unwrap();
    let owner_token = app.state.create_token(&owner_me, "mine").await.unwrap().token;
    let (status, _) = post(owner_token, serde_json::json!({"number": "+15550001111"})).await;
    assert_eq!(status, 403);
    let (status, body) = post(token.clone(), serde_json::json!({"number": "+15550001111"})).await;
    assert_eq!(status, 200, "{body}");
    let f: Forgotten = Forgotten {
        conversations: body["conversations"].as_i64().unwrap(),
        messages: body["messages"].as_i64().unwrap(),
        media: body["media"].as_i64().unwrap(),
        emails: body["emails"].as_i64().unwrap(),
        access_requests: body["access_requests"].as_i64().unwrap(),
        login_codes: body["login_codes"].as_i64().unwrap(),
    };
    assert_eq!((f.conversations, f.messages), (1, 2));
    assert!(conversations_of(&app, ANA).await.is_empty());
    let (status, body) = post(token.clone(), serde_json::json!({"number": "+15550001111"})).await;
    assert_eq!((status, body["conversations"].as_i64()), (200, Some(0)), "nothing left: zeros");

    let audit: serde_json::Value =
        app.http.get(format!("{}/api/audit", app.url)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(audit[0]["actor"], "admin@example.com (API token \u{201c}crm sync\u{201d})", "{audit}");
    assert_eq!(audit[0]["action"], "Guest forgotten");
    assert!(!audit.to_string().contains("5550001111") && !audit.to_string().contains(TOKEN), "{audit}");
}

/// Each audited change, made as the pages make it, leaves one line naming who did it and to what;
/// an edit that changes no credentials leaves none; no line, nor the CSV export, holds a secret.
#[tokio::test]
async fn the_audit_log_records_each_change_and_never_a_secret() {
    use app::{
        agents::api::RemoveChannel,
        connectors::api::{RegenerateWebhookUrl, SetAllWebhooks, UpdateConnector},
        inbox::api::SetPaused,
    };
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, ANA, "When is breakfast?").await;
    let conversation = conversations_of(&app, ANA).await.pop().unwrap();
    let edit = |auth_token: &str| UpdateConnector {
        id: connector.clone(),
        name: "Front Desk".into(),
        account_sid: app.account_sid.clone(),
        auth_token: auth_token.into(),
        receive_inbound: Some("on".into()),
    };
    app.ui(&admin, edit("")).await.unwrap();
    app.ui(&admin, edit(TOKEN)).await.unwrap();
    app.ui(&admin, SetPaused { id: conversation.clone(), paused: true }).await.unwrap();
    app.ui(&admin, SetPaused { id: conversation.clone(), paused: false }).await.unwrap();
    let download = |path: String| {
        let (app, admin) = (&app, &admin);
        async move {
            let response = app.export(admin, &path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };
    download(format!("/export/conversations/{conversation}.csv")).await;
    download("/export/conversations.json".into()).await;
    app.ui(&admin, RegenerateWebhookUrl { id: connector.clone() }).await.unwrap();
    app.ui(&admin, SetAllWebhooks { connector_id: connector.clone() }).await.unwrap();
    let channel = app.state.list_channels(&app.admin_me().await, &agent).await.unwrap().pop().unwrap().id;
    app.ui(&admin, RemoveChannel { agent_id: agent.clone(), channel_id: channel }).await.unwrap();
    let token = app.ui(&admin, app::accounts::api::CreateToken { name: "nightly report".into() }).await.unwrap();
    app.ui(&admin, app::accounts::api::RevokeToken { id: token.row.id.clone() }).await.unwrap();

    let audit = app.ui(&admin, GetAudit { older: None }).await.unwrap();
    let lines: Vec<(&str, &str, &str)> =
        audit.entries.iter().rev().map(|e| (e.action.as_str(), e.subject.as_str(), e.detail.as_str())).collect();
    let conversation_subject = format!("Conversation {conversation}");
    let expected: Vec<(&str, &str)> = vec![
        ("Connector added", "Front Desk"),
        ("Webhook set", "Front Desk"),
        ("Agent created", "concierge"),
        ("Channel added", "concierge"),
        ("Connector credentials changed", "Front Desk"),
        ("Conversation taken over", &conversation_subject),
        ("Conversation handed back", &conversation_subject),
        ("Export downloaded", &conversation_subject),
        ("Export downloaded", "The inbox's list"),
        ("Webhook URL regenerated", "Front Desk"),
        ("Webhook set", "Front Desk"),
        ("Channel removed", "concierge"),
        ("API token created", "nightly report"),
        ("API token revoked", "nightly report"),
    ];
    assert_eq!(lines.iter().map(|l| (l.0, l.1)).collect::<Vec<_>>(), expected, "{lines:#?}");
    assert_eq!(lines[1].2, "+14155550100 (WhatsApp): configured.");
    assert_eq!(lines[3].2, "+14155550100 (WhatsApp) on Front Desk.");
    assert_eq!(lines[4].2, "A new Auth Token.");
    assert_eq!(lines[10].2, "Every active number: 1 of 1 configured.");
    assert!(!lines.iter().any(|l| l.2.contains(&token.token) || l.2.contains(&token.row.prefix)), "no token");
    assert!(audit.entries.iter().all(|e| e.actor == "admin@example.com"));

    // The export: every line, and itself last written (first, newest first).
    let csv = download("/export/audit.csv".into()).await;
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows[0], "\"at_utc\",\"actor\",\"action\",\"subject\",\"detail\"");
    assert_eq!(rows.len(), 1 + lines.len() + 1, "{csv}");
    assert!(rows[1].contains("\"Export downloaded\",\"Audit log\""), "{}", rows[1]);

    // No secret: not the Auth Token, not the webhook keys (old or new).
    let key = app.webhook_key(&connector).await;
    for secret in [TOKEN, key.as_str()] {
        assert!(!csv.contains(secret));
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE actor LIKE '%' || $1 || '%' OR subject LIKE '%' || $1 || '%' \
             OR detail LIKE '%' || $1 || '%'",
        )
        .bind(secret)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(n, 0);
    }
    // Users added and removed leave lines too; the agent owner cannot download the log.
    crate::inbox::add_owner(&app, &admin).await;
    let newest = app.ui(&admin, GetAudit { older: None }).await.unwrap().entries[0].clone();
    assert_eq!(
        (newest.action.as_str(), newest.subject.as_str(), newest.detail.as_str()),
        ("User added", "owner@example.com", "Agent owner")
    );
    let owner = app.browser("owner@example.com").await;
    let refused = app.export(&owner, "/export/audit.csv").await;
    assert_eq!(refused.status(), 403);
    let outsider = reqwest::get(format!("{}/export/audit.csv", app.url)).await.unwrap();
    assert_eq!(outsider.status(), 401);
}

/// Moves a conversation's messages, execution records and times back by `days` (all of them, or
/// only messages older than `only_before`).
async fn age(app: &TestApp, address: &str, days: i64) {
    let shift = days * 86_400_000;
    let pool = &app.state.db.pool;
    let conversation = conversations_of(app, address).await.pop().unwrap();
    for sql in [
        "UPDATE messages SET created_at = created_at - $1 WHERE conversation_id = $2",
        "UPDATE executions SET created_at = created_at - $1 WHERE conversation_id = $2",
        "UPDATE conversations SET created_at = created_at - $1, last_activity_at = last_activity_at - $1, \
         last_inbound_at = last_inbound_at - $1 WHERE id = $2",
    ] {
        sqlx::query(sql).bind(shift).bind(&conversation).execute(pool).await.unwrap();
    }
}

async fn messages_of(app: &TestApp, address: &str) -> Vec<String> {
    sqlx::query_as::<_, (String,)>(
        "SELECT m.body FROM messages m JOIN conversations cv ON cv.id = m.conversation_id \
         WHERE cv.guest_address = $1 ORDER BY m.created_at",
    )
    .bind(address)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(b,)| b)
    .collect()
}

#[tokio::test]
async fn retention_deletes_what_is_older_with_its_media_and_nothing_newer() {
    use app::{dashboard::api::GetDashboard, privacy::api::SetRetention};
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    // Ana wrote 40 days ago, with an image; Ben 40 days ago and again 29 days ago and today
    // (one conversation); Carol today.
    ana_sends_an_image(&app, "The view from my room", None).await;
    let media: Vec<(String,)> = sqlx::query_as("SELECT id FROM media").fetch_all(&app.state.db.pool).await.unwrap();
    say(&app, BEN, "When is breakfast?").await;
    age(&app, BEN, 11).await;
    say(&app, BEN, "And dinner?").await;
    age(&app, BEN, 29).await;
    age(&app, ANA, 40).await;
    say(&app, BEN, "Thanks!").await;
    say(&app, CAROL, "Hello").await;
    let ben_before = messages_of(&app, BEN).await;
    assert_eq!(ben_before.len(), 6);

    // Bad periods are refused and change nothing; agent owners may not set one.
    for bad in ["3", "abc", "4000", "-30"] {
        let e = app.ui(&admin, SetRetention { agent_id: String::new(), days: bad.into() }).await.unwrap_err();
        assert!(matches!(e, app::AppError::Invalid { ref field, .. } if field == "days"), "{bad}: {e:?}");
    }
    crate::inbox::add_owner(&app, &admin).await;
    let owner = app.browser("owner@example.com").await;
    let e = app.ui(&owner, SetRetention { agent_id: String::new(), days: "30".into() }).await.unwrap_err();
    assert!(matches!(e, app::AppError::Forbidden), "{e:?}");
    assert_eq!(app.ui(&admin, GetPrivacy {}).await.unwrap().retention_days, None);

    // The agent keeps 60 days, the organization 30: nothing of Ana's goes yet.
    app.ui(&admin, SetRetention { agent_id: agent.clone(), days: "60".into() }).await.unwrap();
    app.ui(&admin, SetRetention { agent_id: String::new(), days: "30".into() }).await.unwrap();
    let privacy = app.ui(&admin, GetPrivacy {}).await.unwrap();
    assert_eq!(privacy.retention_days, Some(30));
    assert_eq!(
        privacy.agent_periods.iter().map(|a| (a.agent_name.as_str(), a.days)).collect::<Vec<_>>(),
        [("concierge", 60)]
    );
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(messages_of(&app, ANA).await.len(), 2, "kept: the agent's own period is 60 days");

    // The agent follows the organization again: Ana's conversation goes, with her image; Ben keeps
    // his last 29 days; Carol everything.
    app.ui(&admin, SetRetention { agent_id: agent.clone(), days: String::new() }).await.unwrap();
    eventually("Ana's conversation deleted", || async { conversations_of(&app, ANA).await.is_empty().then_some(()) })
        .await;
    for (id,) in &media {
        assert_eq!(app.state.media.load(&app.state.db, id).await, None, "her image's file is gone");
    }
    eventually("Ben's first exchange deleted", || async { (messages_of(&app, BEN).await.len() == 4).then_some(()) })
        .await;
    assert_eq!(messages_of(&app, BEN).await, ben_before[2..], "only what is older than 30 days");
    assert_eq!(messages_of(&app, CAROL).await.len(), 2);
    let (old_records,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM executions WHERE created_at < $1")
        .bind(switchboard::now_ms() - 30 * 86_400_000)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(old_records, 0, "execution records as old went too");

    // The dashboard says what is kept; the audit log who set it.
    let d = app.ui(&admin, GetDashboard {}).await.unwrap();
    assert_eq!((d.retention_days, d.agents_with_own_period), (Some(30), 0));
    let audit = app.ui(&admin, GetAudit { older: None }).await.unwrap();
    let lines: Vec<(&str, &str, &str)> =
        audit.entries.iter().take(3).map(|e| (e.action.as_str(), e.subject.as_str(), e.detail.as_str())).collect();
    assert_eq!(
        lines,
        [
            ("Retention period changed", "Agent concierge", "Follows the organization's period."),
            ("Retention period changed", "Test Org", "Kept for 30 days."),
            ("Retention period changed", "Agent concierge", "Kept for 60 days."),
        ]
    );
}

/// An app whose retention job waits an hour between passes (the test runs one), and Ana's
/// conversation (her message and its reply) 40 days old; the app and its admin's browser.
async fn ana_40_days_back() -> (TestApp, reqwest::Client) {
    let app = spawn_app_tuned(|_| {}, |t| t.retention_sweep = std::time::Duration::from_secs(3_600)).await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    say(&app, ANA, "Hello").await;
    eventually("the reply", || async { (messages_of(&app, ANA).await.len() == 2).then_some(()) }).await;
    age(&app, ANA, 40).await;
    (app, admin)
}

/// A conversation of `guest` on `number`, begun and last active `at`, with no message; its id.
async fn quiet_conversation(app: &TestApp, number: &str, guest: &str, at: i64) -> String {
    crate::common::conversation_row(&app.state.db.pool, number, guest, at).await
}

/// One pass of the retention job reaches every conversation it has something to delete from: a
/// round of quiet conversations with no message left (deleted, but no message with them) does not
/// end the pass before the others, which waited for the next (a minute later by default).
#[tokio::test]
async fn one_retention_pass_reaches_every_old_conversation_however_many_are_empty() {
    use app::privacy::api::SetRetention;
    let (app, admin) = ana_40_days_back().await;
    // More conversations than a round takes (50), quiet for 40 days, with no message left.
    let pool = &app.state.db.pool;
    let (number,): (String,) = sqlx::query_as("SELECT number_id FROM conversations").fetch_one(pool).await.unwrap();
    let old = switchboard::now_ms() - 40 * 86_400_000;
    for i in 0..120 {
        quiet_conversation(&app, &number, &format!("whatsapp:+1555020{i:04}"), old).await;
    }
    app.ui(&admin, SetRetention { agent_id: String::new(), days: "30".into() }).await.unwrap();
    let deleted = switchboard::privacy::retention::sweep(&app.state).await.unwrap();
    assert_eq!(deleted, 2, "Ana's message and its reply");
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM conversations").fetch_one(pool).await.unwrap();
    assert_eq!(left, 0, "every old conversation is gone after one pass");
}

/// Quiet conversations (by their last activity) that hold only messages newer than the period
/// have nothing to delete; more of them than a round takes (50), quiet the longest, do not end the
/// pass before the old conversation after them.
#[tokio::test]
async fn quiet_conversations_holding_only_newer_messages_do_not_end_the_pass() {
    use app::privacy::api::SetRetention;
    let (app, admin) = ana_40_days_back().await;
    let pool = &app.state.db.pool;
    let (number, connector): (String, String) = sqlx::query_as(
        "SELECT cv.number_id, n.connector_id FROM conversations cv JOIN numbers n ON n.id = cv.number_id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let (long_ago, now) = (switchboard::now_ms() - 60 * 86_400_000, switchboard::now_ms());
    for i in 0..60 {
        let conversation = quiet_conversation(&app, &number, &format!("whatsapp:+1555030{i:04}"), long_ago).await;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
             VALUES ($1, $2, $3, 'outbound', 'A map of the spa', 'delivered', $4)",
        )
        .bind(switchboard::new_id())
        .bind(&conversation)
        .bind(&connector)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
    }
    app.ui(&admin, SetRetention { agent_id: String::new(), days: "30".into() }).await.unwrap();
    let deleted = switchboard::privacy::retention::sweep(&app.state).await.unwrap();
    assert_eq!(deleted, 2, "Ana's message and its reply, in one pass");
    assert!(conversations_of(&app, ANA).await.is_empty(), "Ana's conversation is gone");
    let (kept,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM messages WHERE created_at = $1").bind(now).fetch_one(pool).await.unwrap();
    assert_eq!(kept, 60, "the newer messages are kept");
}

/// A guest forgotten while their image is still downloading: the file the download writes
/// afterwards belongs to no message, and is removed.
#[tokio::test]
async fn an_image_still_downloading_when_its_guest_is_forgotten_leaves_no_file() {
    let app = spawn_app().await;
    app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    app.sim.sim.set_faults(twilio_sim::Faults { media_delay_ms: 1500, ..Default::default() });
    let message = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: ANA.into(),
        body: "Is this the entrance?".into(),
        profile_name: None,
        media: vec![MediaFile { content_type: "image/png".into(), data: PNG.to_vec() }],
        ..Default::default()
    };
    app.sim.sim.guest_message(message).await.unwrap();
    let media = eventually("the image's row, downloading", || async {
        sqlx::query_as::<_, (String,)>("SELECT id FROM media WHERE state = 'pending' AND lease_until IS NOT NULL")
            .fetch_optional(&app.state.db.pool)
            .await
            .unwrap()
            .map(|(id,)| id)
    })
    .await;
    let conversation = conversations_of(&app, ANA).await.pop().unwrap();
    let f = app.ui(&admin, ForgetGuest { conversation_id: conversation }).await.unwrap();
    assert_eq!(f.media, 1);
    eventually("the download done", || async {
        (app.sim.sim.media_fetches().values().sum::<usize>() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.state.media.load(&app.state.db, &media).await, None, "no file left behind");
    let left: Vec<String> = std::fs::read_dir(app.data_dir.join("media"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.iter().all(|f| !f.starts_with(&media)), "{left:?}");
}

/// The audit log keeps its lines two years (`SWITCHBOARD_AUDIT_DAYS`'s default), and so long what
/// is left of a decided request to be forgotten (when, and by whom); a request still waiting for
/// a decision stays whatever its age (an approved one is carried out within seconds, and then done).
#[tokio::test]
async fn audit_lines_and_decided_requests_older_than_two_years_are_deleted_and_nothing_newer() {
    let app = spawn_app().await;
    let (me, ..) = app.ready_path().await;
    let pool = &app.state.db.pool;
    let day = 86_400_000;
    let now = switchboard::now_ms();
    // An id as `new_id` makes it at that time.
    let id_at = |at: i64, n: u32| format!("{at:012x}{n:020x}");
    for (n, age) in [(1, 800), (2, 731), (3, 729), (4, 10)] {
        sqlx::query(
            "INSERT INTO audit_log (id, org_id, at, actor, action, subject, detail) \
             VALUES ($1, $2, $3, 'admin@example.com', 'export', $4, '')",
        )
        .bind(id_at(now - age * day, n))
        .bind(&me.org_id)
        .bind(now - age * day)
        .bind(format!("{age} days ago"))
        .execute(pool)
        .await
        .unwrap();
    }
    // (state, asked, decided, done), days ago.
    let requests = [
        ("declined", 800, Some(800), None),
        ("done", 900, Some(800), Some(800)),
        ("done", 800, None, Some(800)),
        ("done", 800, Some(800), Some(700)),
        ("declined", 800, Some(100), None),
        ("pending", 800, None, None),
    ];
    for (n, (state, asked, decided, done)) in requests.into_iter().enumerate() {
        let at = |days: Option<i64>| days.map(|d| now - d * day);
        sqlx::query(
            "INSERT INTO forget_requests (id, org_id, guest_address, state, created_at, decided_at, decided_by, done_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id_at(now - asked * day, n as u32))
        .bind(&me.org_id)
        .bind(if state == "pending" { "whatsapp:+15550001111" } else { "" })
        .bind(state)
        .bind(now - asked * day)
        .bind(at(decided))
        .bind(decided.map(|_| "admin@example.com"))
        .bind(at(done))
        .execute(pool)
        .await
        .unwrap();
    }
    let lines = || async {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT subject FROM audit_log WHERE subject LIKE '% days ago' ORDER BY id")
                .fetch_all(pool)
                .await
                .unwrap();
        rows.into_iter().map(|(s,)| s).collect::<Vec<_>>()
    };
    let left = || async {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, created_at FROM forget_requests ORDER BY id").fetch_all(pool).await.unwrap();
        rows.into_iter().map(|(state, at)| (state, (now - at) / day)).collect::<Vec<_>>()
    };
    // The retention worker runs the same pass; run here, it is done once this returns.
    switchboard::privacy::retention::prune_records(&app.state).await.unwrap();
    assert_eq!(lines().await, ["729 days ago", "10 days ago"]);
    let kept = [("done", 800), ("declined", 800), ("pending", 800)];
    assert_eq!(left().await, kept.map(|(s, d)| (s.to_string(), d)), "decided within two years, or not yet done");
    // The lines written today (adding the connector, its webhook, the agent, its channel) stay.
    let admin = app.browser("admin@example.com").await;
    let page = app.ui(&admin, GetAudit { older: None }).await.unwrap();
    assert_eq!(page.kept_days, Some(730), "the page says how long");
    let actions: Vec<String> = page.entries.into_iter().map(|e| e.action).collect();
    let expected =
        ["Channel added", "Agent created", "Webhook set", "Connector added", "Export downloaded", "Export downloaded"];
    assert_eq!(actions, expected, "newest first: today's, then those of 10 and 729 days ago");
}
