//! A guest's message from the simulator's phone to the agent's reply, through signed webhooks.

use crate::common::{eventually, spawn_app, TOKEN};
use app::{
    agents::api::{ListChannels, RemoveChannel},
    connectors::api::{GetConnector, UpdateConnector},
    inbox::{api::ListConversations, Direction},
};
use twilio_sim::Inbound;

const GUEST: &str = "whatsapp:+15551230001";

fn guest_says(body: &str) -> Inbound {
    Inbound {
        to: "whatsapp:+14155550100".into(),
        from: GUEST.into(),
        body: body.into(),
        profile_name: Some("Ana".into()),
        media: vec![],
        ..Default::default()
    }
}

#[tokio::test]
async fn guest_message_gets_the_agents_reply_end_to_end() {
    let app = spawn_app().await;
    let (_, _connector, _number, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;

    let delivery = app.sim.sim.guest_message(guest_says("Hi! When is breakfast?")).await.unwrap();
    assert_eq!(delivery.status, 200);
    assert!(delivery.content_type.unwrap_or_default().starts_with("text/xml"));
    assert!(delivery.body.contains("<Response></Response>"), "empty TwiML, got {}", delivery.body);

    let reply =
        eventually("the reply reaches the simulator", || async { app.replies_to(GUEST).into_iter().next() }).await;
    assert_eq!(reply.body, "Breakfast is from 7 to 10.");
    assert_eq!(reply.from, "whatsapp:+14155550100");
    assert!(reply.status_callback.as_deref().is_some_and(|u| u.starts_with(&app.url)), "{:?}", reply.status_callback);

    // The status callbacks carry the reply to "read", and the conversation shows both sides.
    let conversation = eventually("the reply is read", || async {
        let list = app.ui(&admin, ListConversations { agent_id: agent.clone() }).await.unwrap();
        let c = list.into_iter().next()?;
        (c.messages.len() == 2 && c.messages[1].status == "read").then_some(c)
    })
    .await;
    assert_eq!(conversation.guest, GUEST);
    assert_eq!(conversation.guest_name.as_deref(), Some("Ana"));
    assert_eq!(conversation.messages[0].direction, Direction::Inbound);
    assert_eq!(conversation.messages[0].body, "Hi! When is breakfast?");
    assert_eq!(conversation.messages[1].direction, Direction::Outbound);
    assert_eq!(conversation.messages[1].body, "Breakfast is from 7 to 10.");
}

#[tokio::test]
async fn unmatched_question_gets_the_fallback_reply() {
    let app = spawn_app().await;
    app.ready_path().await;
    app.sim.sim.guest_message(guest_says("Is there a pool?")).await.unwrap();
    let reply = eventually("the fallback reply", || async { app.replies_to(GUEST).into_iter().next() }).await;
    assert_eq!(reply.body, "A colleague will answer soon.");
}

/// The raw form Twilio would post for a guest message, with its signature.
fn signed_inbound(url: &str, token: &str, sid: &str, account: &str, body: &str) -> (String, String) {
    let params: Vec<(String, String)> = vec![
        ("MessageSid".into(), sid.into()),
        ("SmsMessageSid".into(), sid.into()),
        ("AccountSid".into(), account.into()),
        ("From".into(), GUEST.into()),
        ("To".into(), "whatsapp:+14155550100".into()),
        ("Body".into(), body.into()),
        ("NumMedia".into(), "0".into()),
        ("SomeFutureParameter".into(), "Twilio adds these without notice".into()),
    ];
    let signature = twilio_sim::sign(token, url, &params);
    (serde_urlencoded::to_string(&params).unwrap(), signature)
}

#[tokio::test]
async fn duplicate_and_concurrent_deliveries_give_one_reply() {
    let app = spawn_app().await;
    let (_, connector, ..) = app.ready_path().await;
    let url = format!("{}/twilio/inbound/{}", app.url, app.webhook_key(&connector).await);
    let sid = format!("SM{}", crate::common::random_hex(32));
    let (form, signature) = signed_inbound(&url, TOKEN, &sid, &app.account_sid, "When is breakfast?");
    let post = || {
        app.http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signature)
            .body(form.clone())
            .send()
    };
    let (a, b, c) = tokio::join!(post(), post(), post());
    for r in [a, b, c] {
        assert_eq!(r.unwrap().status(), 200);
    }
    eventually("one reply", || async { app.replies_to(GUEST).into_iter().next() }).await;
    // Give a second turn every chance to show up before counting.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(app.replies_to(GUEST).len(), 1);
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE twilio_sid = $1")
        .bind(&sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn webhook_refuses_what_twilio_did_not_sign() {
    let app = spawn_app().await;
    let (_, connector, ..) = app.ready_path().await;
    let url = format!("{}/twilio/inbound/{}", app.url, app.webhook_key(&connector).await);
    let sid = format!("SM{}", crate::common::random_hex(32));
    let (form, signature) = signed_inbound(&url, TOKEN, &sid, &app.account_sid, "hello");
    let send = |url: String, content_type: &'static str, signature: Option<String>, body: String| {
        let mut req = app.http.post(url).header("Content-Type", content_type).body(body);
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let form_type = "application/x-www-form-urlencoded";
    assert_eq!(
        send(format!("{}/twilio/inbound/unknown-key", app.url), form_type, Some(signature.clone()), form.clone()).await,
        404
    );
    assert_eq!(send(url.clone(), form_type, None, form.clone()).await, 403);
    let (_, wrong) = signed_inbound(&url, "ffffffffffffffffffffffffffffffff", &sid, &app.account_sid, "hello");
    assert_eq!(send(url.clone(), form_type, Some(wrong), form.clone()).await, 403);
    let tampered = form.replace("hello", "hellO");
    assert_eq!(send(url.clone(), form_type, Some(signature.clone()), tampered).await, 403);
    assert_eq!(send(url.clone(), "application/json", Some(signature.clone()), "{}".into()).await, 415);
    assert_eq!(
        send(url.clone(), form_type, Some(signature.clone()), "Body=".to_string() + &"x".repeat(70_000)).await,
        413
    );
    // Nothing of the refused requests was stored; the genuine one is.
    let count = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&app.state.db.pool).await.unwrap();
        n
    };
    assert_eq!(count().await, 0);
    assert_eq!(send(url.clone(), form_type, Some(signature), form).await, 200);
    assert_eq!(count().await, 1);
}

