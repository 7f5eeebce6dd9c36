//! What an organization admin does in the backoffice: the first setup and sign-in through the
//! service, then every step through the route its page calls (`TestApp::ui`), signed in.

use crate::common::{spawn_app, spawn_app_with, TestApp, SETUP_TOKEN, TOKEN};
use app::{
    accounts::api::{CurrentUser, Login, NeedsSetup, SetupOrganization},
    agents::api::{AddChannel, ChannelOptions, ListChannels, RemoveChannel},
    connectors::{
        api::{
            CreateConnector, GetConnector, ListConnectors, ListNumbers, RegenerateWebhookUrl, SaveNumbers,
            SendTestMessage, SetWebhook, UpdateConnector, VerifyConnector,
        },
        ConnectorState, Health, Provider, WebhookState,
    },
    AppError,
};

/// The edit form as the page posts it: the create form's fields (an empty token keeps the stored one).
fn edit(id: &str, f: CreateConnector) -> UpdateConnector {
    UpdateConnector {
        id: id.into(),
        name: f.name,
        account_sid: f.account_sid,
        auth_token: f.auth_token,
        receive_inbound: f.receive_inbound,
    }
}

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
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let setup = |token: &str, org: &str, email: &str, password: &str| SetupOrganization {
        setup_token: token.into(),
        org_name: org.into(),
        email: email.into(),
        password: password.into(),
    };
    let login = |email: &str, password: &str| Login { email: email.into(), password: password.into() };
    assert!(app.ui(&browser, NeedsSetup {}).await.unwrap());
    let short = app.ui(&browser, setup(SETUP_TOKEN, "Org", "a@example.com", "short")).await.unwrap_err();
    assert_eq!(field(short), "password");
    let bad_email = app.ui(&browser, setup(SETUP_TOKEN, "Org", "not-an-email", "long enough pw")).await.unwrap_err();
    assert_eq!(field(bad_email), "email");
    assert!(app.ui(&browser, NeedsSetup {}).await.unwrap(), "a refused setup leaves nothing behind");

    let me =
        app.ui(&browser, setup(SETUP_TOKEN, "Test Org", "admin@example.com", "correct horse battery")).await.unwrap();
    assert_eq!(app.ui(&browser, CurrentUser {}).await.unwrap().as_ref(), Some(&me), "set up and signed in");
    assert!(!app.ui(&browser, NeedsSetup {}).await.unwrap());
    let outsider = reqwest::Client::builder().cookie_store(true).build().unwrap();
    for token in [SETUP_TOKEN, "", "a guess at the token"] {
        let again = app.ui(&outsider, setup(token, "Other", "b@example.com", "another password")).await.unwrap_err();
        assert!(matches!(again, AppError::Conflict(_)), "{token:?}: {again:?}");
    }

    assert!(app.ui(&outsider, login("admin@example.com", "wrong password!")).await.is_err());
    assert!(app.ui(&outsider, login("nobody@example.com", "correct horse battery")).await.is_err());
    assert_eq!(app.ui(&outsider, CurrentUser {}).await, Ok(None), "a refused login starts no session");
    let back = app.ui(&outsider, login(" Admin@Example.com ", "correct horse battery")).await.unwrap();
    assert_eq!(back, me);
    let (hash,): (String,) =
        sqlx::query_as("SELECT password_hash FROM users").fetch_one(&app.state.db.pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn connector_with_good_credentials_is_active_and_its_token_stays_secret() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    assert_eq!((c.state, c.health, c.reason.clone()), (ConnectorState::Active, Health::Connected, None));
    let detail = app.ui(&admin, GetConnector { id: c.id.clone() }).await.unwrap();
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
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let wrong =
        CreateConnector { auth_token: "ffffffffffffffffffffffffffffffff".into(), ..app.connector_form("Front Desk") };
    let c = app.ui(&admin, wrong).await.unwrap();
    assert_eq!((c.state, c.health), (ConnectorState::Error, Health::CredentialsRejected));
    assert!(c.reason.as_deref().unwrap().contains("rejected"), "{:?}", c.reason);
    assert!(matches!(app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await, Err(AppError::Conflict(_))));

    // Editing with the right token fixes it; an empty token on a later edit keeps the stored one.
    let fixed = app.ui(&admin, edit(&c.id, app.connector_form("Front Desk"))).await.unwrap();
    assert_eq!((fixed.state, fixed.health), (ConnectorState::Active, Health::Connected));
    let renamed = CreateConnector { auth_token: String::new(), ..app.connector_form("Renamed") };
    let kept = app.ui(&admin, edit(&c.id, renamed)).await.unwrap();
    assert_eq!((kept.name.as_str(), kept.state), ("Renamed", ConnectorState::Active));
}

