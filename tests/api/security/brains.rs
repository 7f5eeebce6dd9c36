//! Brains and internal services: an agent owner cannot reach internal addresses through a brain's
//! URL (typed, or by a redirect), a brain's answer is bounded, and a stored model key is not sent
//! to a new host.

use std::net::SocketAddr;

use super::{agent, agent_owner, serve_on};
use crate::common::{spawn_app_with, TestApp};
use app::{
    agents::{
        api::{DeleteAgent, TryAgent},
        port::BrainInput,
        ChatLine,
    },
    AppError,
};
use axum::{response::IntoResponse, routing::any, Router};
use switchboard::egress::Egress;

const INTERNAL_SECRET: &str = "internal-only: db password hunter2";

/// An internal service on 127.0.0.1 and a "public" server on 127.0.0.2 that the test's policy
/// allows; the latter redirects to wherever `?to=` says.
async fn internal_and_public() -> (SocketAddr, SocketAddr) {
    let internal = serve_on("127.0.0.1", Router::new().fallback(any(|| async { INTERNAL_SECRET }))).await;
    let public = serve_on(
        "127.0.0.2",
        Router::new().fallback(any(|axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
            let to = q.and_then(|q| q.strip_prefix("to=").map(str::to_string)).unwrap_or_default();
            let to = url::form_urlencoded::parse(format!("x={to}").as_bytes()).next().unwrap().1.into_owned();
            (axum::http::StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, to)]).into_response()
        })),
    )
    .await;
    (internal, public)
}

fn hi() -> Vec<ChatLine> {
    vec![ChatLine { from_guest: true, text: "Hi".into() }]
}

fn hook(url: String) -> BrainInput {
    BrainInput::Hook { url, timeout_secs: Some(5) }
}

#[tokio::test]
async fn an_agent_owner_cannot_read_internal_services_through_a_brain() {
    let app = spawn_app_with(|c| c.outbound_allow = Egress::parse("127.0.0.2").unwrap()).await;
    let owner = agent_owner(&app, &app.admin().await).await;
    let (internal, public) = internal_and_public().await;
    let port = internal.port();

    // Typed directly: refused when saved, in every spelling.
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://2130706433:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.7/".to_string(),
        "http://192.168.1.1/".to_string(),
    ] {
        let refused = app.ui(&owner, agent("probe", hook(url.clone()))).await.unwrap_err();
        assert!(
            matches!(&refused, AppError::Invalid { field, message } if field == "brain_url" && message.contains("internal")),
            "{url}: {refused:?}"
        );
        let openai = BrainInput::OpenAi {
            base_url: url.clone(),
            model: "m".into(),
            api_key: Some("k".into()),
            timeout_secs: None,
        };
        let refused = app.ui(&owner, agent("probe", openai)).await.unwrap_err();
        assert!(matches!(&refused, AppError::Invalid { field, .. } if field == "brain_url"), "{url}: {refused:?}");
    }

    // Through a public URL that redirects inside: refused at the redirect, the fallback goes out.
    for target in [
        format!("http://127.0.0.1:{port}/secret"),
        format!("http://localhost:{port}/secret"),
        format!("http://[::ffff:127.0.0.1]:{port}/secret"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let to: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        let url = format!("http://{public}/hook?to={to}");
        let created = app.ui(&owner, agent("redirected", hook(url))).await.unwrap();
        let tried = app.ui(&owner, TryAgent { id: created.id.clone(), chat: hi() }).await.unwrap();
        assert_eq!(tried.reply, "A colleague will answer.", "{target}");
        assert!(!tried.reply.contains(INTERNAL_SECRET));
        let note = tried.note.unwrap_or_default();
        assert!(note.contains("internal"), "{target}: {note}");
        app.ui(&owner, DeleteAgent { id: created.id }).await.unwrap();
    }

    // Positive control: the same internal service, allowed by the operator, answers.
    let allowed = spawn_app_with(|c| c.outbound_allow = Egress::parse("127.0.0.1").unwrap()).await;
    let owner = agent_owner(&allowed, &allowed.admin().await).await;
    let created = allowed.ui(&owner, agent("allowed", hook(format!("http://127.0.0.1:{port}/")))).await.unwrap();
    let tried = allowed.ui(&owner, TryAgent { id: created.id, chat: hi() }).await.unwrap();
    assert_eq!(tried.reply, INTERNAL_SECRET, "an allowed address is called");
}

