//! Who may talk to an agent: the guest commands, email codes (expiry, wrong codes, attempt and
//! rate limits), the access policies, access requests and onboarding, and how the guest is told
//! of a decision inside and outside the 24-hour window. Codes are read from the simulator's
//! mailbox, which received them over SMTP.

use crate::common::{eventually, spawn_app, TestApp};
use app::{
    agents::api::{ListTemplates, SetAgentTemplate},
    inbox::api::GetInbox,
    sharing::{
        api::{AddSharedEmail, DecideAccess, GetSharing, RemoveSharedEmail, RevokeGuest, SetAccess},
        AccessPolicy, RequestKind,
    },
};
use twilio_sim::Inbound;

const ANA: &str = "whatsapp:+15550001111";
const BEN: &str = "whatsapp:+15550002222";

/// The guest writes and waits for the answer to it; returns that answer.
pub(crate) async fn say(app: &TestApp, from: &str, body: &str) -> String {
    let before = app.replies_to(from).len();
    app.sim
        .sim
        .guest_message(Inbound {
            to: "whatsapp:+14155550100".into(),
            from: from.into(),
            body: body.into(),
            profile_name: Some("Ana".into()),
            media: vec![],
            ..Default::default()
        })
        .await
        .unwrap();
    eventually(&format!("an answer to {body:?}"), || async {
        let replies = app.replies_to(from);
        (replies.len() > before).then(|| replies.last().unwrap().body.clone())
    })
    .await
}

/// The code in the newest email to `email`, and how many emails it has received.
pub(crate) fn code_for(app: &TestApp, email: &str) -> (String, usize) {
    let mails: Vec<_> = app.sim.sim.mails().into_iter().filter(|m| m.to.iter().any(|t| t == email)).collect();
    let last = mails.last().expect("an email arrived");
    let code =
        regex::Regex::new(r"\b(\d{6})\b").unwrap().captures(&last.body).expect("a code in the email")[1].to_string();
    assert!(last.subject.contains(&code), "the subject carries the code too: {}", last.subject);
    (code, mails.len())
}

/// The Sharing page's policy form, saved.
pub(crate) async fn policy(
    app: &TestApp,
    admin: &reqwest::Client,
    agent: &str,
    policy: AccessPolicy,
    onboarding: bool,
) {
    let form = SetAccess {
        agent_id: agent.into(),
        policy: policy.as_str().into(),
        onboarding: if onboarding { "on".into() } else { String::new() },
        onboarding_message: String::new(),
    };
    app.ui(admin, form).await.unwrap();
}

#[tokio::test]
async fn require_email_verifies_with_a_code_and_commands_never_reach_the_agent() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    policy(&app, &admin, &agent, AccessPolicy::RequireEmail, false).await;

    let prompt = say(&app, ANA, "When is breakfast?").await;
    assert!(prompt.contains("/login"), "{prompt}");
    assert!(say(&app, ANA, "/help").await.contains("/whoami"));
    assert!(say(&app, ANA, "/whoami").await.contains("No email address is verified"));
    assert!(say(&app, ANA, "/login not-an-address@").await.contains("does not look like an email address"));
    assert!(say(&app, ANA, "/login 123456").await.contains("no code waiting"));

    let sent = say(&app, ANA, "/login Ana@Example.com").await;
    assert!(sent.contains("ana@example.com") && sent.contains("10 minutes"), "{sent}");
    let (code, count) = code_for(&app, "ana@example.com");
    assert_eq!(count, 1);
    let mail = app.sim.sim.mails().pop().unwrap();
    assert!(mail.from.contains("no-reply@hotel.example"), "{}", mail.from);
    assert!(mail.body.contains("concierge") && mail.body.contains("Test Org"), "{}", mail.body);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(say(&app, ANA, &format!("/login {wrong}")).await, "That code is not right. 4 tries left.");
    assert!(say(&app, ANA, "/login 12345").await.contains("6 digits"), "a short code costs no try");
    let verified = say(&app, ANA, &format!("/login {code}")).await;
    assert_eq!(verified, "Verified: this number is now linked to ana@example.com. You can chat with concierge now.");
    assert_eq!(say(&app, ANA, "When is breakfast?").await, "Breakfast is from 7 to 10.");
    assert_eq!(say(&app, ANA, "/whoami").await, "This number is verified as ana@example.com.");

    // The code is kept only as a keyed hash, and the message that carried it no longer holds it.
    let (hash, state): (String, String) =
        sqlx::query_as("SELECT code_hash, state FROM login_codes").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(state, "used");
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(&code));
    let bodies: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT body, origin FROM messages WHERE direction = 'inbound' ORDER BY created_at, id")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert!(bodies.iter().all(|(b, _)| !b.contains(&code)), "{bodies:?}");
    assert!(bodies.iter().any(|(b, o)| b == "/login ••••••" && o.as_deref() == Some("command")));
    // Nor does the inbox's search index: the code's words left it with the masked body.
    let found = app
        .ui(&admin, GetInbox { filter: app::inbox::InboxFilter { q: code.clone(), ..Default::default() } })
        .await
        .unwrap();
    assert!(found.rows.is_empty(), "the code is found by search");
    if app.state.db.backend == switchboard::db::Backend::Sqlite {
        // The index and the messages agree (FTS5 checks every word against the bodies).
        sqlx::query("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)")
            .execute(&app.state.db.pool)
            .await
            .expect("the search index matches the messages");
    }
    // Commands and Switchboard's answers are marked, so the brain's history leaves them out.
    let commands = bodies.iter().filter(|(_, o)| o.as_deref() == Some("command")).count();
    assert_eq!(commands, 9);
    let (own,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE origin = 'switchboard'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(own, 10, "nine command answers and the first prompt");

    assert_eq!(say(&app, ANA, "/logout").await, "Done: ana@example.com is no longer linked to this number.");
    assert!(say(&app, ANA, "When is breakfast?").await.contains("/login"), "unverified again after /logout");
}

