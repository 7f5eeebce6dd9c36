//! Keeping a connector and its numbers healthy: deleting a connector without clobbering
//! webhooks someone re-pointed, deactivating bound numbers, "Set webhook" on every number with
//! the reason when it does not take, and the WhatsApp sandbox.

//!
//! Every step a user takes goes through the route the page calls (`TestApp::ui`), signed in as
//! the organization's admin; the simulator stands in for Twilio and the guests.

use crate::common::{eventually, spawn_app, TestApp};
use app::{
    agents::api::{AddChannel, DeleteAgent, ListChannels, RemoveChannel},
    connectors::{
        api::{
            AddSandbox, DeleteConnector, GetConnector, ListNumbers, SaveNumbers, SendTestMessage, SetAllWebhooks,
            SetWebhook,
        },
        Cleanup, Provider, WebhookState,
    },
    AppError,
};
use twilio_sim::{Inbound, SeedService};

fn guest(to: &str, from: &str, body: &str) -> Inbound {
    Inbound {
        to: to.into(),
        from: from.into(),
        body: body.into(),
        profile_name: Some("Ana".into()),
        media: vec![],
        ..Default::default()
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&app.state.db.pool).await.unwrap();
    n
}

#[tokio::test]
async fn deleting_a_connector_clears_only_the_webhooks_that_still_point_at_it() {
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let ids: Vec<String> = ["+14155550100", "+14155550101"]
        .iter()
        .map(|p| TestApp::number(&rows, p, true).id.clone())
        .chain([TestApp::number(&rows, "+14155550199", false).id.clone()])
        .collect();
    app.ui(&admin, SaveNumbers { connector_id: connector.clone(), active: ids, unbind: false }).await.unwrap();
    let all = app.ui(&admin, SetAllWebhooks { connector_id: connector.clone() }).await.unwrap();
    assert!(all.iter().all(|o| o.state == WebhookState::Configured), "{all:?}");
    // Someone points the spa's sender elsewhere in the Twilio Console.
    app.sim.sim.set_sender_webhook("whatsapp:+14155550101", Some("https://elsewhere.example/hook"));
    // A guest's conversation, which goes with the connector.
    app.sim.sim.guest_message(guest("whatsapp:+14155550100", "whatsapp:+15550001111", "Hello")).await.unwrap();
    eventually("the reply", || async { (!app.replies_to("whatsapp:+15550001111").is_empty()).then_some(()) }).await;

    let detail = app.ui(&admin, GetConnector { id: connector.clone() }).await.unwrap();
    let bound: Vec<(&str, &str)> =
        detail.bound_channels.iter().map(|b| (b.agent.as_str(), b.phone_number.as_str())).collect();
    assert_eq!(bound, vec![("concierge", "+14155550100")]);
    assert_eq!(detail.conversations, 1);
    let old_url = detail.inbound_webhook_url.clone();

    let report = app.ui(&admin, DeleteConnector { id: connector.clone() }).await.unwrap();
    assert_eq!(report.connector, "Front Desk");
    let outcome = |phone: &str, provider: Provider| {
        report
            .numbers
            .iter()
            .find(|l| l.phone_number == phone && l.provider == provider)
            .map(|l| l.outcome.clone())
            .unwrap_or_else(|| panic!("{phone} reported: {report:?}"))
    };
    assert_eq!(outcome("+14155550100", Provider::WhatsApp), Cleanup::Cleared);
    assert_eq!(
        outcome("+14155550101", Provider::WhatsApp),
        Cleanup::LeftElsewhere("https://elsewhere.example/hook".into())
    );
    assert_eq!(outcome("+14155550199", Provider::Sms), Cleanup::Cleared);

    // In Twilio: ours cleared (the update applies a moment later), theirs untouched.
    eventually("the sender's webhook cleared", || async {
        let w = app.sim.sim.sender_webhook("whatsapp:+14155550100").unwrap();
        (w.callback_url.is_none() && w.status_callback_url.is_none()).then_some(())
    })
    .await;
    let spa = app.sim.sim.sender_webhook("whatsapp:+14155550101").unwrap();
    assert_eq!(spa.callback_url.as_deref(), Some("https://elsewhere.example/hook"));
    assert!(spa.status_callback_url.is_some(), "only the inbound URL was someone else's; nothing of theirs is touched");
    assert_eq!(app.sim.sim.sms_url("+14155550199").as_deref(), Some(""));

    // In Switchboard: the connector, its numbers, channel and conversation are gone; the agent stays.
    for table in ["connectors", "numbers", "channels", "conversations", "messages", "outbox"] {
        assert_eq!(count(&app, &format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table} emptied");
    }
    assert!(app.ui(&admin, ListChannels { agent_id: agent.clone() }).await.unwrap().is_empty());
    assert!(matches!(app.ui(&admin, GetConnector { id: connector.clone() }).await, Err(AppError::NotFound(_))));
    let status = app.http.post(&old_url).form(&[("Body", "x")]).send().await.unwrap().status();
    assert_eq!(status, 404, "the old webhook URL names no connector any more");
}

#[tokio::test]
async fn deactivating_a_bound_number_asks_first_and_then_unbinds_it() {
    let app = spawn_app().await;
    let (_, connector, number, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;

    let refused = app
        .ui(&admin, SaveNumbers { connector_id: connector.clone(), active: vec![], unbind: false })
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AppError::Conflict(m) if m.contains("+14155550100") && m.contains("concierge")),
        "{refused:?}"
    );
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let row = rows.iter().find(|r| r.id == number).unwrap();
    assert!(row.active && row.bound_agent.as_deref() == Some("concierge"), "a refused save changes nothing");

    let rows =
        app.ui(&admin, SaveNumbers { connector_id: connector.clone(), active: vec![], unbind: true }).await.unwrap();
    let row = rows.iter().find(|r| r.id == number).unwrap();
    assert!(!row.active && row.bound_agent.is_none(), "{row:?}");
    assert!(app.ui(&admin, ListChannels { agent_id: agent.clone() }).await.unwrap().is_empty());
}

