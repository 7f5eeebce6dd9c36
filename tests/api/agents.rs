//! Agents and their brains: the built-in FAQ, an OpenAI-compatible chat-completions API and the
//! customer's HTTP hook, each against a local test server; "Try the agent"; edits, deletes and
//! bad input; the welcome message.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::common::{eventually, spawn_app, TestApp};
use app::{
    agents::{
        api::{AddChannel, CreateAgent, DeleteAgent, GetAgent, ListAgents, RegenerateHookSecret, TryAgent},
        port::BrainInput,
        BrainKind, ChatLine,
    },
    connectors::api::ListNumbers,
    inbox::api::ListConversations,
    AppError,
};
use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use serde_json::{json, Value};
use twilio_sim::Inbound;

pub(crate) const KEY: &str = "sk-test-0123456789abcdefghijklmnop";

/// What a test server received: headers of interest and the body.
#[derive(Clone, Default)]
pub(crate) struct Seen(pub(crate) Arc<Mutex<Vec<(HeaderMap, String)>>>);

impl Seen {
    pub(crate) fn all(&self) -> Vec<(HeaderMap, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// How the test model server behaves.
#[derive(Clone, Copy)]
pub(crate) enum Model {
    Echo,
    Fail,
    Slow,
}

/// An OpenAI-compatible server on a free port: checks the bearer key, answers with the last
/// user message and how many messages it was given.
pub(crate) async fn model_server(mode: Model) -> (String, Seen) {
    let seen = Seen::default();
    async fn completions(
        State((seen, mode)): State<(Seen, Model)>,
        headers: HeaderMap,
        body: String,
    ) -> (axum::http::StatusCode, Json<Value>) {
        seen.0.lock().unwrap().push((headers.clone(), body.clone()));
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}")) {
            return (axum::http::StatusCode::UNAUTHORIZED, Json(json!({ "error": { "message": "bad key" } })));
        }
        match mode {
            Model::Fail => {
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": { "message": "the model is overloaded" } })),
                )
            }
            Model::Slow => tokio::time::sleep(Duration::from_secs(4)).await,
            Model::Echo => {}
        }
        let request: Value = serde_json::from_str(&body).unwrap();
        let messages = request["messages"].as_array().unwrap();
        let last = messages.last().unwrap()["content"].as_str().unwrap().to_string();
        let reply = format!("Echo: {last} ({} messages)", messages.len());
        (
            axum::http::StatusCode::OK,
            Json(json!({ "choices": [{ "index": 0, "message": { "role": "assistant", "content": reply } }] })),
        )
    }
    let app = Router::new().route("/v1/chat/completions", post(completions)).with_state((seen.clone(), mode));
    (serve(app).await, seen)
}