#[tokio::test]
async fn a_brain_cannot_flood_guests_or_the_server_with_a_huge_answer() {
    let app = spawn_app_with(|c| c.outbound_allow = Egress::parse("127.0.0.2").unwrap()).await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let huge = serve_on("127.0.0.2", Router::new().fallback(any(|| async { "x".repeat(2 * 1024 * 1024) }))).await;
    let long = serve_on(
        "127.0.0.2",
        Router::new().fallback(any(|| async { axum::Json(serde_json::json!({ "reply": "word ".repeat(2000) })) })),
    )
    .await;
    let created = app.ui(&admin, agent("huge", hook(format!("http://{huge}/")))).await.unwrap();
    let tried = app.ui(&admin, TryAgent { id: created.id, chat: hi() }).await.unwrap();
    assert_eq!(tried.reply, "A colleague will answer.");
    assert!(tried.note.as_deref().unwrap_or_default().contains("larger than 256 kB"), "{:?}", tried.note);

    let created = app.ui(&admin, agent("long", hook(format!("http://{long}/")))).await.unwrap();
    let tried = app.ui(&admin, TryAgent { id: created.id, chat: hi() }).await.unwrap();
    assert!(tried.reply.chars().count() <= switchboard::agents::MAX_REPLY_CHARS, "{}", tried.reply.len());
    assert!(tried.reply.ends_with('…') && tried.reply.starts_with("word word"));
    assert!(tried.note.as_deref().unwrap_or_default().contains("10000 characters"), "{:?}", tried.note);
}

#[tokio::test]
async fn a_stored_model_key_is_not_sent_to_a_new_host_without_being_typed_again() {
    let app = spawn_app_with(|c| c.outbound_allow = Egress::parse("127.0.0.2,127.0.0.3").unwrap()).await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let openai = |base_url: &str, api_key: Option<&str>| BrainInput::OpenAi {
        base_url: base_url.into(),
        model: "gpt-test".into(),
        api_key: api_key.map(str::to_string),
        timeout_secs: None,
    };
    let created = app.ui(&admin, agent("llm", openai("http://127.0.0.2:8080/v1", Some("sk-first")))).await.unwrap();
    let edit = |brain: BrainInput| TestApp::edit_form(&created.id, agent("llm", brain));
    // Same host, another path: the stored key stays.
    app.ui(&admin, edit(openai("http://127.0.0.2:8080/v2", None))).await.unwrap();
    for moved in ["http://127.0.0.3:8080/v1", "http://127.0.0.2:9090/v1", "https://127.0.0.2:8080/v1"] {
        let refused = app.ui(&admin, edit(openai(moved, None))).await.unwrap_err();
        assert!(matches!(&refused, AppError::Invalid { field, .. } if field == "llm_api_key"), "{moved}: {refused:?}");
    }
    app.ui(&admin, edit(openai("http://127.0.0.3:8080/v1", Some("sk-second")))).await.unwrap();
}

/// The transcription APIs' URLs (an agent's own, and the organization's) go through the same
/// outbound policy as a brain's: an internal address is refused by field, in every spelling, and
/// nothing is saved.
#[tokio::test]
async fn no_transcription_api_url_reaches_an_internal_address() {
    use app::agents::api::{GetTranscription, SetAgentSenses, SetTranscription};
    let app = spawn_app_with(|c| c.outbound_allow = Egress::parse("127.0.0.2").unwrap()).await;
    let admin_me = app.admin().await;
    let owner = agent_owner(&app, &admin_me).await;
    let admin = app.browser("admin@example.com").await;
    let created = app.ui(&owner, agent("probe", BrainInput::default())).await.unwrap();
    let (internal, _) = internal_and_public().await;
    for url in [
        format!("http://127.0.0.1:{}/v1", internal.port()),
        "http://localhost/v1".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::1]/v1".to_string(),
        "http://10.0.0.7/v1".to_string(),
    ] {
        let own = SetAgentSenses {
            agent_id: created.id.clone(),
            transcription_url: url.clone(),
            transcription_model: "whisper-1".into(),
            transcription_key: "sk-probe".into(),
            transcription_off: String::new(),
            images: String::new(),
        };
        let refused = app.ui(&owner, own).await.unwrap_err();
        assert!(
            matches!(&refused, AppError::Invalid { field, .. } if field == "transcription_url"),
            "{url}: {refused:?}"
        );
        let organization = SetTranscription {
            transcription_url: url.clone(),
            transcription_model: "whisper-1".into(),
            transcription_key: "sk-probe".into(),
        };
        let refused = app.ui(&admin, organization).await.unwrap_err();
        assert!(
            matches!(&refused, AppError::Invalid { field, .. } if field == "transcription_url"),
            "{url}: {refused:?}"
        );
    }
    assert_eq!(app.ui(&admin, GetTranscription {}).await.unwrap().url, None, "nothing saved");
    let senses = app.ui(&owner, app::agents::api::GetAgent { id: created.id }).await.unwrap().senses;
    assert_eq!(senses.transcription_url, None, "nothing saved");
}