#[tokio::test]
async fn codes_expire_allow_five_tries_and_only_the_newest_works() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    policy(&app, &admin, &agent, AccessPolicy::RequireEmail, false).await;

    say(&app, ANA, "/login ana@example.com").await;
    let (code, _) = code_for(&app, "ana@example.com");
    sqlx::query("UPDATE login_codes SET expires_at = $1")
        .bind(switchboard::now_ms() - 1)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert!(say(&app, ANA, &format!("/login {code}")).await.contains("expired"));

    // Five wrong tries spend the code: even the right one is refused after them.
    say(&app, ANA, "/login ana@example.com").await;
    let (code, count) = code_for(&app, "ana@example.com");
    assert_eq!(count, 2);
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for left in (1..=4).rev() {
        let answer = say(&app, ANA, &format!("/login {wrong}")).await;
        assert!(answer.contains(&format!("{left} tr")), "{answer}");
    }
    assert!(say(&app, ANA, &format!("/login {wrong}")).await.contains("last try"));
    assert!(say(&app, ANA, &format!("/login {code}")).await.contains("tried too many times"));

    // A new code replaces the one before it (the codes so far are aged past the rate limit).
    sqlx::query("UPDATE login_codes SET created_at = created_at - 900001").execute(&app.state.db.pool).await.unwrap();
    say(&app, ANA, "/login ana@example.com").await;
    let (old, _) = code_for(&app, "ana@example.com");
    say(&app, ANA, "/login ana@example.com").await;
    let (new, count) = code_for(&app, "ana@example.com");
    assert_eq!(count, 4);
    if old != new {
        assert!(say(&app, ANA, &format!("/login {old}")).await.contains("not right"));
    }
    assert!(say(&app, ANA, &format!("/login {new}")).await.starts_with("Verified"));
}