/// The customer's hook: answers JSON `{"reply": …}` naming the guest and the messages.
pub(crate) async fn hook_server() -> (String, Seen) {
    let seen = Seen::default();
    async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: String) -> Json<Value> {
        seen.0.lock().unwrap().push((headers, body.clone()));
        let turn: Value = serde_json::from_str(&body).unwrap();
        let said: Vec<&str> = turn["messages"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        Json(json!({ "reply": format!("Hook heard {} from {}", said.join(" + "), turn["guest"]["name"]) }))
    }
    let app = Router::new().route("/hook", post(hook)).with_state(seen.clone());
    (format!("{}/hook", serve(app).await), seen)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn guest_says(body: &str) -> Inbound {
    Inbound {
        to: "whatsapp:+14155550100".into(),
        from: "whatsapp:+15550004444".into(),
        body: body.into(),
        profile_name: Some("Ana".into()),
        media: vec![],
        ..Default::default()
    }
}

async fn reply_number(app: &TestApp, n: usize) -> String {
    eventually("the agent's reply", || async { app.replies_to("whatsapp:+15550004444").get(n).map(|m| m.body.clone()) })
        .await
}

/// The agent form as the page posts it: the concierge's instructions, fallback reply and one
/// FAQ line, with `brain`.
pub(crate) fn form(name: &str, brain: BrainInput) -> CreateAgent {
    let form = CreateAgent {
        instructions: "You are the hotel's concierge. Be brief.".into(),
        faq: "When is breakfast? | From 7 to 10.".into(),
        ..TestApp::agent_form(name, "A colleague will answer soon.")
    };
    TestApp::with_brain(form, brain)
}

pub(crate) fn openai(url: &str, key: Option<&str>, timeout_secs: Option<u64>) -> BrainInput {
    BrainInput::OpenAi {
        base_url: format!("{url}/v1"),
        model: "test-model".into(),
        api_key: key.map(str::to_string),
        timeout_secs,
    }
}

#[tokio::test]
async fn an_openai_compatible_brain_answers_with_the_instructions_and_the_conversation() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let (url, seen) = model_server(Model::Echo).await;
    let detail =
        app.ui(&admin, TestApp::edit_form(&agent, form("concierge", openai(&url, Some(KEY), None)))).await.unwrap();
    assert_eq!(detail.brain.kind, BrainKind::OpenAi);
    assert!(detail.brain.api_key_set);
    assert!(!serde_json::to_string(&detail).unwrap().contains(KEY), "the key never goes back to the browser");

    app.sim.sim.guest_message(guest_says("Is the pool open?")).await.unwrap();
    assert_eq!(reply_number(&app, 0).await, "Echo: Is the pool open? (2 messages)");
    app.sim.sim.guest_message(guest_says("And the gym?")).await.unwrap();
    assert_eq!(reply_number(&app, 1).await, "Echo: And the gym? (4 messages)");

    let (_, body) = seen.all().pop().unwrap();
    let request: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(request["model"], "test-model");
    let roles: Vec<(&str, &str)> = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("system", "You are the hotel's concierge. Be brief."),
            ("user", "Is the pool open?"),
            ("assistant", "Echo: Is the pool open? (2 messages)"),
            ("user", "And the gym?"),
        ]
    );

    // The key is sealed at rest; an edit without a key keeps it.
    let (sealed,): (Vec<u8>,) = sqlx::query_as("SELECT llm_api_key_enc FROM agents WHERE id = $1")
        .bind(&agent)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(KEY));
    app.ui(&admin, TestApp::edit_form(&agent, form("concierge", openai(&url, None, None)))).await.unwrap();
    let tried = app
        .ui(&admin, TryAgent { id: agent.clone(), chat: vec![ChatLine { from_guest: true, text: "Hello?".into() }] })
        .await
        .unwrap();
    assert_eq!((tried.reply.as_str(), tried.note), ("Echo: Hello? (2 messages)", None));
}

#[tokio::test]
async fn a_failing_or_slow_brain_yields_the_fallback_reply_and_says_why() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let chat = vec![ChatLine { from_guest: true, text: "Hello?".into() }];

    let (failing, _) = model_server(Model::Fail).await;
    app.ui(&admin, TestApp::edit_form(&agent, form("concierge", openai(&failing, Some(KEY), None)))).await.unwrap();
    let tried = app.ui(&admin, TryAgent { id: agent.clone(), chat: chat.clone() }).await.unwrap();
    assert_eq!(tried.reply, "A colleague will answer soon.");
    let note = tried.note.unwrap();
    assert!(note.contains("HTTP 500") && note.contains("the model is overloaded"), "{note}");
    assert!(!note.contains(KEY));

    let (slow, _) = model_server(Model::Slow).await;
    app.ui(&admin, TestApp::edit_form(&agent, form("concierge", openai(&slow, Some(KEY), Some(1))))).await.unwrap();
    let tried = app.ui(&admin, TryAgent { id: agent.clone(), chat: chat.clone() }).await.unwrap();
    assert_eq!(tried.reply, "A colleague will answer soon.");
    assert!(tried.note.unwrap().contains("took too long"));
    assert!(tried.latency_ms < 3000, "the agent's own timeout (1 s) applies, not the model's pace");

    // Through WhatsApp the guest gets the fallback too, and the conversation records why.
    app.ui(&admin, TestApp::edit_form(&agent, form("concierge", openai(&failing, Some(KEY), None)))).await.unwrap();
    app.sim.sim.guest_message(guest_says("Is the pool open?")).await.unwrap();
    assert_eq!(reply_number(&app, 0).await, "A colleague will answer soon.");
    let (note,): (Option<String>,) = sqlx::query_as("SELECT note FROM messages WHERE direction = 'outbound'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert!(note.unwrap().contains("The brain failed"));
}

