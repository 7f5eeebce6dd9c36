//! What an organization admin does in the backoffice, through the same port the pages use,
//! and over HTTP where sessions are concerned.

use crate::common::{spawn_app, spawn_app_with, TestApp, SETUP_TOKEN, TOKEN};
use app::{
    agents::port::AgentInput,
    connectors::{port::ConnectorInput, ConnectorState, Health, Provider, WebhookState},
    ports::*,
    AppError,
};

fn field(e: AppError) -> String {
    match e {
        AppError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

async fn connector_count(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connectors").fetch_one(&app.state.db.pool).await.unwrap();
    n
}

#[tokio::test]
async fn setup_happens_once_and_login_checks_the_password() {
    let app = spawn_app().await;
    assert!(app.state.needs_setup().await.unwrap());
    let short =
        app.state.setup(SETUP_TOKEN.into(), "Org".into(), "a@example.com".into(), "short".into()).await.unwrap_err();
    assert_eq!(field(short), "password");
    let bad_email = app
        .state
        .setup(SETUP_TOKEN.into(), "Org".into(), "not-an-email".into(), "long enough pw".into())
        .await
        .unwrap_err();
    assert_eq!(field(bad_email), "email");
    assert!(app.state.needs_setup().await.unwrap(), "a refused setup leaves nothing behind");

    let me = app.admin().await;
    assert!(!app.state.needs_setup().await.unwrap());
    for token in [SETUP_TOKEN, "", "a guess at the token"] {
        let again = app
            .state
            .setup(token.into(), "Other".into(), "b@example.com".into(), "another password".into())
            .await
            .unwrap_err();
        assert!(matches!(again, AppError::Conflict(_)), "{token:?}: {again:?}");
    }

    assert!(app.state.authenticate("admin@example.com".into(), "wrong password!".into(), None).await.is_err());
    assert!(app.state.authenticate("nobody@example.com".into(), "correct horse battery".into(), None).await.is_err());
    let back =
        app.state.authenticate(" Admin@Example.com ".into(), "correct horse battery".into(), None).await.unwrap();
    assert_eq!(back, me);
    let (hash,): (String,) =
        sqlx::query_as("SELECT password_hash FROM users").fetch_one(&app.state.db.pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn connector_with_good_credentials_is_active_and_its_token_stays_secret() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    assert_eq!((c.state, c.health, c.reason.clone()), (ConnectorState::Active, Health::Connected, None));
    let detail = app.state.connector(&me, &c.id).await.unwrap();
    assert_eq!(detail.account_name.as_deref(), Some("Test Hotels"));
    assert!(detail.inbound_webhook_url.starts_with(&format!("{}/twilio/inbound/", app.url)));
    assert!(!serde_json::to_string(&detail).unwrap().contains(TOKEN));
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT auth_token_enc FROM connectors").fetch_one(&app.state.db.pool).await.unwrap();
    assert!(!sealed.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is encrypted at rest");
    assert!(!String::from_utf8_lossy(&std::fs::read(app.data_dir.join("switchboard.db")).unwrap_or_default())
        .contains(TOKEN));
}

#[tokio::test]
async fn rejected_credentials_keep_the_connector_in_error_until_fixed() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let wrong = ConnectorInput {
        auth_token: Some("ffffffffffffffffffffffffffffffff".into()),
        ..app.connector_input("Front Desk")
    };
    let c = app.state.create_connector(&me, wrong).await.unwrap();
    assert_eq!((c.state, c.health), (ConnectorState::Error, Health::CredentialsRejected));
    assert!(c.reason.as_deref().unwrap().contains("rejected"), "{:?}", c.reason);
    assert!(matches!(app.state.list_numbers(&me, &c.id).await, Err(AppError::Conflict(_))));

    // Editing with the right token fixes it; an empty token on a later edit keeps the stored one.
    let fixed = app.state.update_connector(&me, &c.id, app.connector_input("Front Desk")).await.unwrap();
    assert_eq!((fixed.state, fixed.health), (ConnectorState::Active, Health::Connected));
    let kept = app
        .state
        .update_connector(&me, &c.id, ConnectorInput { auth_token: None, ..app.connector_input("Renamed") })
        .await
        .unwrap();
    assert_eq!((kept.name.as_str(), kept.state), ("Renamed", ConnectorState::Active));
}

#[tokio::test]
async fn verify_rechecks_the_stored_credentials_without_an_edit() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    let first = app.state.connector(&me, &c.id).await.unwrap().last_checked.expect("checked on save");
    assert!(first.ends_with(" UTC"), "{first}");

    // The owner changes the token in the Twilio Console: Verify shows it, without a save.
    app.sim.sim.set_auth_token(&app.account_sid, "0123456789abcdef0123456789abcdee");
    let checked = app.state.verify_connector(&me, &c.id).await.unwrap();
    assert_eq!((checked.state, checked.health), (ConnectorState::Error, Health::CredentialsRejected));
    assert!(checked.reason.as_deref().unwrap().contains("rejected"), "{:?}", checked.reason);
    assert_eq!(app.state.connector(&me, &c.id).await.unwrap().summary.name, "Front Desk", "nothing else changed");

    app.sim.sim.set_auth_token(&app.account_sid, TOKEN);
    let back = app.state.verify_connector(&me, &c.id).await.unwrap();
    assert_eq!((back.state, back.health, back.reason), (ConnectorState::Active, Health::Connected, None));
    assert!(matches!(app.state.verify_connector(&me, "no-such-connector").await, Err(AppError::NotFound(_))));
}

#[tokio::test]
async fn the_connector_page_warns_while_the_public_url_is_unset_or_not_https() {
    for (public_url, expected) in [
        (None, Some("is not set")),
        (Some("http://switchboard.example.com"), Some("is not https")),
        (Some("https://switchboard.example.com"), None),
    ] {
        let app = spawn_app_with(|c| c.public_url = public_url.map(str::to_string)).await;
        let me = app.admin().await;
        let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
        let detail = app.state.connector(&me, &c.id).await.unwrap();
        match expected {
            Some(words) => assert!(detail.public_url_warning.as_deref().unwrap().contains(words), "{public_url:?}"),
            None => assert_eq!(detail.public_url_warning, None),
        }
        if let Some(url) = public_url {
            assert!(detail.inbound_webhook_url.starts_with(url), "{}", detail.inbound_webhook_url);
        }
    }
}

#[tokio::test]
async fn send_test_message_goes_out_at_once_and_explains_twilios_refusal() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    let rows = app.state.list_numbers(&me, &c.id).await.unwrap();
    let number = TestApp::number(&rows, "+14155550100", true).id.clone();

    let inactive = app.state.send_test_message(&me, &c.id, &number, "+15557654321").await.unwrap_err();
    assert_eq!(field(inactive), "number_id");
    app.state.save_numbers(&me, &c.id, vec![number.clone()], false).await.unwrap();
    for bad in ["", "15557654321", "+1555", "+1555765432x"] {
        let error = app.state.send_test_message(&me, &c.id, &number, bad).await.unwrap_err();
        assert_eq!(field(error), "to", "{bad:?}");
    }

    let sid = app.state.send_test_message(&me, &c.id, &number, " +15557654321 ").await.unwrap();
    assert!(sid.starts_with("SM"), "{sid}");
    let sent = app.sim.sim.messages().into_iter().find(|m| m.sid == sid).expect("Twilio has the message");
    assert_eq!((sent.from.as_str(), sent.to.as_str()), ("whatsapp:+14155550100", "whatsapp:+15557654321"));
    assert!(sent.body.contains("test message"), "{}", sent.body);

    app.sim.sim.set_faults(twilio_sim::Faults { reject_code: Some(63016), ..Default::default() });
    let refused = app.state.send_test_message(&me, &c.id, &number, "+15557654321").await.unwrap_err();
    match refused {
        AppError::Provider(text) => assert!(text.contains("error 63016") && text.contains("24-hour"), "{text}"),
        other => panic!("expected Twilio's refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn regenerating_the_webhook_url_retires_the_old_one_and_flags_the_numbers_it_was_set_on() {
    let app = spawn_app().await;
    let (me, connector, number, _) = app.ready_path().await;
    let old = app.state.connector(&me, &connector).await.unwrap().inbound_webhook_url;
    let rows = app.state.list_numbers(&me, &connector).await.unwrap();
    let never = TestApp::number(&rows, "+14155550101", true).clone();
    assert_ne!(never.webhook, WebhookState::Configured, "a number whose webhook was never set: {never:?}");

    let detail = app.state.regenerate_webhook_url(&me, &connector).await.unwrap();
    assert_ne!(detail.inbound_webhook_url, old);
    let rows = app.state.list_numbers(&me, &connector).await.unwrap();
    let row = rows.iter().find(|r| r.id == number).unwrap();
    assert_eq!(row.webhook, WebhookState::NotConfigured);
    assert!(row.webhook_detail.as_deref().unwrap().contains("regenerated"), "{:?}", row.webhook_detail);
    // One that never had the old URL is not told to set it again.
    let after = rows.iter().find(|r| r.id == never.id).unwrap();
    assert_eq!((after.webhook, &after.webhook_detail), (never.webhook, &never.webhook_detail), "{after:?}");
    let stale = reqwest::Client::new().post(&old).form(&[("Body", "hi")]).send().await.unwrap();
    assert_eq!(stale.status(), 404, "the old URL stops working at once");

    // Set webhook writes the new URL; a guest's message gets through again.
    let outcome = app.state.set_webhook(&me, &connector, &number).await.unwrap();
    assert_eq!(outcome.state, WebhookState::Configured);
    assert_eq!(
        app.sim.sim.sender_webhook("whatsapp:+14155550100").unwrap().callback_url,
        Some(detail.inbound_webhook_url)
    );
}

#[tokio::test]
async fn the_periodic_health_check_keeps_the_badge_honest() {
    let app = spawn_app_with(|c| c.health_check_secs = 1).await;
    let me = app.admin().await;
    let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    assert_eq!(c.health, Health::Connected);

    app.sim.sim.set_auth_token(&app.account_sid, "0123456789abcdef0123456789abcdee");
    crate::common::eventually("the health check notices the changed token", || async {
        let now = app.state.list_connectors(&me).await.unwrap().remove(0);
        (now.health == Health::CredentialsRejected).then_some(())
    })
    .await;
    app.sim.sim.set_auth_token(&app.account_sid, TOKEN);
    crate::common::eventually("and that it works again", || async {
        let now = app.state.list_connectors(&me).await.unwrap().remove(0);
        (now.health == Health::Connected && now.state == ConnectorState::Active).then_some(())
    })
    .await;
}

#[tokio::test]
async fn unreachable_twilio_is_reported_as_such() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|c| {
        c.twilio_api_base = dead.clone();
        c.twilio_messaging_base = dead.clone();
        c.twilio_content_base = dead.clone();
    })
    .await;
    let me = app.admin().await;
    let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    assert_eq!((c.state, c.health), (ConnectorState::Error, Health::Unreachable));
    assert!(c.reason.unwrap().starts_with("Twilio unreachable"));
}

#[tokio::test]
async fn bad_connector_input_gets_a_field_error_and_saves_nothing() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let base = app.connector_input("Front Desk");
    let cases = [
        (ConnectorInput { name: "  ".into(), ..base.clone() }, "name"),
        (ConnectorInput { name: "x".repeat(81), ..base.clone() }, "name"),
        (ConnectorInput { account_sid: "AC123".into(), ..base.clone() }, "account_sid"),
        (ConnectorInput { account_sid: format!("SK{}", crate::common::random_hex(32)), ..base.clone() }, "account_sid"),
        (ConnectorInput { auth_token: Some("secret".into()), ..base.clone() }, "auth_token"),
        (ConnectorInput { auth_token: None, ..base.clone() }, "auth_token"),
    ];
    for (input, expected) in cases {
        let e = app.state.create_connector(&me, input).await.unwrap_err();
        assert_eq!(field(e), expected);
    }
    assert_eq!(connector_count(&app).await, 0);
    app.state.create_connector(&me, base.clone()).await.unwrap();
    let duplicate = app.state.create_connector(&me, base).await.unwrap_err();
    assert_eq!(field(duplicate), "name");
    assert_eq!(connector_count(&app).await, 1);
}