#[tokio::test]
async fn a_flood_of_login_requests_sends_no_flood_of_emails() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    policy(&app, &admin, &agent, AccessPolicy::RequireEmail, false).await;

    // Per number: three codes in 15 minutes.
    for _ in 0..3 {
        assert!(say(&app, ANA, "/login target@example.com").await.starts_with("We sent"));
    }
    for _ in 0..3 {
        assert!(say(&app, ANA, "/login target@example.com")
            .await
            .contains("Too many codes were asked for from this number"));
    }
    // Per address: five in an hour, whichever numbers ask.
    for _ in 0..2 {
        assert!(say(&app, BEN, "/login TARGET@example.com").await.starts_with("We sent"));
    }
    assert!(say(&app, BEN, "/login target@example.com")
        .await
        .contains("Too many codes were sent to this email address"));
    assert_eq!(app.sim.sim.mails().len(), 5);

    // A burst the webhook takes in one go is one turn: still five emails in all.
    for _ in 0..10 {
        app.sim
            .sim
            .guest_message(Inbound {
                to: "whatsapp:+14155550100".into(),
                from: "whatsapp:+15550003333".into(),
                body: "/login target@example.com".into(),
                profile_name: None,
                media: vec![],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    eventually("ten answers", || async { (app.replies_to("whatsapp:+15550003333").len() == 10).then_some(()) }).await;
    assert_eq!(app.sim.sim.mails().len(), 5);

    // After the window, codes can be asked for again.
    sqlx::query("UPDATE login_codes SET created_at = created_at - 3600001").execute(&app.state.db.pool).await.unwrap();
    assert!(say(&app, ANA, "/login target@example.com").await.starts_with("We sent"));
    assert_eq!(app.sim.sim.mails().len(), 6);
}

#[tokio::test]
async fn a_retried_turn_sends_no_second_email() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    // Codes are for agents that ask for a verified email (an open one has nothing to verify).
    policy(&app, &admin, &agent, AccessPolicy::RequireEmail, false).await;
    let conversation = switchboard::new_id();
    let guest = switchboard::access::Guest::load(&app.state, &agent, ANA, None, &conversation).await.unwrap();
    let command = || switchboard::access::parse("/login ana@example.com").unwrap();
    let first = switchboard::access::commands::command(&app.state, &guest, "message-1", command()).await.unwrap();
    let again = switchboard::access::commands::command(&app.state, &guest, "message-1", command()).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(app.sim.sim.mails().len(), 1);
    // Verifying, retried: the same answer, not "no code waiting".
    let (code, _) = code_for(&app, "ana@example.com");
    let verify = || switchboard::access::parse(&format!("/login {code}")).unwrap();
    let first = switchboard::access::commands::command(&app.state, &guest, "message-2", verify()).await.unwrap();
    let again = switchboard::access::commands::command(&app.state, &guest, "message-2", verify()).await.unwrap();
    assert!(first.starts_with("Verified"), "{first}");
    assert_eq!(first, again);
}

#[tokio::test]
async fn require_approval_asks_for_access_and_approval_shares_the_agent() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    policy(&app, &admin, &agent, AccessPolicy::RequireApproval, false).await;
    app.ui(&admin, AddSharedEmail { agent_id: agent.clone(), email: "Ben@Example.com".into() }).await.unwrap();
    let duplicate =
        app.ui(&admin, AddSharedEmail { agent_id: agent.clone(), email: "ben@example.com".into() }).await.unwrap_err();
    assert!(matches!(duplicate, app::AppError::Invalid { ref field, .. } if field == "email"), "{duplicate:?}");
    let bad = app.ui(&admin, AddSharedEmail { agent_id: agent.clone(), email: "ben".into() }).await.unwrap_err();
    assert!(matches!(bad, app::AppError::Invalid { .. }));

    // Ana verifies; she is not on the list, so a request is made for her.
    say(&app, ANA, "/login ana@example.com").await;
    let (code, _) = code_for(&app, "ana@example.com");
    let answer = say(&app, ANA, &format!("/login {code}")).await;
    assert!(answer.starts_with("Verified") && answer.contains("waiting for approval"), "{answer}");
    assert!(say(&app, ANA, "When is breakfast?").await.contains("waiting for approval"));
    let sharing = app.ui(&admin, GetSharing { agent_id: agent.clone() }).await.unwrap();
    assert_eq!(sharing.requests.len(), 1, "one request however often she writes");
    let request = &sharing.requests[0];
    assert_eq!(
        (request.kind, request.email.as_deref(), request.state.as_str()),
        (RequestKind::Email, Some("ana@example.com"), "pending")
    );
    assert_eq!(request.guest, ANA);
    assert_eq!(sharing.verified.iter().map(|v| v.email.as_str()).collect::<Vec<_>>(), vec!["ana@example.com"]);

    // Approval puts her on the list and tells her.
    let outcome = app
        .ui(&admin, DecideAccess { agent_id: agent.clone(), request_id: request.id.clone(), approve: true })
        .await
        .unwrap();
    assert!(outcome.contains("told in their chat"), "{outcome}");
    let told = eventually("Ana is told", || async {
        app.replies_to(ANA).last().filter(|m| m.body.contains("approved")).map(|m| m.body.clone())
    })
    .await;
    assert_eq!(told, "Good news: your request was approved. You can chat with concierge now.");
    assert!(
        app.ui(&admin, DecideAccess { agent_id: agent.clone(), request_id: request.id.clone(), approve: true })
            .await
            .is_err(),
        "decided once"
    );
    let sharing = app.ui(&admin, GetSharing { agent_id: agent.clone() }).await.unwrap();
    assert_eq!(
        sharing.shared.iter().map(|s| s.email.as_str()).collect::<Vec<_>>(),
        vec!["ana@example.com", "ben@example.com"]
    );
    assert_eq!(sharing.requests[0].decided_by.as_deref(), Some("admin@example.com"));
    assert_eq!(say(&app, ANA, "When is breakfast?").await, "Breakfast is from 7 to 10.");

    // Taken off the list, she is asked to wait again (the same request, pending again).
    app.ui(&admin, RemoveSharedEmail { agent_id: agent.clone(), email: "ana@example.com".into() }).await.unwrap();
    assert!(say(&app, ANA, "When is breakfast?").await.contains("waiting for approval"));
    let sharing = app.ui(&admin, GetSharing { agent_id: agent.clone() }).await.unwrap();
    assert_eq!((sharing.requests.len(), sharing.requests[0].state.as_str()), (1, "pending"));

    // Denied, she is told, and stays declined.
    app.ui(
        &admin,
        DecideAccess { agent_id: agent.clone(), request_id: sharing.requests[0].id.clone(), approve: false },
    )
    .await
    .unwrap();
    eventually("Ana hears she was declined", || async {
        app.replies_to(ANA).last().filter(|m| m.body.contains("declined")).map(|_| ())
    })
    .await;
    assert_eq!(say(&app, ANA, "Please?").await, "Your request to chat with concierge was declined.");

    // Revoking a verified guest: she must /login again.
    app.ui(&admin, RevokeGuest { agent_id: agent.clone(), guest: ANA.into() }).await.unwrap();
    assert!(say(&app, ANA, "/whoami").await.contains("No email address is verified"));
}