#[tokio::test]
async fn the_http_hook_brain_gets_the_turn_signed_and_its_reply_reaches_the_guest() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let (url, seen) = hook_server().await;
    let detail = app
        .ui(
            &admin,
            TestApp::edit_form(&agent, form("concierge", BrainInput::Hook { url: url.clone(), timeout_secs: None })),
        )
        .await
        .unwrap();
    let secret = detail.new_hook_secret.expect("the signing secret, shown once");
    assert!(secret.starts_with("sbhs_") && secret.len() > 40);
    let again = app.ui(&admin, GetAgent { id: agent.clone() }).await.unwrap();
    assert!(again.brain.hook_secret_set && again.new_hook_secret.is_none(), "shown once only");

    app.sim.sim.guest_message(guest_says("Hi there")).await.unwrap();
    assert_eq!(reply_number(&app, 0).await, "Hook heard Hi there from \"Ana\"");
    // "Typing…" went out while the hook thought, before the reply.
    let calls: Vec<String> = app.sim.sim.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let typing = calls.iter().position(|c| c == "POST /v2/Indicators/Typing.json").expect("a typing indicator");
    let reply = calls.iter().position(|c| c.starts_with("POST") && c.ends_with("/Messages.json")).unwrap();
    assert!(typing < reply, "the typing indicator before the reply: {calls:?}");
    let (headers, body) = seen.all().pop().unwrap();
    let signature = headers.get("x-switchboard-signature").unwrap().to_str().unwrap();
    assert_eq!(signature, switchboard::brain::hook_signature(&secret, body.as_bytes()));
    let turn: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(turn["agent"], "concierge");
    assert_eq!(turn["guest"]["address"], "whatsapp:+15550004444");
    assert!(turn["conversation_id"].is_string());

    // A new secret: the next call is signed with it, not the old one, in "Try the agent" and in
    // the guest's next turn (the brain loaded for earlier turns is not used again).
    let renewed = app.ui(&admin, RegenerateHookSecret { id: agent.clone() }).await.unwrap();
    assert_ne!(renewed, secret);
    app.ui(&admin, TryAgent { id: agent.clone(), chat: vec![ChatLine { from_guest: true, text: "Ping".into() }] })
        .await
        .unwrap();
    let (headers, body) = seen.all().pop().unwrap();
    let signature = headers.get("x-switchboard-signature").unwrap().to_str().unwrap();
    assert_eq!(signature, switchboard::brain::hook_signature(&renewed, body.as_bytes()));
    app.sim.sim.guest_message(guest_says("Still there?")).await.unwrap();
    assert_eq!(reply_number(&app, 1).await, "Hook heard Still there? from \"Ana\"");
    let (headers, body) = seen.all().pop().unwrap();
    let signature = headers.get("x-switchboard-signature").unwrap().to_str().unwrap();
    assert_eq!(signature, switchboard::brain::hook_signature(&renewed, body.as_bytes()));

    // Leaving the hook brain drops its secret; the next turn is the FAQ's, which answers at once
    // and shows no typing indicator.
    let faq = app.ui(&admin, TestApp::edit_form(&agent, form("concierge", BrainInput::Faq))).await.unwrap();
    assert!(!faq.brain.hook_secret_set);
    let typed =
        |app: &TestApp| app.sim.sim.requests().iter().filter(|r| r.path == "/v2/Indicators/Typing.json").count();
    let typed_before = typed(&app);
    app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(reply_number(&app, 2).await, "From 7 to 10.");
    assert_eq!(typed(&app), typed_before, "no typing indicator for the FAQ");
    assert_eq!(seen.all().len(), 3, "the hook was not called again");
    let refused = app.ui(&admin, RegenerateHookSecret { id: agent.clone() }).await.unwrap_err();
    assert!(matches!(refused, AppError::Conflict(_)));
}