#[tokio::test]
async fn numbers_are_listed_activated_and_get_their_webhook() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let c = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    let rows = app.state.list_numbers(&me, &c.id).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let wa = TestApp::number(&rows, "+14155550100", true).clone();
    let sms = TestApp::number(&rows, "+14155550199", false).clone();
    assert_eq!(
        (wa.provider, wa.sender_status.as_deref(), wa.display_name.as_deref()),
        (Provider::WhatsApp, Some("ONLINE"), Some("Front Desk"))
    );
    assert!(rows.iter().all(|r| !r.active && r.webhook == WebhookState::Unknown));

    // Only active numbers get a webhook.
    assert!(matches!(app.state.set_webhook(&me, &c.id, &wa.id).await, Err(AppError::Conflict(_))));
    let saved = app.state.save_numbers(&me, &c.id, vec![wa.id.clone(), sms.id.clone()], false).await.unwrap();
    assert_eq!(saved.iter().filter(|r| r.active).count(), 2);
    let bogus = app.state.save_numbers(&me, &c.id, vec!["not-a-number".into()], false).await.unwrap_err();
    assert_eq!(field(bogus), "active");
    assert_eq!(
        app.state.list_numbers(&me, &c.id).await.unwrap().iter().filter(|r| r.active).count(),
        2,
        "a refused save changes nothing"
    );

    let outcome = app.state.set_webhook(&me, &c.id, &wa.id).await.unwrap();
    assert_eq!(outcome.state, WebhookState::Configured);
    let detail = app.state.connector(&me, &c.id).await.unwrap();
    let in_twilio = app.sim.sim.sender_webhook("whatsapp:+14155550100").unwrap();
    assert_eq!(in_twilio.callback_url.as_deref(), Some(detail.inbound_webhook_url.as_str()));
    assert_eq!(in_twilio.callback_method, "POST");
    assert!(in_twilio.status_callback_url.unwrap().contains("/twilio/status/"));

    let sms_outcome = app.state.set_webhook(&me, &c.id, &sms.id).await.unwrap();
    assert_eq!(sms_outcome.state, WebhookState::Configured);
    let rows = app.state.list_numbers(&me, &c.id).await.unwrap();
    assert_eq!(TestApp::number(&rows, "+14155550100", true).webhook, WebhookState::Configured);
    assert_eq!(TestApp::number(&rows, "+14155550101", true).webhook, WebhookState::Unknown);
}