#[tokio::test]
async fn message_to_an_unbound_number_is_stored_but_not_answered() {
    let app = spawn_app().await;
    let (_, _, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let channel = app.ui(&admin, ListChannels { agent_id: agent.clone() }).await.unwrap().remove(0);
    app.ui(&admin, RemoveChannel { agent_id: agent, channel_id: channel.id }).await.unwrap();
    let delivery = app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(delivery.status, 200);
    eventually("the turn is done without a reply", || async {
        let (state, note): (String, Option<String>) =
            sqlx::query_as("SELECT state, last_error FROM turns").fetch_optional(&app.state.db.pool).await.unwrap()?;
        (state == "idle").then_some(note)
    })
    .await;
    let (answered,): (i64,) =
        sqlx::query_as("SELECT answered FROM messages").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(answered, 1);
    assert!(app.replies_to(GUEST).is_empty());
}

#[tokio::test]
async fn with_receive_inbound_data_off_messages_are_acknowledged_and_stored_but_not_delivered() {
    let app = spawn_app().await;
    let (_, connector, _, _) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    // The connector's edit form, the token left empty (kept), the box as given.
    let edit = |receive_inbound: Option<String>| {
        let form = app.connector_form("Front Desk");
        UpdateConnector {
            id: connector.clone(),
            name: form.name,
            account_sid: form.account_sid,
            auth_token: String::new(),
            receive_inbound,
        }
    };
    app.ui(&admin, edit(None)).await.unwrap();
    assert!(!app.ui(&admin, GetConnector { id: connector.clone() }).await.unwrap().receive_inbound);

    let delivery = app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    assert_eq!(delivery.status, 200, "Twilio's webhook is still acknowledged");
    let (body, answered): (String, i64) =
        sqlx::query_as("SELECT body, answered FROM messages").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!((body.as_str(), answered), ("When is breakfast?", 1), "stored, and owed no answer");
    let (turns,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM turns").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(turns, 0, "no agent turn was queued");

    // Switched on again, the next message reaches the agent.
    app.ui(&admin, edit(Some("on".into()))).await.unwrap();
    app.sim.sim.guest_message(guest_says("When is breakfast?")).await.unwrap();
    let replies = eventually("the agent answers", || async {
        let r = app.replies_to(GUEST);
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(replies.len(), 1, "only the message sent while receiving is answered");
}