#[tokio::test]
async fn set_webhook_on_all_active_numbers_gives_each_its_result_and_names_an_override() {
    let app = spawn_app().await;
    app.admin().await;
    let admin = app.browser("admin@example.com").await;
    let c = app.ui(&admin, app.connector_form("Front Desk")).await.unwrap();
    let refused = app.ui(&admin, SetAllWebhooks { connector_id: c.id.clone() }).await.unwrap_err();
    assert!(matches!(&refused, AppError::Conflict(m) if m.contains("No active numbers")), "{refused:?}");

    // The spa's number sits in a Messaging Service whose own inbound URL wins; another service
    // defers to its numbers' webhooks and changes nothing.
    app.sim.sim.add_service(
        &app.account_sid,
        SeedService {
            friendly_name: "Marketing".into(),
            inbound_request_url: Some("https://crm.example/inbound".into()),
            use_inbound_webhook_on_number: false,
            numbers: vec!["+14155550101".into()],
        },
    );
    app.sim.sim.add_service(
        &app.account_sid,
        SeedService {
            friendly_name: "Polite".into(),
            inbound_request_url: Some("https://other.example/inbound".into()),
            use_inbound_webhook_on_number: true,
            numbers: vec!["+14155550100".into(), "+14155550199".into()],
        },
    );
    let rows = app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await.unwrap();
    let active: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    app.ui(&admin, SaveNumbers { connector_id: c.id.clone(), active, unbind: false }).await.unwrap();

    let outcomes = app.ui(&admin, SetAllWebhooks { connector_id: c.id.clone() }).await.unwrap();
    let got: Vec<(&str, Provider, WebhookState)> =
        outcomes.iter().map(|o| (o.phone_number.as_str(), o.provider, o.state)).collect();
    assert_eq!(
        got,
        vec![
            ("+14155550100", Provider::WhatsApp, WebhookState::Configured),
            ("+14155550101", Provider::WhatsApp, WebhookState::NotConfigured),
            ("+14155550199", Provider::Sms, WebhookState::Configured),
        ]
    );
    let spa = &outcomes[1].detail.as_deref().unwrap_or_default();
    assert!(
        spa.contains("Overridden by Messaging Service Marketing") && spa.contains("https://crm.example/inbound"),
        "{spa}"
    );
    // The rows remember each result and its reason.
    let rows = app.ui(&admin, ListNumbers { connector_id: c.id.clone() }).await.unwrap();
    let row = TestApp::number(&rows, "+14155550101", true);
    assert_eq!(row.webhook, WebhookState::NotConfigured);
    assert!(row.webhook_detail.as_deref().unwrap().contains("Marketing"));

    // Twilio's sender got a body with the webhook object only, and in it only our fields.
    let update = app
        .sim
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.starts_with("/v2/Channels/Senders/"))
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&update.body).unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["webhook"]);
    let mut fields: Vec<&String> = body["webhook"].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, vec!["callback_method", "callback_url", "status_callback_method", "status_callback_url"]);
}