#[tokio::test]
async fn verify_rechecks_the_stored_credentials_without_an_edit() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    let first = app.ui(&admin, GetConnector { id: c.id.clone() }).await.unwrap().last_checked.expect("checked on save");
    assert!(first.ends_with(" UTC"), "{first}");

    // The owner changes the token in the Twilio Console: Verify shows it, without a save.
    app.sim.sim.set_auth_token(&app.account_sid, "0123456789abcdef0123456789abcdee");
    let checked = app.ui(&admin, VerifyConnector { id: c.id.clone() }).await.unwrap();
    assert_eq!((checked.state, checked.health), (ConnectorState::Error, Health::CredentialsRejected));
    assert!(checked.reason.as_deref().unwrap().contains("rejected"), "{:?}", checked.reason);
    assert_eq!(
        app.ui(&admin, GetConnector { id: c.id.clone() }).await.unwrap().summary.name,
        "Front Desk",
        "nothing else changed"
    );

    app.sim.sim.set_auth_token(&app.account_sid, TOKEN);
    let back = app.ui(&admin, VerifyConnector { id: c.id.clone() }).await.unwrap();
    assert_eq!((back.state, back.health, back.reason), (ConnectorState::Active, Health::Connected, None));
    assert!(matches!(
        app.ui(&admin, VerifyConnector { id: "no-such-connector".into() }).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_connector_page_warns_while_the_public_url_is_unset_or_not_https() {
    for (public_url, expected) in [
        (None, Some("is not set")),
        (Some("http://switchboard.example.com"), Some("is not https")),
        (Some("https://switchboard.example.com"), None),
    ] {
        let app = spawn_app_with(|c| c.public_url = public_url.map(str::to_string)).await;
        app.admin().await;
        let admin = app.browser("admin@example.com").await;
        let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
        let detail = app.ui(&admin, GetConnector { id: c.id.clone() }).await.unwrap();
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
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    let rows = app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await.unwrap();
    let number = TestApp::number(&rows, "+14155550100", true).id.clone();

    let inactive = app
        .ui(
            &admin,
            SendTestMessage { connector_id: c.id.clone(), number_id: number.clone(), to: "+15557654321".into() },
        )
        .await
        .unwrap_err();
    assert_eq!(field(inactive), "number_id");
    app.ui(&admin, SaveNumbers { connector_id: c.id.clone(), active: vec![number.clone()], unbind: false })
        .await
        .unwrap();
    for bad in ["", "15557654321", "+1555", "+1555765432x"] {
        let error = app
            .ui(&admin, SendTestMessage { connector_id: c.id.clone(), number_id: number.clone(), to: bad.into() })
            .await
            .unwrap_err();
        assert_eq!(field(error), "to", "{bad:?}");
    }

    let sid = app
        .ui(
            &admin,
            SendTestMessage { connector_id: c.id.clone(), number_id: number.clone(), to: " +15557654321 ".into() },
        )
        .await
        .unwrap();
    assert!(sid.starts_with("SM"), "{sid}");
    let sent = app.sim.sim.messages().into_iter().find(|m| m.sid == sid).expect("Twilio has the message");
    assert_eq!((sent.from.as_str(), sent.to.as_str()), ("whatsapp:+14155550100", "whatsapp:+15557654321"));
    assert!(sent.body.contains("test message"), "{}", sent.body);

    app.sim.sim.set_faults(twilio_sim::Faults { reject_code: Some(63016), ..Default::default() });
    let refused = app
        .ui(
            &admin,
            SendTestMessage { connector_id: c.id.clone(), number_id: number.clone(), to: "+15557654321".into() },
        )
        .await
        .unwrap_err();
    match refused {
        AppError::Provider(text) => assert!(text.contains("error 63016") && text.contains("24-hour"), "{text}"),
        other => panic!("expected Twilio's refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn regenerating_the_webhook_url_retires_the_old_one_and_flags_the_numbers_it_was_set_on() {
    let app = spawn_app().await;
    let (_, connector, number, _) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let old = app.ui(&admin, GetConnector { id: connector.clone() }).await.unwrap().inbound_webhook_url;
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let never = TestApp::number(&rows, "+14155550101", true).clone();
    assert_ne!(never.webhook, WebhookState::Configured, "a number whose webhook was never set: {never:?}");

    let detail = app.ui(&admin, RegenerateWebhookUrl { id: connector.clone() }).await.unwrap();
    assert_ne!(detail.inbound_webhook_url, old);
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let row = rows.iter().find(|r| r.id == number).unwrap();
    assert_eq!(row.webhook, WebhookState::NotConfigured);
    assert!(row.webhook_detail.as_deref().unwrap().contains("regenerated"), "{:?}", row.webhook_detail);
    // One that never had the old URL is not told to set it again.
    let after = rows.iter().find(|r| r.id == never.id).unwrap();
    assert_eq!((after.webhook, &after.webhook_detail), (never.webhook, &never.webhook_detail), "{after:?}");
    let stale = reqwest::Client::new().post(&old).form(&[("Body", "hi")]).send().await.unwrap();
    assert_eq!(stale.status(), 404, "the old URL stops working at once");

    // Set webhook writes the new URL; a guest's message gets through again.
    let outcome =
        app.ui(&admin, SetWebhook { connector_id: connector.clone(), number_id: number.clone() }).await.unwrap();
    assert_eq!(outcome.state, WebhookState::Configured);
    assert_eq!(
        app.sim.sim.sender_webhook("whatsapp:+14155550100").unwrap().callback_url,
        Some(detail.inbound_webhook_url)
    );
}

#[tokio::test]
async fn the_periodic_health_check_keeps_the_badge_honest() {
    let app = spawn_app_with(|c| c.health_check_secs = 1).await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    assert_eq!(c.health, Health::Connected);

    app.sim.sim.set_auth_token(&app.account_sid, "0123456789abcdef0123456789abcdee");
    crate::common::eventually("the health check notices the changed token", || async {
        let now = app.ui(&admin, ListConnectors {}).await.unwrap().remove(0);
        (now.health == Health::CredentialsRejected).then_some(())
    })
    .await;
    app.sim.sim.set_auth_token(&app.account_sid, TOKEN);
    crate::common::eventually("and that it works again", || async {
        let now = app.ui(&admin, ListConnectors {}).await.unwrap().remove(0);
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
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    assert_eq!((c.state, c.health), (ConnectorState::Error, Health::Unreachable));
    assert!(c.reason.unwrap().starts_with("Twilio unreachable"));
}

#[tokio::test]
async fn bad_connector_input_gets_a_field_error_and_saves_nothing() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let base = app.connector_form("Front Desk");
    let cases = [
        (CreateConnector { name: "  ".into(), ..base.clone() }, "name"),
        (CreateConnector { name: "x".repeat(81), ..base.clone() }, "name"),
        (CreateConnector { account_sid: "AC123".into(), ..base.clone() }, "account_sid"),
        (
            CreateConnector { account_sid: format!("SK{}", crate::common::random_hex(32)), ..base.clone() },
            "account_sid",
        ),
        (CreateConnector { auth_token: "secret".into(), ..base.clone() }, "auth_token"),
        (CreateConnector { auth_token: String::new(), ..base.clone() }, "auth_token"),
    ];
    for (input, expected) in cases {
        let e = app.ui(&admin, input).await.unwrap_err();
        assert_eq!(field(e), expected);
    }
    assert_eq!(connector_count(&app).await, 0);
    app.ui(&admin, base.clone()).await.unwrap();
    let duplicate = app.ui(&admin, base).await.unwrap_err();
    assert_eq!(field(duplicate), "name");
    assert_eq!(connector_count(&app).await, 1);
}

#[tokio::test]
async fn numbers_are_listed_activated_and_get_their_webhook() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    let rows = app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let wa = TestApp::number(&rows, "+14155550100", true).clone();
    let sms = TestApp::number(&rows, "+14155550199", false).clone();
    assert_eq!(
        (wa.provider, wa.sender_status.as_deref(), wa.display_name.as_deref()),
        (Provider::WhatsApp, Some("ONLINE"), Some("Front Desk"))
    );
    assert!(rows.iter().all(|r| !r.active && r.webhook == WebhookState::Unknown));

    // Only active numbers get a webhook.
    assert!(matches!(
        app.ui(&admin, SetWebhook { connector_id: c.id.clone(), number_id: wa.id.clone() }).await,
        Err(AppError::Conflict(_))
    ));
    let saved = app
        .ui(
            &admin,
            SaveNumbers { connector_id: c.id.clone(), active: vec![wa.id.clone(), sms.id.clone()], unbind: false },
        )
        .await
        .unwrap();
    assert_eq!(saved.iter().filter(|r| r.active).count(), 2);
    let bogus = app
        .ui(&admin, SaveNumbers { connector_id: c.id.clone(), active: vec!["not-a-number".into()], unbind: false })
        .await
        .unwrap_err();
    assert_eq!(field(bogus), "active");
    assert_eq!(
        app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await.unwrap().iter().filter(|r| r.active).count(),
        2,
        "a refused save changes nothing"
    );

    let outcome = app.ui(&admin, SetWebhook { connector_id: c.id.clone(), number_id: wa.id.clone() }).await.unwrap();
    assert_eq!(outcome.state, WebhookState::Configured);
    let detail = app.ui(&admin, GetConnector { id: c.id.clone() }).await.unwrap();
    let in_twilio = app.sim.sim.sender_webhook("whatsapp:+14155550100").unwrap();
    assert_eq!(in_twilio.callback_url.as_deref(), Some(detail.inbound_webhook_url.as_str()));
    assert_eq!(in_twilio.callback_method, "POST");
    assert!(in_twilio.status_callback_url.unwrap().contains("/twilio/status/"));

    let sms_outcome =
        app.ui(&admin, SetWebhook { connector_id: c.id.clone(), number_id: sms.id.clone() }).await.unwrap();
    assert_eq!(sms_outcome.state, WebhookState::Configured);
    let rows = app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await.unwrap();
    assert_eq!(TestApp::number(&rows, "+14155550100", true).webhook, WebhookState::Configured);
    assert_eq!(TestApp::number(&rows, "+14155550101", true).webhook, WebhookState::Unknown);
}

#[tokio::test]
async fn a_number_answers_for_one_agent_only() {
    let app = spawn_app().await;
    let (_, connector, number, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let other = app.ui(&admin, TestApp::agent_form("spa", "Hello")).await.unwrap();
    let options =
        app.ui(&admin, ChannelOptions { agent_id: other.id.clone(), connector_id: connector.clone() }).await.unwrap();
    let bound = options.iter().find(|o| o.number_id == number).unwrap();
    assert_eq!((bound.bound_to.as_deref(), bound.here), (Some("concierge"), false));
    // Its own agent still sees it, as its channel (not as "no active numbers").
    let options =
        app.ui(&admin, ChannelOptions { agent_id: agent.clone(), connector_id: connector.clone() }).await.unwrap();
    let own = options.iter().find(|o| o.number_id == number).unwrap();
    assert_eq!((own.bound_to.as_deref(), own.here), (None, true));
    let refused =
        app.ui(&admin, AddChannel { agent_id: other.id.clone(), number_id: number.clone() }).await.unwrap_err();
    assert!(matches!(&refused, AppError::Conflict(m) if m.contains("Already bound")), "{refused:?}");

    // Two admins binding one free number at the same moment: the database picks one.
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let spa = TestApp::number(&rows, "+14155550101", true).id.clone();
    app.ui(
        &admin,
        SaveNumbers { connector_id: connector.clone(), active: vec![number.clone(), spa.clone()], unbind: false },
    )
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        app.ui(&admin, AddChannel { agent_id: agent.clone(), number_id: spa.clone() }),
        app.ui(&admin, AddChannel { agent_id: other.id.clone(), number_id: spa.clone() })
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");

    // A bound number is not deactivated behind its agent's back; removing the channel frees it.
    let e = app
        .ui(&admin, SaveNumbers { connector_id: connector.clone(), active: vec![spa.clone()], unbind: false })
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Conflict(_)));
    let channel = app
        .ui(&admin, ListChannels { agent_id: agent.clone() })
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.phone_number == "+14155550100")
        .unwrap();
    app.ui(&admin, RemoveChannel { agent_id: agent.clone(), channel_id: channel.id.clone() }).await.unwrap();
    app.ui(&admin, AddChannel { agent_id: other.id.clone(), number_id: number.clone() }).await.unwrap();
    assert!(app
        .ui(&admin, ListNumbers { connector_id: connector.clone() })
        .await
        .unwrap()
        .iter()
        .any(|r| r.id == number && r.active));
}

#[tokio::test]
async fn duplicate_agent_name_is_a_field_error() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let input = TestApp::agent_form("concierge", "Hi");
    app.ui(&admin, input.clone()).await.unwrap();
    assert_eq!(field(app.ui(&admin, input).await.unwrap_err()), "name");
    assert_eq!(field(app.ui(&admin, TestApp::agent_form("x", " ")).await.unwrap_err()), "fallback_reply");
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