#[tokio::test]
async fn onboarding_holds_new_senders_until_their_number_is_approved() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let form = SetAccess {
        agent_id: agent.clone(),
        policy: AccessPolicy::Open.as_str().into(),
        onboarding: "on".into(),
        onboarding_message: "Welcome! Reception will confirm your booking first.".into(),
    };
    app.ui(&admin, form).await.unwrap();

    assert_eq!(say(&app, ANA, "When is breakfast?").await, "Welcome! Reception will confirm your booking first.");
    assert!(say(&app, ANA, "Hello?").await.contains("still waiting for approval"));
    let sharing = app.ui(&admin, GetSharing { agent_id: agent.clone() }).await.unwrap();
    let request = &sharing.requests[0];
    assert_eq!(
        (request.kind, request.email.as_deref(), request.guest_name.as_deref()),
        (RequestKind::Number, None, Some("Ana"))
    );

    app.ui(&admin, DecideAccess { agent_id: agent.clone(), request_id: request.id.clone(), approve: true })
        .await
        .unwrap();
    eventually("Ana is told", || async {
        app.replies_to(ANA).last().filter(|m| m.body.contains("approved")).map(|_| ())
    })
    .await;
    assert_eq!(say(&app, ANA, "When is breakfast?").await, "Breakfast is from 7 to 10.");
    // Another sender still waits.
    assert_eq!(say(&app, BEN, "When is breakfast?").await, "Welcome! Reception will confirm your booking first.");
}

#[tokio::test]
async fn a_decision_outside_the_window_goes_as_the_template_or_not_at_all() {
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    policy(&app, &admin, &agent, AccessPolicy::Open, true).await;
    say(&app, ANA, "Hello").await;
    say(&app, BEN, "Hello").await;
    sqlx::query("UPDATE conversations SET last_inbound_at = $1")
        .bind(switchboard::now_ms() - 25 * 3600 * 1000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let requests = app.ui(&admin, GetSharing { agent_id: agent.clone() }).await.unwrap().requests;
    let id_of = |guest: &str| requests.iter().find(|r| r.guest == guest).unwrap().id.clone();

    // No template: approved, but nothing can be sent; the page says so.
    let outcome = app
        .ui(&admin, DecideAccess { agent_id: agent.clone(), request_id: id_of(ANA).clone(), approve: true })
        .await
        .unwrap();
    assert!(outcome.contains("could not be told") && outcome.contains("24-hour window"), "{outcome}");
    let (queued,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE note LIKE 'Access request%'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(queued, 0);

    // With the agent's approved template, that goes instead.
    let templates = app.ui(&admin, ListTemplates { connector_id: connector.clone() }).await.unwrap();
    let choice = SetAgentTemplate {
        agent_id: agent.clone(),
        connector_id: connector.clone(),
        template_sid: templates[0].sid.clone(),
        variables: r#"{"1": "Ben"}"#.into(),
    };
    app.ui(&admin, choice).await.unwrap();
    let outcome = app
        .ui(&admin, DecideAccess { agent_id: agent.clone(), request_id: id_of(BEN).clone(), approve: true })
        .await
        .unwrap();
    assert!(outcome.contains("template"), "{outcome}");
    let sent =
        eventually("Ben gets the template", || async { app.replies_to(BEN).get(1).map(|m| m.body.clone()) }).await;
    assert_eq!(sent, "Hello Ben, we have news for you.");
}

#[tokio::test]
async fn without_smtp_the_guest_and_the_page_are_told_email_is_not_set_up() {
    let app = crate::common::spawn_app_with(|c| c.smtp_host = None).await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    policy(&app, &admin, &agent, AccessPolicy::RequireEmail, false).await;
    assert!(say(&app, ANA, "/login ana@example.com").await.contains("not set up"));
    let sharing = app.ui(&admin, GetSharing { agent_id: agent.clone() }).await.unwrap();
    assert!(sharing.email_warning.unwrap().contains("SMTP"));
    assert!(app.sim.sim.mails().is_empty());
}