#[tokio::test]
async fn a_number_answers_for_one_agent_only() {
    let app = spawn_app().await;
    let (me, connector, number, agent) = app.ready_path().await;
    let other = app
        .state
        .create_agent(
            &me,
            AgentInput { name: "spa".into(), fallback_reply: "Hello".into(), faq: vec![], ..Default::default() },
        )
        .await
        .unwrap();
    let options = app.state.channel_options(&me, &other.id, &connector).await.unwrap();
    let bound = options.iter().find(|o| o.number_id == number).unwrap();
    assert_eq!((bound.bound_to.as_deref(), bound.here), (Some("concierge"), false));
    // Its own agent still sees it, as its channel (not as "no active numbers").
    let options = app.state.channel_options(&me, &agent, &connector).await.unwrap();
    let own = options.iter().find(|o| o.number_id == number).unwrap();
    assert_eq!((own.bound_to.as_deref(), own.here), (None, true));
    let refused = app.state.add_channel(&me, &other.id, &number).await.unwrap_err();
    assert!(matches!(&refused, AppError::Conflict(m) if m.contains("Already bound")), "{refused:?}");

    // Two admins binding one free number at the same moment: the database picks one.
    let rows = app.state.list_numbers(&me, &connector).await.unwrap();
    let spa = TestApp::number(&rows, "+14155550101", true).id.clone();
    app.state.save_numbers(&me, &connector, vec![number.clone(), spa.clone()], false).await.unwrap();
    let (a, b) = tokio::join!(app.state.add_channel(&me, &agent, &spa), app.state.add_channel(&me, &other.id, &spa));
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");

    // A bound number is not deactivated behind its agent's back; removing the channel frees it.
    let e = app.state.save_numbers(&me, &connector, vec![spa.clone()], false).await.unwrap_err();
    assert!(matches!(e, AppError::Conflict(_)));
    let channel = app
        .state
        .list_channels(&me, &agent)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.phone_number == "+14155550100")
        .unwrap();
    app.state.remove_channel(&me, &agent, &channel.id).await.unwrap();
    app.state.add_channel(&me, &other.id, &number).await.unwrap();
    assert!(app.state.list_numbers(&me, &connector).await.unwrap().iter().any(|r| r.id == number && r.active));
}