#[tokio::test]
async fn agents_are_edited_and_deleted_and_bad_input_saves_nothing() {
    let app = spawn_app().await;
    let (_, connector, number, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let field = |e: AppError| match e {
        AppError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other:?}"),
    };
    let bad = [
        (form("has spaces", BrainInput::Faq), "name"),
        (form("ok", openai("http://127.0.0.1:9", None, None)), "llm_api_key"),
        (form("ok", openai("not a url", Some(KEY), None)), "brain_url"),
        (form("ok", BrainInput::Hook { url: "ftp://x".into(), timeout_secs: None }), "brain_url"),
        (CreateAgent { fallback_reply: " ".into(), ..form("ok", BrainInput::Faq) }, "fallback_reply"),
        (CreateAgent { welcome_message: "w".repeat(1601), ..form("ok", BrainInput::Faq) }, "welcome_message"),
    ];
    for (agent_input, expected) in bad {
        assert_eq!(field(app.ui(&admin, agent_input.clone()).await.unwrap_err()), expected);
        assert_eq!(field(app.ui(&admin, TestApp::edit_form(&agent, agent_input)).await.unwrap_err()), expected);
    }
    let spa = app.ui(&admin, form("spa", BrainInput::Faq)).await.unwrap();
    assert_eq!(
        field(app.ui(&admin, TestApp::edit_form(&spa.id, form("concierge", BrainInput::Faq))).await.unwrap_err()),
        "name"
    );
    let unchanged = app.ui(&admin, GetAgent { id: agent.clone() }).await.unwrap();
    assert_eq!(
        (unchanged.name.as_str(), unchanged.brain.kind),
        ("concierge", BrainKind::Faq),
        "refused edits change nothing"
    );

    let edited = app
        .ui(
            &admin,
            TestApp::edit_form(
                &agent,
                CreateAgent { description: "Front desk questions".into(), ..form("front-desk", BrainInput::Faq) },
            ),
        )
        .await
        .unwrap();
    assert_eq!((edited.name.as_str(), edited.description.as_str()), ("front-desk", "Front desk questions"));

    // A conversation, then the agent goes: its channel goes, the number and the conversation stay.
    app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(reply_number(&app, 0).await, "From 7 to 10.");
    app.ui(&admin, DeleteAgent { id: agent.clone() }).await.unwrap();
    assert!(matches!(app.ui(&admin, GetAgent { id: agent.clone() }).await, Err(AppError::NotFound(_))));
    let names: Vec<String> = app.ui(&admin, ListAgents {}).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, vec!["spa"]);
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let row = rows.iter().find(|r| r.id == number).unwrap();
    assert!(row.active && row.bound_agent.is_none());
    let (conversations,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM conversations").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(conversations, 1);
    // The freed number can answer for another agent.
    app.ui(&admin, AddChannel { agent_id: spa.id.clone(), number_id: number.clone() }).await.unwrap();
}

#[tokio::test]
async fn a_new_conversation_hears_the_welcome_message_first_and_only_once() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let welcome = CreateAgent { welcome_message: "Welcome to the hotel!".into(), ..form("concierge", BrainInput::Faq) };
    app.ui(&admin, TestApp::edit_form(&agent, welcome)).await.unwrap();
    app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(reply_number(&app, 0).await, "Welcome to the hotel!");
    assert_eq!(reply_number(&app, 1).await, "From 7 to 10.");
    app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(reply_number(&app, 2).await, "From 7 to 10.");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.replies_to("whatsapp:+15550004444").len(), 3);
}

#[tokio::test]
async fn a_welcome_that_fails_does_not_hold_back_the_answer_and_the_conversation_says_so() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let welcome = CreateAgent { welcome_message: "Welcome to the hotel!".into(), ..form("concierge", BrainInput::Faq) };
    app.ui(&admin, TestApp::edit_form(&agent, welcome)).await.unwrap();
    // Twilio refuses the welcome for good (an invalid message), and only it.
    app.sim.sim.set_faults(twilio_sim::Faults {
        reject_code: Some(21617),
        reject_matching: Some("Welcome".into()),
        ..Default::default()
    });
    app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(reply_number(&app, 0).await, "From 7 to 10.", "the answer went out");
    let c = eventually("the welcome recorded as failed", || async {
        let c = app.ui(&admin, ListConversations { agent_id: agent.clone() }).await.unwrap().remove(0);
        c.messages.iter().any(|m| m.status == "failed").then_some(c)
    })
    .await;
    let sent = |body: &str| c.messages.iter().find(|m| m.body == body).unwrap().clone();
    let (welcome, answer) = (sent("Welcome to the hotel!"), sent("From 7 to 10."));
    assert!(welcome.error.is_some(), "the welcome shows why it failed: {welcome:?}");
    let note = answer.note.as_deref().unwrap_or_default();
    assert!(note.contains("without the message before it, which failed"), "the answer says so: {answer:?}");
}

#[tokio::test]
async fn try_the_agent_runs_the_faq_brain_without_whatsapp() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let sends_before = app.sim.sim.send_attempts().len();
    let chat = vec![
        ChatLine { from_guest: true, text: "Hi".into() },
        ChatLine { from_guest: false, text: "A colleague will answer soon.".into() },
        ChatLine { from_guest: true, text: "When is breakfast?".into() },
    ];
    let tried = app.ui(&admin, TryAgent { id: agent.clone(), chat }).await.unwrap();
    assert_eq!((tried.reply.as_str(), tried.note), ("Breakfast is from 7 to 10.", None));
    let empty = app.ui(&admin, TryAgent { id: agent.clone(), chat: vec![] }).await.unwrap_err();
    assert!(matches!(empty, AppError::Invalid { .. }));
    assert_eq!(app.sim.sim.send_attempts().len(), sends_before, "nothing went through Twilio");
    let (messages,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(messages, 0, "nothing was stored as a conversation");
}
