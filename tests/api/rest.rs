//! The REST API over HTTP with personal API tokens: every route, its errors as JSON with stable
//! codes, authorization across organizations and roles, Trinity's WhatsApp routes, proactive
//! messages and the 24-hour window, and the OpenAPI document.

use crate::common::{eventually, spawn_app, TestApp, TOKEN};
use app::{
    accounts::{
        api::{CreateToken, ListTokens, RevokeToken},
        Role,
    },
    ports::*,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use twilio_sim::Inbound;

struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.app.http.request(method, format!("{}{path}", self.app.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(!text.contains(TOKEN), "an API answer carries the Auth Token: {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_else(|| panic!("an error body: {v}"))
}

async fn token_for(app: &TestApp, me: &app::accounts::Me) -> String {
    app.state.create_token(me, "tests").await.unwrap().token
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_revocable() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let create = |name: &str| CreateToken { name: name.into() };
    let created = app.ui(&admin, create("deploy script")).await.unwrap();
    assert!(created.token.starts_with("sbt_") && created.token.len() > 40);
    assert!(created.token.starts_with(&created.row.prefix));
    let listed = app.ui(&admin, ListTokens {}).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!serde_json::to_string(&listed).unwrap().contains(&created.token), "listed without the token");
    let (stored,): (String,) =
        sqlx::query_as("SELECT token_hash FROM api_tokens").fetch_one(&app.state.db.pool).await.unwrap();
    assert_ne!(stored, created.token);
    assert!(matches!(app.ui(&admin, create(" ")).await, Err(app::AppError::Invalid { .. })));

    let api = Api { app: &app, token: created.token.clone() };
    assert_eq!(api.get("/api/agents").await.0, StatusCode::OK);
    let used = app.ui(&admin, ListTokens {}).await.unwrap();
    assert!(used[0].last_used.is_some(), "the token's last use is shown");

    // No token, a made-up one, a revoked one: 401 with the same shape.
    let (status, body) = Api { app: &app, token: String::new() }.get("/api/agents").await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, _) = Api { app: &app, token: "sbt_made-up".into() }.get("/api/agents").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.ui(&admin, RevokeToken { id: created.row.id.clone() }).await.unwrap();
    let (status, body) = api.get("/api/agents").await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, body) = api.get("/api/nothing-here").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn agents_channels_and_connectors_are_scriptable() {
    let app = spawn_app().await;
    let (me, connector, number, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };

    // Agents: create (bad input is a field error), read, replace, list, delete.
    let (status, body) =
        api.call(Method::POST, "/api/agents", Some(json!({ "name": "has space", "fallback_reply": "Hi" }))).await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("name"))
    );
    let (status, body) = api.call(Method::POST, "/api/agents", Some(json!({ "name": 5 }))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    let spa = json!({
        "name": "spa", "fallback_reply": "A colleague will answer.",
        "faq": [{ "question": "Is the spa open?", "answer": "From 9 to 21." }],
        "brain": { "kind": "hook", "url": "https://hooks.example/spa" },
    });
    let (status, created) = api.call(Method::POST, "/api/agents", Some(spa)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["brain"]["kind"], "hook");
    assert!(created["hook_secret"].as_str().unwrap().starts_with("sbhs_"), "the hook's secret, once");
    let (_, fetched) = api.get("/api/agents/spa").await;
    assert!(fetched.get("hook_secret").is_none() && fetched["brain"]["hook_secret_set"] == true);
    let (status, replaced) = api
        .call(
            Method::PUT,
            "/api/agents/spa",
            Some(json!({ "name": "spa", "fallback_reply": "Hello", "description": "Spa desk" })),
        )
        .await;
    assert_eq!(
        (status, replaced["description"].as_str(), replaced["brain"]["kind"].as_str()),
        (StatusCode::OK, Some("Spa desk"), Some("faq"))
    );
    let (_, list) = api.get("/api/agents").await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["concierge", "spa"]);

    // Connectors: listed and read without secrets; numbers with ids to bind.
    let (status, connectors) = api.get("/api/connectors").await;
    assert_eq!((status, connectors[0]["health"].as_str()), (StatusCode::OK, Some("connected")));
    let (_, detail) = api.get(&format!("/api/connectors/{connector}")).await;
    assert!(detail["inbound_webhook_url"].as_str().unwrap().contains("/twilio/inbound/"));
    let (status, body) = api
        .call(Method::POST, "/api/connectors", Some(json!({ "name": "X", "account_sid": "AC1", "auth_token": TOKEN })))
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("account_sid")));
    let (_, numbers) = api.get(&format!("/api/connectors/{connector}/numbers")).await;
    let front = numbers.as_array().unwrap().iter().find(|n| n["id"] == number.as_str()).unwrap();
    assert_eq!((front["agent"].as_str(), front["webhook"].as_str()), (Some("concierge"), Some("configured")));

    // Channels: a number bound elsewhere is a conflict; a free one binds, and unbinds.
    let (status, body) = api.call(Method::POST, "/api/agents/spa/channels", Some(json!({ "number_id": number }))).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    assert!(body["error"]["message"].as_str().unwrap().contains("Already bound"));
    let spa_number = numbers.as_array().unwrap().iter().find(|n| n["number"] == "+14155550101").unwrap()["id"].clone();
    app.state
        .save_numbers(&me, &connector, vec![number.clone(), spa_number.as_str().unwrap().into()], false)
        .await
        .unwrap();
    let (status, channel) =
        api.call(Method::POST, "/api/agents/spa/channels", Some(json!({ "number_id": spa_number }))).await;
    assert_eq!(
        (status, channel["number"].as_str(), channel["provider"].as_str()),
        (StatusCode::CREATED, Some("+14155550101"), Some("whatsapp"))
    );
    let (_, channels) = api.get("/api/agents/spa/channels").await;
    assert_eq!(channels.as_array().unwrap().len(), 1);
    let path = format!("/api/agents/spa/channels/{}", channel["id"].as_str().unwrap());
    assert_eq!(api.call(Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.call(Method::DELETE, "/api/agents/spa", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/api/agents/spa").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_act_within_their_users_organization_and_role() {
    let app = spawn_app().await;
    let (admin, connector, _, _) = app.ready_path().await;
    let owner = {
        app.state
            .add_user(&admin, "owner@example.com", Role::AgentOwner, "correct horse battery".into())
            .await
            .unwrap();
        app.state.authenticate("owner@example.com".into(), "correct horse battery".into(), None).await.unwrap()
    };
    let other = app.other_organization().await;
    let as_owner = Api { app: &app, token: token_for(&app, &owner).await };
    let as_other = Api { app: &app, token: token_for(&app, &other).await };

    let concierge = app.state.list_agents(&admin).await.unwrap().into_iter().find(|a| a.name == "concierge").unwrap();
    let channel = app.state.list_channels(&admin, &concierge.id).await.unwrap().pop().unwrap();
    let number =
        TestApp::number(&app.state.list_numbers(&admin, &connector).await.unwrap(), "+14155550100", true).id.clone();
    let agent_body = json!({ "name": "concierge", "fallback_reply": "taken over" });
    let every_route: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/agents/concierge".into(), None),
        (Method::PUT, "/api/agents/concierge".into(), Some(agent_body)),
        (Method::DELETE, "/api/agents/concierge".into(), None),
        (Method::PUT, "/api/agents/concierge/senses".into(), Some(json!({ "images": "inline" }))),
        (Method::GET, "/api/agents/concierge/channels".into(), None),
        (Method::POST, "/api/agents/concierge/channels".into(), Some(json!({ "number_id": number }))),
        (
            Method::PUT,
            format!("/api/agents/concierge/channels/{}", channel.id),
            Some(json!({ "inbound_from": "+15550001111" })),
        ),
        (Method::DELETE, format!("/api/agents/concierge/channels/{}", channel.id), None),
        (Method::GET, "/api/agents/concierge/conversations".into(), None),
        (Method::POST, "/api/agents/concierge/messages".into(), Some(json!({ "to": "+15550001111", "body": "hi" }))),
        (Method::GET, "/api/agents/concierge/whatsapp".into(), None),
        (
            Method::PUT,
            "/api/agents/concierge/whatsapp".into(),
            Some(json!({ "connector": "Front Desk", "number": "+14155550100" })),
        ),
        (Method::DELETE, "/api/agents/concierge/whatsapp".into(), None),
        (Method::POST, "/api/agents/concierge/whatsapp/test".into(), Some(json!({ "to": "+15550001111" }))),
        (Method::GET, format!("/api/connectors/{connector}"), None),
        (
            Method::PUT,
            format!("/api/connectors/{connector}"),
            Some(json!({ "name": "Mine", "account_sid": app.account_sid })),
        ),
        (Method::DELETE, format!("/api/connectors/{connector}"), None),
        (Method::GET, format!("/api/connectors/{connector}/numbers"), None),
    ];
    for api in [&as_owner, &as_other] {
        for (method, path, body) in &every_route {
            let (status, answer) = api.call(method.clone(), path, body.clone()).await;
            assert!(
                (status == StatusCode::NOT_FOUND && code(&answer) == "not_found")
                    || (status == StatusCode::FORBIDDEN && code(&answer) == "forbidden"),
                "{method} {path}: {status} {answer}"
            );
        }
    }
    let (status, body) = as_owner.get("/api/connectors").await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    // The organization's transcription API: an owner reads it and may not change it; another
    // organization's admin reads and changes only their own.
    let transcription = json!({ "transcription_url": "http://127.0.0.1:9/v1", "transcription_model": "whisper-1", "transcription_key": "sk-probe" });
    let (status, body) = as_owner.call(Method::PUT, "/api/transcription", Some(transcription.clone())).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(as_other.call(Method::PUT, "/api/transcription", Some(transcription)).await.0, StatusCode::OK);
    let (status, body) = as_owner.get("/api/transcription").await;
    assert_eq!((status, &body["transcription_url"]), (StatusCode::OK, &Value::Null), "the first organization's: none");
    let (status, body) = as_other.get("/api/connectors").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    let (_, agents) = as_owner.get("/api/agents").await;
    assert_eq!(agents, json!([]), "an owner lists only their own agents");
    // The concierge, its channel and the connector are untouched.
    let channels = app.state.list_channels(&admin, &concierge.id).await.unwrap();
    assert_eq!(channels, vec![channel]);
    assert_eq!(app.state.connector(&admin, &connector).await.unwrap().summary.name, "Front Desk");
}

#[tokio::test]
async fn trinitys_whatsapp_routes_bind_test_and_unbind() {
    let app = spawn_app().await;
    let (me, _, _, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };

    let (status, bound) = api.get("/api/agents/concierge/whatsapp").await;
    assert_eq!((status, bound["bound"].as_bool()), (StatusCode::OK, Some(true)));
    let binding = &bound["bindings"][0];
    assert_eq!((binding["number"].as_str(), binding["webhook"].as_str()), (Some("+14155550100"), Some("configured")));
    assert!(binding["webhook_url"].as_str().unwrap().contains("/twilio/inbound/"));

    let (status, tested) = api.call(Method::POST, "/api/agents/concierge/whatsapp/test", None).await;
    assert_eq!(
        (status, tested["health"].as_str(), tested["message_sid"].is_null()),
        (StatusCode::OK, Some("connected"), true)
    );
    let (status, tested) =
        api.call(Method::POST, "/api/agents/concierge/whatsapp/test", Some(json!({ "to": "+15557654321" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tested["message_sid"].as_str().unwrap().starts_with("SM"));
    assert!(app.sim.sim.messages().iter().any(|m| m.to == "whatsapp:+15557654321"), "the test message went out");

    assert_eq!(api.call(Method::DELETE, "/api/agents/concierge/whatsapp", None).await.0, StatusCode::NO_CONTENT);
    let (_, unbound) = api.get("/api/agents/concierge/whatsapp").await;
    assert_eq!(unbound, json!({ "bound": false, "bindings": [] }));
    let (status, body) = api.call(Method::POST, "/api/agents/concierge/whatsapp/test", None).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));

    let config = json!({ "connector": "Front Desk", "number": "+14155550100" });
    let (status, rebound) = api.call(Method::PUT, "/api/agents/concierge/whatsapp", Some(config)).await;
    assert_eq!((status, rebound["bound"].as_bool()), (StatusCode::OK, Some(true)));
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/agents/concierge/whatsapp",
            Some(json!({ "connector": "Front Desk", "number": "+19999999999" })),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn proactive_messages_respect_the_24_hour_window_unless_a_template_is_given() {
    let app = spawn_app().await;
    let (me, _, _, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let guest = "whatsapp:+15550009999";

    // A guest who never wrote: free text is refused, a template goes.
    let (status, body) = api
        .call(Method::POST, "/api/agents/concierge/messages", Some(json!({ "to": "+15550009999", "body": "Hi!" })))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "outside_window"));
    let (status, body) =
        api.call(Method::POST, "/api/agents/concierge/messages", Some(json!({ "to": "12345", "body": "Hi!" }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("to")));
    let template = json!({ "to": "+15550009999", "template": { "sid": format!("HX{}", "a".repeat(32)), "variables": { "1": "Ana" } } });
    let (status, queued) = api.call(Method::POST, "/api/agents/concierge/messages", Some(template)).await;
    assert_eq!((status, queued["status"].as_str()), (StatusCode::ACCEPTED, Some("queued")));
    let sent = eventually("the template reaches the guest", || async { app.replies_to(guest).pop() }).await;
    assert_eq!(sent.body, "Hello Ana, we have news for you.");
    let sent_request = app
        .sim
        .sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/Messages.json") && r.method == "POST")
        .unwrap();
    assert!(
        sent_request.body.contains("ContentSid=HX") && !sent_request.body.contains("Body="),
        "{}",
        sent_request.body
    );

    // Once the guest writes, free text goes.
    app.sim
        .sim
        .guest_message(Inbound {
            to: "whatsapp:+14155550100".into(),
            from: guest.into(),
            body: "Thanks!".into(),
            profile_name: None,
            media: vec![],
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("the agent answers", || async { (app.replies_to(guest).len() >= 2).then_some(()) }).await;
    let (status, _) = api
        .call(
            Method::POST,
            "/api/agents/concierge/messages",
            Some(json!({ "to": "+15550009999", "body": "See you at 7!" })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("the free text arrives", || async {
        app.replies_to(guest).iter().any(|m| m.body == "See you at 7!").then_some(())
    })
    .await;
    let (_, conversations) = api.get("/api/agents/concierge/conversations").await;
    let messages = conversations[0]["messages"].as_array().unwrap();
    assert!(messages.iter().any(|m| m["body"] == "See you at 7!" && m["direction"] == "outbound"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let response = app.http.get(format!("{}/api/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/agents", vec!["get", "post"]),
        ("/api/agents/{name}", vec!["get", "put", "delete"]),
        ("/api/agents/{name}/senses", vec!["put"]),
        ("/api/transcription", vec!["get", "put"]),
        ("/api/agents/{name}/channels", vec!["get", "post"]),
        ("/api/agents/{name}/channels/{id}", vec!["put", "delete"]),
        ("/api/agents/{name}/conversations", vec!["get"]),
        ("/api/agents/{name}/messages", vec!["post"]),
        ("/api/agents/{name}/whatsapp", vec!["get", "put", "delete"]),
        ("/api/agents/{name}/whatsapp/test", vec!["post"]),
        ("/api/connectors", vec!["get", "post"]),
        ("/api/connectors/{id}", vec!["get", "put", "delete"]),
        ("/api/connectors/{id}/numbers", vec!["get"]),
        ("/api/guests/forget", vec!["post"]),
        ("/api/audit", vec!["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} documented"));
        for m in methods {
            assert!(item.get(m).is_some(), "{m} {path} documented");
        }
    }
    assert_eq!(paths.len(), 15, "no undocumented or stale paths");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn channel_routes_filter_senders_and_send_replies_to_a_fixed_number() {
    let app = spawn_app().await;
    let (me, connector, _, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let (_, channels) = api.get("/api/agents/concierge/channels").await;
    let path = format!("/api/agents/concierge/channels/{}", channels[0]["id"].as_str().unwrap());
    let write = |from: &str, body: &str| {
        let inbound = Inbound {
            to: "whatsapp:+14155550100".into(),
            from: format!("whatsapp:{from}"),
            body: body.into(),
            profile_name: None,
            media: vec![],
            ..Default::default()
        };
        app.sim.sim.guest_message(inbound)
    };

    let (status, body) = api.call(Method::PUT, &path, Some(json!({ "inbound_from": "not a number" }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("inbound_from")));

    // Inbound route: only the given sender reaches the agent; others are stored, unanswered.
    let (status, routed) = api.call(Method::PUT, &path, Some(json!({ "inbound_from": "+15550001111" }))).await;
    assert_eq!((status, routed["inbound_from"].as_str()), (StatusCode::OK, Some("+15550001111")));
    write("+15550002222", "When is breakfast?").await.unwrap();
    write("+15550001111", "When is breakfast?").await.unwrap();
    eventually("the allowed sender's reply", || async { app.replies_to("whatsapp:+15550001111").pop() }).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(app.replies_to("whatsapp:+15550002222").is_empty(), "the other sender gets no reply");
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2, "both messages are kept");

    // Outbound route: replies go to the fixed number (which wrote within its 24-hour window).
    let (_, routed) = api.call(Method::PUT, &path, Some(json!({ "outbound_to": "+15550003333" }))).await;
    assert_eq!((routed["inbound_from"].clone(), routed["outbound_to"].as_str()), (Value::Null, Some("+15550003333")));
    write("+15550003333", "Desk here").await.unwrap();
    eventually("the desk's own message answered", || async { app.replies_to("whatsapp:+15550003333").pop() }).await;
    write("+15550004444", "When is breakfast?").await.unwrap();
    eventually("the guest's answer reaches the desk", || async {
        app.replies_to("whatsapp:+15550003333").into_iter().find(|m| m.body == "Breakfast is from 7 to 10.")
    })
    .await;
    assert!(app.replies_to("whatsapp:+15550004444").is_empty(), "the guest is not answered directly");

    // A channel added with a bad route is not added at all.
    let rows = app.state.list_numbers(&me, &connector).await.unwrap();
    let spa = TestApp::number(&rows, "+14155550101", true).id.clone();
    let front = TestApp::number(&rows, "+14155550100", true).id.clone();
    app.state.save_numbers(&me, &connector, vec![front, spa.clone()], false).await.unwrap();
    let (status, _) = api
        .call(Method::POST, "/api/agents/concierge/channels", Some(json!({ "number_id": spa, "outbound_to": "x" })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, channels) = api.get("/api/agents/concierge/channels").await;
    assert_eq!(channels.as_array().unwrap().len(), 1, "nothing half-saved");
    let (bound,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'channel.bound'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(bound, 1, "the first channel's line, none for the refused one, not even for a moment");
}

/// What an agent perceives of guests' files is read and set through the API as on its page: the
/// transcription key only ever as "set", a bad field refused by name with nothing saved.
#[tokio::test]
async fn an_agents_senses_are_read_and_set_through_the_api() {
    let app = spawn_app().await;
    let (me, _, _, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let (_, agent) = api.get("/api/agents/concierge").await;
    assert_eq!(
        agent["senses"],
        json!({
            "transcription_url": null, "transcription_model": null, "transcription_key_set": false,
            "transcription_off": false, "images": "off"
        })
    );
    let path = "/api/agents/concierge/senses";
    let secret = "sk-api-transcribe-0123456789";
    let good = json!({
        "transcription_url": "https://api.openai.com/v1", "transcription_model": "whisper-1",
        "transcription_key": secret, "images": "inline"
    });
    for (field, bad) in [
        ("images", json!({ "images": "sometimes" })),
        (
            "transcription_url",
            json!({ "transcription_url": "ftp://example.com", "transcription_model": "m", "transcription_key": "k" }),
        ),
        ("transcription_model", json!({ "transcription_url": "https://api.openai.com/v1", "transcription_key": "k" })),
        ("transcription_key", json!({ "transcription_url": "https://api.openai.com/v1", "transcription_model": "m" })),
    ] {
        let (status, body) = api.call(Method::PUT, path, Some(bad)).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    let (_, unchanged) = api.get("/api/agents/concierge").await;
    assert_eq!(unchanged["senses"], agent["senses"], "nothing saved");

    let (status, saved) = api.call(Method::PUT, path, Some(good)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        saved["senses"],
        json!({
            "transcription_url": "https://api.openai.com/v1", "transcription_model": "whisper-1",
            "transcription_key_set": true, "transcription_off": false, "images": "inline"
        })
    );
    assert!(!saved.to_string().contains(secret), "the key never goes back");
    // The key absent, the stored one stays (same host); the agent's other settings are untouched.
    let (_, kept) = api
        .call(
            Method::PUT,
            path,
            Some(
                json!({ "transcription_url": "https://api.openai.com/v1", "transcription_model": "gpt-4o-transcribe" }),
            ),
        )
        .await;
    assert_eq!(
        (kept["senses"]["transcription_key_set"].as_bool(), kept["senses"]["images"].as_str()),
        (Some(true), Some("off"))
    );
    assert_eq!((kept["brain"].clone(), kept["faq"].clone()), (agent["brain"].clone(), agent["faq"].clone()));
    // A new key, for transcription or for the model, is a line in the audit log (the key never is);
    // a save that keeps the stored one is not.
    let body = json!({ "name": "concierge", "fallback_reply": "Sorry?", "brain": {
        "kind": "openai", "url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key": "sk-api-model-0123456789"
    } });
    let (status, _) = api.call(Method::PUT, "/api/agents/concierge", Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT subject, detail, actor || action || subject || detail FROM audit_log WHERE action = 'agent.key' ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let lines: Vec<(&str, &str)> = keys.iter().map(|k| (k.0.as_str(), k.1.as_str())).collect();
    assert_eq!(
        lines,
        [("concierge", "A new key for the transcription API."), ("concierge", "A new key for the model API.")]
    );
    assert!(keys.iter().all(|k| !k.2.contains("sk-")), "{keys:?}");
    // An empty body turns it all off, the key with it; `transcription_off` never transcribes.
    let (_, off) = api.call(Method::PUT, path, Some(json!({}))).await;
    assert_eq!(off["senses"]["transcription_key_set"], false);
    let (_, never) = api.call(Method::PUT, path, Some(json!({ "transcription_off": true }))).await;
    assert_eq!(never["senses"]["transcription_off"], true);
    let (status, _) = api.call(Method::PUT, "/api/agents/nobody/senses", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// WhatsApp guests with a username may have no phone number to route by: a route names them by
/// their WhatsApp user id, and matches them whether Twilio gives their phone or the id.
#[tokio::test]
async fn channel_routes_name_whatsapp_guests_by_their_user_id() {
    let app = spawn_app().await;
    let (me, connector, whatsapp, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let (_, channels) = api.get("/api/agents/concierge/channels").await;
    let path = format!("/api/agents/concierge/channels/{}", channels[0]["id"].as_str().unwrap());
    const ANA: &str = "US.13491208655302741918";
    let write = |from: &str, user: Option<&str>, body: &str| {
        let inbound = Inbound {
            to: "whatsapp:+14155550100".into(),
            from: format!("whatsapp:{from}"),
            external_user_id: user.map(|u| format!("whatsapp:{u}")),
            body: body.into(),
            ..Default::default()
        };
        app.sim.sim.guest_message(inbound)
    };

    let (status, routed) =
        api.call(Method::PUT, &path, Some(json!({ "inbound_from": format!("whatsapp:{ANA}") }))).await;
    assert_eq!((status, routed["inbound_from"].as_str()), (StatusCode::OK, Some(ANA)), "{routed}");
    // Ana by her phone (the id beside it), then by the id alone; another username is not answered.
    write("+15550001111", Some(ANA), "When is breakfast?").await.unwrap();
    eventually("Ana's reply by phone", || async { app.replies_to("whatsapp:+15550001111").pop() }).await;
    write("US.99999999999999999999", Some("US.99999999999999999999"), "When is breakfast?").await.unwrap();
    write(ANA, Some(ANA), "And dinner?").await.unwrap();
    eventually("Ana's reply by her id", || async { app.replies_to(&format!("whatsapp:{ANA}")).pop() }).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(app.replies_to("whatsapp:US.99999999999999999999").is_empty(), "the other username gets no reply");

    // Replies routed to a fixed recipient known by a user id go where Twilio last said the
    // guest is: to the id while she writes by it...
    let (status, routed) = api.call(Method::PUT, &path, Some(json!({ "inbound_from": "", "outbound_to": ANA }))).await;
    assert_eq!((status, routed["outbound_to"].as_str()), (StatusCode::OK, Some(ANA)), "{routed}");
    let before = app.replies_to(&format!("whatsapp:{ANA}")).len();
    write("+15550004444", None, "When is breakfast?").await.unwrap();
    eventually("the guest's answer reaches Ana", || async {
        (app.replies_to(&format!("whatsapp:{ANA}")).len() > before).then_some(())
    })
    .await;
    assert!(app.replies_to("whatsapp:+15550004444").is_empty(), "the guest is not answered directly");
    // ...to her phone once she writes by it again: into her own conversation, its window open.
    write("+15550001111", Some(ANA), "Desk here").await.unwrap();
    let by_phone = app.replies_to("whatsapp:+15550001111").len();
    eventually("Ana's own message answered", || async {
        (app.replies_to("whatsapp:+15550001111").len() > by_phone).then_some(())
    })
    .await;
    let by_phone = app.replies_to("whatsapp:+15550001111").len();
    write("+15550005555", None, "When is breakfast?").await.unwrap();
    eventually("the next guest's answer reaches Ana's phone", || async {
        app.replies_to("whatsapp:+15550001111")
            .get(by_phone)
            .filter(|m| m.body == "Breakfast is from 7 to 10.")
            .map(|_| ())
    })
    .await;
    let (ana,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM conversations WHERE guest_address IN ('whatsapp:+15550001111', $1) OR guest_user_id = $1",
    )
    .bind(format!("whatsapp:{ANA}"))
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(ana, 1, "Ana has one conversation");

    // An SMS number has no user ids: such a route there is refused, and nothing is saved.
    let rows = app.state.list_numbers(&me, &connector).await.unwrap();
    let sms = TestApp::number(&rows, "+14155550199", false).id.clone();
    app.state.save_numbers(&me, &connector, vec![whatsapp, sms.clone()], false).await.unwrap();
    let (status, body) = api
        .call(Method::POST, "/api/agents/concierge/channels", Some(json!({ "number_id": sms, "inbound_from": ANA })))
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("inbound_from")));
    assert!(body["error"]["message"].as_str().unwrap().contains("WhatsApp"), "{body}");
    let (_, channels) = api.get("/api/agents/concierge/channels").await;
    assert_eq!(channels.as_array().unwrap().len(), 1, "nothing half-saved");
}

/// The organization's transcription API through the REST API: bad bodies refused by field with
/// nothing saved, the key kept when absent and never given back.
#[tokio::test]
async fn the_organizations_transcription_api_is_read_and_set_through_the_api() {
    let app = spawn_app().await;
    let (me, _, _, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let url = "http://127.0.0.1:9/v1";
    for (body, field) in [
        (
            json!({ "transcription_url": "file:///etc/passwd", "transcription_model": "w", "transcription_key": "k" }),
            "transcription_url",
        ),
        (json!({ "transcription_url": url, "transcription_key": "k" }), "transcription_model"),
        (json!({ "transcription_url": url, "transcription_model": "whisper-1" }), "transcription_key"),
    ] {
        let (status, answer) = api.call(Method::PUT, "/api/transcription", Some(body)).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)));
    }
    let (status, none) = api.get("/api/transcription").await;
    assert_eq!(
        (status, none),
        (
            StatusCode::OK,
            json!({ "transcription_url": null, "transcription_model": null, "transcription_key_set": false })
        )
    );
    let body = json!({ "transcription_url": url, "transcription_model": "whisper-1", "transcription_key": "sk-org-rest-0123456789" });
    let (status, saved) = api.call(Method::PUT, "/api/transcription", Some(body)).await;
    assert_eq!((status, saved["transcription_key_set"].as_bool()), (StatusCode::OK, Some(true)));
    assert!(!saved.to_string().contains("sk-org-rest"));
    let kept = json!({ "transcription_url": url, "transcription_model": "whisper-2" });
    let (_, saved) = api.call(Method::PUT, "/api/transcription", Some(kept)).await;
    assert_eq!(
        (saved["transcription_model"].as_str(), saved["transcription_key_set"].as_bool()),
        (Some("whisper-2"), Some(true))
    );
    let (_, off) = api.call(Method::PUT, "/api/transcription", Some(json!({}))).await;
    assert_eq!(off, json!({ "transcription_url": null, "transcription_model": null, "transcription_key_set": false }));
}

#[tokio::test]
async fn conversations_page_with_a_cursor_and_say_how_many_there_are() {
    conversations_page(spawn_app().await).await;
}

/// The same pages when the agent's conversations are walked in each state's order (as for an agent
/// with many) instead of gathered and sorted, one conversation ended.
#[tokio::test]
async fn an_agent_with_many_conversations_pages_the_same_through_each_states_order() {
    conversations_page(crate::common::spawn_app_tuned(|_| {}, |t| t.agent_walk_from = 0).await).await;
}

/// An agent's total (`X-Total-Count`) is kept as rows of +1 and -1 (migration 0033): it follows
/// every way a conversation comes to an agent or leaves it, and equals a count of the
/// conversations after each, before and after the rows are folded.
#[tokio::test]
async fn an_agents_total_follows_its_conversations_wherever_they_go() {
    // The lifecycle worker folds the rows too: here only the test does, when it says.
    let app =
        crate::common::spawn_app_tuned(|_| {}, |t| t.lifecycle_sweep = std::time::Duration::from_secs(3600)).await;
    let (me, _, number, concierge) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let db = &app.state.db.pool;
    // The kept totals and a count of the conversations, by agent (an agent whose rows add up to
    // nothing has none).
    let both = || async {
        let kept: Vec<(String, i64)> = sqlx::query_as(
            "SELECT agent_id, CAST(SUM(n) AS BIGINT) FROM agent_totals GROUP BY agent_id \
             HAVING SUM(n) <> 0 ORDER BY agent_id",
        )
        .fetch_all(db)
        .await
        .unwrap();
        let counted: Vec<(String, i64)> = sqlx::query_as(
            "SELECT agent_id, COUNT(*) FROM conversations WHERE agent_id IS NOT NULL GROUP BY agent_id ORDER BY agent_id",
        )
        .fetch_all(db)
        .await
        .unwrap();
        (kept, counted)
    };
    let header = |agent: &'static str| {
        let api = &api;
        async move {
            let response = api
                .app
                .http
                .get(format!("{}/api/agents/{agent}/conversations?limit=1", api.app.url))
                .bearer_auth(&api.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.headers()["x-total-count"].to_str().unwrap().parse::<i64>().unwrap()
        }
    };
    let check = |step: &'static str, expected: Vec<(&'static str, i64)>| {
        let (both, header) = (&both, &header);
        async move {
            let (kept, counted) = both().await;
            assert_eq!(kept, counted, "{step}: the kept totals are the conversations' count");
            for (agent, n) in expected {
                assert_eq!(header(agent).await, n, "{step}: {agent}'s X-Total-Count");
            }
        }
    };
    let write = |from: &'static str, body: &'static str| {
        let app = &app;
        async move {
            let inbound = Inbound {
                to: "whatsapp:+14155550100".into(),
                from: from.into(),
                body: body.into(),
                ..Default::default()
            };
            assert_eq!(app.sim.sim.guest_message(inbound).await.unwrap().status, 200);
        }
    };
    const GUESTS: [&str; 3] = ["whatsapp:+15550001001", "whatsapp:+15550001002", "whatsapp:+15550001003"];
    for g in GUESTS {
        write(g, "Hello").await;
    }
    for g in GUESTS {
        eventually("every guest answered", || async { (!app.replies_to(g).is_empty()).then_some(()) }).await;
    }
    check("three guests wrote", vec![("concierge", 3)]).await;
    // A proactive message opens a conversation too (the outbox's upsert, not the webhook's).
    let template = json!({ "to": "+15550001004", "template": { "sid": format!("HX{}", "a".repeat(32)) } });
    let (status, _) = api.call(Method::POST, "/api/agents/concierge/messages", Some(template)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    check("a proactive message to a fourth", vec![("concierge", 4)]).await;
    // The number's channel moves to another agent: a guest who writes again moves with it.
    let night = app
        .state
        .create_agent(
            &me,
            app::agents::port::AgentInput {
                name: "night".into(),
                fallback_reply: "Later.".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let channel = app.state.list_channels(&me, &concierge).await.unwrap().remove(0);
    app.state.remove_channel(&me, &concierge, &channel.id).await.unwrap();
    app.state.add_channel(&me, &night.id, &number).await.unwrap();
    write(GUESTS[0], "Still there?").await;
    eventually("the night agent answers", || async { (app.replies_to(GUESTS[0]).len() == 2).then_some(()) }).await;
    check("one conversation moved", vec![("concierge", 3), ("night", 1)]).await;
    // A guest forgotten: their conversation is deleted.
    let conversation: (String,) = sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
        .bind(GUESTS[1])
        .fetch_one(db)
        .await
        .unwrap();
    app.state.forget_guest(&me, &conversation.0).await.unwrap();
    check("a guest forgotten", vec![("concierge", 2), ("night", 1)]).await;
    // Folded, the totals hold (one row per agent), and again after more conversations come.
    let rows = |agent: String| async move {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM agent_totals WHERE agent_id = $1")
            .bind(agent)
            .fetch_one(db)
            .await
            .unwrap();
        n
    };
    write("whatsapp:+15550001005", "Hi").await;
    eventually("the new guest answered", || async {
        (!app.replies_to("whatsapp:+15550001005").is_empty()).then_some(())
    })
    .await;
    check("a new guest of the night agent", vec![("concierge", 2), ("night", 2)]).await;
    assert_eq!((rows(concierge.clone()).await, rows(night.id.clone()).await), (6, 2), "4 in, 2 out; 2 in");
    // One agent looked up at a time: each is folded, the last as the first.
    let folded = switchboard::inbox::lifecycle::fold_totals_by(&app.state, 1, 500).await.unwrap();
    assert_eq!(folded.agents, 2, "both folded");
    assert_eq!((rows(concierge.clone()).await, rows(night.id.clone()).await), (1, 1));
    check("folded", vec![("concierge", 2), ("night", 2)]).await;
    // The night agent deleted: its conversations stay, with no agent, and its rows add up to
    // nothing, then fold away.
    app.state.delete_agent(&me, &night.id).await.unwrap();
    check("an agent deleted", vec![("concierge", 2)]).await;
    switchboard::inbox::lifecycle::fold_totals(&app.state).await.unwrap();
    assert_eq!(rows(night.id.clone()).await, 0, "a deleted agent's rows fold away");
    check("folded again", vec![("concierge", 2)]).await;
}

/// An agent's rows are folded a bounded number a transaction, however many a retention pass (or
/// a day of new guests) left: each transaction holds the write turn for as long as its rows take.
/// Two folds at once (two instances; here the test's, beside the lifecycle worker's first pass
/// when it comes late) leave the same sums, and the next fold one row an agent.
#[tokio::test]
async fn an_agents_many_total_rows_fold_a_bounded_number_a_transaction() {
    let app =
        crate::common::spawn_app_tuned(|_| {}, |t| t.lifecycle_sweep = std::time::Duration::from_secs(3600)).await;
    let db = &app.state.db.pool;
    // 1,200 rows for one agent (900 conversations in, 300 gone: 600) and 3 for another (2).
    let rows: Vec<(&str, i64)> = std::iter::repeat_n(("agent-a", 1), 900)
        .chain(std::iter::repeat_n(("agent-a", -1), 300))
        .chain([("agent-b", 1), ("agent-b", 1), ("agent-b", 0)])
        .collect();
    let values: Vec<String> = rows.iter().map(|(agent, n)| format!("('{agent}', {n})")).collect();
    sqlx::query(&format!("INSERT INTO agent_totals (agent_id, n) VALUES {}", values.join(", ")))
        .execute(db)
        .await
        .unwrap();
    let kept = || async {
        let kept: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT agent_id, CAST(SUM(n) AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM agent_totals \
             GROUP BY agent_id ORDER BY agent_id",
        )
        .fetch_all(db)
        .await
        .unwrap();
        kept
    };
    let fold = || switchboard::inbox::lifecycle::fold_totals_by(&app.state, 100, 500);
    let (one, other) = tokio::join!(fold(), fold());
    for folded in [one.unwrap(), other.unwrap()] {
        // Each takes what the other has not (on PostgreSQL, after waiting for the other's commit).
        assert!(folded.most_rows <= 500, "at most 500 rows a transaction: {folded:?}");
    }
    // The sums hold whatever the folders took. Each stops at an agent once it takes fewer rows
    // than it asked for, which a folder beside it can make happen early: a fold alone then
    // leaves one row an agent.
    let sums = || async { kept().await.into_iter().map(|(agent, sum, _)| (agent, sum)).collect::<Vec<_>>() };
    assert_eq!(sums().await, vec![("agent-a".to_string(), 600), ("agent-b".to_string(), 2)]);
    // (The lifecycle worker's first pass may still be folding: it takes rows as this fold does.)
    crate::common::eventually("one row an agent, with the same sums", || async {
        fold().await.unwrap();
        (kept().await == vec![("agent-a".to_string(), 600, 1), ("agent-b".to_string(), 2, 1)]).then_some(())
    })
    .await;
    // Alone, one fold goes as far: 1,205 rows take three transactions.
    sqlx::query(&format!("INSERT INTO agent_totals (agent_id, n) VALUES {}", values.join(", ")))
        .execute(db)
        .await
        .unwrap();
    let folded = fold().await.unwrap();
    assert_eq!((folded.agents, folded.most_rows), (2, 500), "{folded:?}");
    assert!(folded.transactions >= 3, "{folded:?}");
    assert_eq!(kept().await, vec![("agent-a".to_string(), 1200, 1), ("agent-b".to_string(), 4, 1)]);
    // Nothing left to fold: no transaction.
    assert_eq!(fold().await.unwrap(), Default::default());
}

async fn conversations_page(app: TestApp) {
    let (me, _, _, _) = app.ready_path().await;
    let api = Api { app: &app, token: token_for(&app, &me).await };
    let guests: Vec<String> = (0..7).map(|i| format!("whatsapp:+1555000{i:04}")).collect();
    for g in &guests {
        let inbound = Inbound {
            to: "whatsapp:+14155550100".into(),
            from: g.clone(),
            body: "Hello".into(),
            profile_name: None,
            media: vec![],
            ..Default::default()
        };
        assert_eq!(app.sim.sim.guest_message(inbound).await.unwrap().status, 200);
    }
    // Each reply moves its conversation's last activity: the pages are read once all are answered
    // (paging while conversations move is `inbox::paging_holds_steady_while_guests_write`).
    crate::common::eventually("every guest answered", || async {
        guests.iter().all(|g| !app.replies_to(g).is_empty()).then_some(())
    })
    .await;
    // One conversation ended: the pages hold both states.
    let admin = app.browser("admin@example.com").await;
    let filter = app::inbox::InboxFilter::default();
    let rows = app.ui(&admin, app::inbox::api::GetInbox { filter }).await.unwrap().rows;
    app.ui(&admin, app::inbox::api::EndConversation { id: rows[3].id.clone() }).await.unwrap();

    // Pages of 3: 3, 3 and 1, each naming the next until the last; together every conversation once.
    let mut seen: Vec<String> = Vec::new();
    let mut path = "/api/agents/concierge/conversations?limit=3".to_string();
    let mut sizes = Vec::new();
    loop {
        let response = app.http.get(format!("{}{path}", app.url)).bearer_auth(&api.token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-total-count"], "7", "the total on every page");
        let next = response.headers().get("link").map(|l| l.to_str().unwrap().to_string());
        let page: Vec<Value> = response.json().await.unwrap();
        sizes.push(page.len());
        seen.extend(page.iter().map(|c| c["guest"].as_str().unwrap().to_string()));
        let Some(link) = next else { break };
        assert!(link.ends_with(r#">; rel="next""#), "{link}");
        path = link.trim_start_matches('<').split('>').next().unwrap().to_string();
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    // In the inbox's order (the most recently active first), across the pages and both states.
    let filter = app::inbox::InboxFilter::default();
    let listed: Vec<String> =
        app.ui(&admin, app::inbox::api::GetInbox { filter }).await.unwrap().rows.into_iter().map(|r| r.guest).collect();
    assert_eq!(seen, listed);
    let mut expected: Vec<String> = guests.iter().map(|g| g.trim_start_matches("whatsapp:").to_string()).collect();
    let mut got: Vec<String> = seen.iter().map(|g| g.trim_start_matches("whatsapp:").to_string()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every conversation once");
    // The most recently active first: a guest who writes again (and is answered) leads the first page.
    for g in &guests {
        eventually("every guest answered", || async { (!app.replies_to(g).is_empty()).then_some(()) }).await;
    }
    let again = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: guests[2].clone(),
        body: "And dinner?".into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    };
    app.sim.sim.guest_message(again).await.unwrap();
    eventually("the second question answered", || async { (app.replies_to(&guests[2]).len() == 2).then_some(()) })
        .await;
    let (_, first) = api.get("/api/agents/concierge/conversations?limit=1").await;
    assert_eq!(first[0]["guest"].as_str().unwrap(), guests[2]);

    // Without a limit: all 7 (at most 50) and no next page.
    let (status, all) = api.get("/api/agents/concierge/conversations").await;
    assert_eq!((status, all.as_array().unwrap().len()), (StatusCode::OK, 7));
    // A limit out of range or a cursor this API did not give: a clear 422.
    for bad in ["?limit=0", "?limit=201", "?limit=many", "?cursor=bm90LWEtY3Vyc29y", "?cursor=%25%25"] {
        let (status, body) = api.get(&format!("/api/agents/concierge/conversations{bad}")).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"), "{bad}: {body}");
    }
}