#[tokio::test]
async fn duplicate_agent_name_is_a_field_error() {
    let app = spawn_app().await;
    let me = app.admin().await;
    let input = AgentInput { name: "concierge".into(), fallback_reply: "Hi".into(), faq: vec![], ..Default::default() };
    app.state.create_agent(&me, input.clone()).await.unwrap();
    assert_eq!(field(app.state.create_agent(&me, input).await.unwrap_err()), "name");
    let empty = AgentInput { name: "x".into(), fallback_reply: " ".into(), faq: vec![], ..Default::default() };
    assert_eq!(field(app.state.create_agent(&me, empty).await.unwrap_err()), "fallback_reply");
}

/// Server functions over HTTP: refused without a session, and the session survives a restart.
#[tokio::test]
async fn sessions_guard_server_functions_and_survive_a_restart() {
    let app = spawn_app().await;
    app.admin().await;
    let call = |base: &str, path: &str, form: &[(&str, &str)]| {
        app.http.post(format!("{base}/ui/{path}")).header("Accept", "application/json").form(form).send()
    };
    let refused = call(&app.url, "list_connectors", &[]).await.unwrap();
    assert!(refused.text().await.unwrap().contains("Unauthenticated"));

    let login =
        call(&app.url, "login", &[("email", "admin@example.com"), ("password", "wrong password!")]).await.unwrap();
    assert!(login.text().await.unwrap().contains("Wrong email or password"));
    let login = call(&app.url, "login", &[("email", "admin@example.com"), ("password", "correct horse battery")])
        .await
        .unwrap();
    assert!(login.status().is_success());
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let listed = call(&app.url, "list_connectors", &[]).await.unwrap();
    assert_eq!(listed.text().await.unwrap(), "[]");

    // A second process on the same database honours the same session cookie.
    let db = app.database_url.clone();
    let data = app.data_dir.clone();
    let twin = switchboard::startup::Application::build_with(
        {
            let mut c = switchboard::config::Config::for_data_dir(data);
            c.bind = "127.0.0.1:0".parse().unwrap();
            c.database_url = Some(db);
            c
        },
        crate::common::fast_tuning(),
    )
    .await
    .unwrap();
    let twin_url = format!("http://127.0.0.1:{}", twin.port());
    let server = tokio::spawn(twin.run_until(std::future::pending()));
    let me = call(&twin_url, "current_user", &[]).await.unwrap().text().await.unwrap();
    assert!(me.contains("admin@example.com"), "{me}");
    call(&twin_url, "logout", &[]).await.unwrap();
    let after = call(&app.url, "list_connectors", &[]).await.unwrap().text().await.unwrap();
    assert!(after.contains("Unauthenticated"), "{after}");
    server.abort();
}