#[tokio::test]
async fn the_whatsapp_sandbox_is_added_by_hand_and_answers_the_testers_who_joined() {
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;

    let bad = app.ui(&admin, AddSandbox { connector_id: connector.clone(), join: "join !!".into() }).await.unwrap_err();
    assert!(matches!(&bad, AppError::Invalid { field, .. } if field == "join"), "{bad:?}");
    let rows = app
        .ui(&admin, AddSandbox { connector_id: connector.clone(), join: " join Amber-Cedar ".into() })
        .await
        .unwrap();
    let sandbox = rows.iter().find(|r| r.phone_number == "+14155238886").expect("the sandbox is listed").clone();
    assert_eq!(sandbox.sandbox_join.as_deref(), Some("join amber-cedar"));
    assert_eq!(sandbox.webhook, WebhookState::Manual);
    // Listing the numbers again keeps it (it is no sender of the account).
    assert!(app
        .ui(&admin, ListNumbers { connector_id: connector.clone() })
        .await
        .unwrap()
        .iter()
        .any(|r| r.id == sandbox.id));

    let mut active: Vec<String> = rows.iter().filter(|r| r.active).map(|r| r.id.clone()).collect();
    active.push(sandbox.id.clone());
    app.ui(&admin, SaveNumbers { connector_id: connector.clone(), active, unbind: false }).await.unwrap();
    let by_hand = app
        .ui(&admin, SetWebhook { connector_id: connector.clone(), number_id: sandbox.id.clone() })
        .await
        .unwrap_err();
    assert!(matches!(&by_hand, AppError::Conflict(m) if m.contains("Twilio Console")), "{by_hand:?}");
    let channel = app.ui(&admin, ListChannels { agent_id: agent.clone() }).await.unwrap().pop().unwrap();
    app.ui(&admin, RemoveChannel { agent_id: agent.clone(), channel_id: channel.id.clone() }).await.unwrap();
    app.ui(&admin, AddChannel { agent_id: agent.clone(), number_id: sandbox.id.clone() }).await.unwrap();

    // The tester joins, then writes; the agent answers from the sandbox number.
    let url = app.ui(&admin, GetConnector { id: connector.clone() }).await.unwrap().inbound_webhook_url;
    app.sim.sim.set_sandbox_webhook(&app.account_sid, Some(&url));
    let tester = "whatsapp:+15550002222";
    let not_joined = app.sim.sim.guest_message(guest("whatsapp:+14155238886", tester, "Hi")).await;
    assert!(not_joined.is_err(), "the sandbox only takes messages from members");
    app.sim.sim.guest_message(guest("whatsapp:+14155238886", tester, "join amber-cedar")).await.unwrap();
    let delivery =
        app.sim.sim.guest_message(guest("whatsapp:+14155238886", tester, "When is breakfast?")).await.unwrap();
    assert_eq!(delivery.status, 200);
    let reply = eventually("the agent's reply", || async { app.replies_to(tester).pop() }).await;
    assert_eq!(reply.from, "whatsapp:+14155238886");
    assert_eq!(reply.body, "Breakfast is from 7 to 10.");
}

/// A number is named by its id: an empty one names none (it once matched every number of the
/// connector, so "Send test message" and "Set webhook" took the last one).
#[tokio::test]
async fn an_empty_number_id_names_no_number() {
    let app = spawn_app().await;
    let (_, connector, _, _) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let e = app
        .ui(
            &admin,
            SendTestMessage { connector_id: connector.clone(), number_id: String::new(), to: "+14155550123".into() },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Invalid { ref field, .. } if field == "number_id"), "{e:?}");
    let e = app.ui(&admin, SetWebhook { connector_id: connector.clone(), number_id: String::new() }).await.unwrap_err();
    assert!(matches!(e, AppError::NotFound(_)), "{e:?}");
    assert!(app.replies_to("+14155550123").is_empty() && app.replies_to("whatsapp:+14155550123").is_empty());
}

/// An agent, or a connector, deleted while its guests' messages are being answered (the reply's
/// turn and send hold the conversation's rows): the deletion succeeds, on PostgreSQL too, where
/// the two can meet in a deadlock and the deletion may be the one PostgreSQL cancels.
#[tokio::test]
async fn agents_and_connectors_are_deleted_while_their_guests_are_being_answered() {
    for round in 0..16u64 {
        let app = spawn_app().await;
        let (_, connector, _, agent) = app.ready_path().await;
        let admin = app.browser("admin@example.com").await;
        let from = format!("whatsapp:+1555000{round:04}");
        app.sim.sim.guest_message(guest("whatsapp:+14155550100", &from, "When is breakfast?")).await.unwrap();
        eventually("the reply", || async { (!app.replies_to(&from).is_empty()).then_some(()) }).await;
        app.sim.sim.guest_message(guest("whatsapp:+14155550100", &from, "Hi again")).await.unwrap();
        eventually("stored", || async {
            (count(&app, "SELECT COUNT(*) FROM messages WHERE body = 'Hi again'").await == 1).then_some(())
        })
        .await;
        if round % 2 == 1 {
            let deleted = app.ui(&admin, DeleteAgent { id: agent }).await;
            assert!(deleted.is_ok(), "round {round}, the agent: {deleted:?}");
            assert_eq!(count(&app, "SELECT COUNT(*) FROM agents").await, 0);
        }
        let report = app.ui(&admin, DeleteConnector { id: connector }).await;
        assert!(report.is_ok(), "round {round}, the connector: {report:?}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM connectors").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 0, "its messages went with it");
    }
}
