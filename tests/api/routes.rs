//! Every server function the pages call, probed over HTTP as a browser calls it (`POST /ui/…`,
//! form fields, the session's cookie): without a session, by another organization's admin and by
//! an agent owner of the same organization, each with the real ids of the first organization's
//! connector, number, agent, channel, conversation, user and token. The table below must name
//! every server function the application registers, so a new one cannot be added unprobed.

use std::collections::BTreeSet;

use crate::common::{eventually, signed_in, spawn_app, TestApp};
use app::{accounts::Role, inbox::InboxFilter, ports::*};
use twilio_sim::Inbound;

const PASSWORD: &str = "correct horse battery";

/// What a server function does with whoever calls it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Anyone may call it (signing in and setting up).
    Public,
    /// Acts in the caller's own organization, on no id given: a signed-in caller may; what comes
    /// back must hold nothing of another organization.
    Own,
    /// Acts on an id of the first organization's: refused to the other organization's admin, and
    /// to an agent owner who does not own the agent (or, for admin-only calls, to any owner).
    Scoped,
    /// Acts on an id of the first organization's that each of its members may use (the templates
    /// of its connectors, which an agent owner picks from): refused across organizations only.
    Member,
}

use Kind::*;

/// The inbox's whole filter, as the page sends it.
const INBOX: &str =
    r#"{"filter":{"q":"","agent_id":null,"provider":null,"number":null,"state":null,"after":null,"before":null}}"#;

/// Every server function: its endpoint, what it does with its caller, and its form's fields
/// (or, for the three that take JSON, its JSON body), with `{connector}`, `{number}`, `{agent}`, `{channel}`, `{conversation}`, `{message}`,
/// `{user}`, `{token}` and `{guest}` standing for the first organization's.
const ROUTES: &[(&str, Kind, &str)] = &[
    ("needs_setup", Public, ""),
    ("setup_organization", Public, "setup_token=x&org_name=Mine&email=mine%40example.com&password=a+long+password"),
    ("login", Public, "email=nobody%40example.com&password=wrong+password"),
    ("logout", Public, ""),
    ("current_user", Public, ""),
    ("list_users", Own, ""),
    ("add_user", Own, "email=new%40example.com&role=agent_owner&password=a+long+password"),
    ("remove_user", Scoped, "id={user}"),
    ("list_tokens", Own, ""),
    ("create_token", Own, "name=probe"),
    ("revoke_token", Scoped, "id={token}"),
    ("list_agents", Own, ""),
    ("create_agent", Own, "name=probe&fallback_reply=Hi&brain=faq&timeout_secs=10"),
    ("update_agent", Scoped, "id={agent}&name=taken&fallback_reply=Hi&brain=faq&timeout_secs=10"),
    ("delete_agent", Scoped, "id={agent}"),
    ("try_agent", Scoped, r#"{"id":"{agent}","chat":[{"from_guest":true,"text":"hi"}]}"#),
    ("regenerate_hook_secret", Scoped, "id={agent}"),
    ("get_agent", Scoped, "id={agent}"),
    ("list_channels", Scoped, "agent_id={agent}"),
    ("channel_options", Scoped, "agent_id={agent}&connector_id={connector}"),
    ("add_channel", Scoped, "agent_id={agent}&number_id={number}"),
    ("remove_channel", Scoped, "agent_id={agent}&channel_id={channel}"),
    ("set_channel_routes", Scoped, "agent_id={agent}&channel_id={channel}&inbound_from=&outbound_to="),
    ("list_templates", Member, "connector_id={connector}"),
    (
        "set_agent_template",
        Scoped,
        "agent_id={agent}&connector_id={connector}&template_sid=HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&variables=",
    ),
    ("set_agent_senses", Scoped, "agent_id={agent}&images=inline"),
    ("transcription", Own, ""),
    (
        "set_transcription",
        Own,
        "transcription_url=http%3A%2F%2F127.0.0.1%3A9%2Fv1&transcription_model=whisper-1&transcription_key=sk-probe",
    ),
    ("connector_choices", Own, ""),
    ("list_connectors", Own, ""),
    ("create_connector", Own, "name=Probe&account_sid=ACnothing&auth_token=nothing"),
    (
        "update_connector",
        Scoped,
        "id={connector}&name=Taken&account_sid=AC0123456789abcdef0123456789abcdef&auth_token=",
    ),
    ("verify_connector", Scoped, "id={connector}"),
    ("get_connector", Scoped, "id={connector}"),
    ("list_numbers", Scoped, "connector_id={connector}"),
    ("save_numbers", Scoped, r#"{"connector_id":"{connector}","active":["{number}"],"unbind":true}"#),
    ("add_sandbox", Scoped, "connector_id={connector}&join=join+amber-cedar"),
    ("set_all_webhooks", Scoped, "connector_id={connector}"),
    ("delete_connector", Scoped, "id={connector}"),
    ("set_webhook", Scoped, "connector_id={connector}&number_id={number}"),
    ("regenerate_webhook_url", Scoped, "id={connector}"),
    ("send_test_message", Scoped, "connector_id={connector}&number_id={number}&to=%2B15557654321"),
    ("dashboard", Own, ""),
    ("list_conversations", Scoped, "agent_id={agent}"),
    ("inbox", Own, INBOX),
    ("conversation", Scoped, "id={conversation}"),
    ("execution", Scoped, "id={message}"),
    ("set_paused", Scoped, "id={conversation}&paused=true"),
    ("end_conversation", Scoped, "id={conversation}"),
    ("staff_reply", Scoped, "id={conversation}&body=hello&template_sid=&variables="),
    ("inactivity", Scoped, "agent_id={agent}"),
    ("set_inactivity", Scoped, "agent_id={agent}&minutes=5"),
    ("sharing", Scoped, "agent_id={agent}"),
    ("set_access", Scoped, "agent_id={agent}&policy=open&onboarding=&onboarding_message="),
    ("add_shared_email", Scoped, "agent_id={agent}&email=guest%40example.com"),
    ("remove_shared_email", Scoped, "agent_id={agent}&email=guest%40example.com"),
    ("decide_access", Scoped, "agent_id={agent}&request_id=nothing&approve=true"),
    ("revoke_guest", Scoped, "agent_id={agent}&guest={guest}"),
    ("privacy", Own, ""),
    ("set_forget_mode", Own, "mode=Automatic"),
    ("forget_guest", Scoped, "conversation_id={conversation}"),
    ("decide_forget", Scoped, "id=nothing&approve=true"),
    ("audit", Own, ""),
    ("set_retention", Scoped, "agent_id={agent}&days=30"),
];

/// The first organization's ids, as the table's placeholders name them.
struct Ids(Vec<(&'static str, String)>);

impl Ids {
    fn fill(&self, fields: &str) -> String {
        // Ids are letters, digits and `:+` (a guest's address): JSON needs no escaping for them.
        let json = fields.starts_with('{');
        self.0.iter().fold(fields.to_string(), |f, (name, id)| {
            f.replace(&format!("{{{name}}}"), &if json { id.clone() } else { urlencode(id) })
        })
    }

    fn values(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(_, v)| v.as_str())
    }

    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap()
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_string()
}

/// `POST /ui/<endpoint>` with the fields (a form, or JSON); the status and the body.
async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, fields: &str) -> (u16, String) {
    let kind = if fields.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
    let response = client
        .post(format!("{}/ui/{endpoint}", app.url))
        .header("Accept", "application/json")
        .header("Content-Type", kind)
        .body(fields.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The first organization, set up with one of everything the table's ids name, and an agent
/// owner (owner@example.com) who owns no agent.
async fn first_organization(app: &TestApp) -> Ids {
    let (admin, connector, number, agent) = app.ready_path().await;
    let guest = "whatsapp:+15550001234";
    app.sim
        .sim
        .guest_message(Inbound {
            to: "whatsapp:+14155550100".into(),
            from: guest.into(),
            body: "When is breakfast?".into(),
            profile_name: Some("Guest".into()),
            media: vec![],
            ..Default::default()
        })
        .await
        .unwrap();
    // The reply, and the last of its status callbacks (the simulator's phone reads it): the
    // comparison before and after the probes must not see a tick move on its own.
    eventually("the reply, read", || async {
        let statuses: Vec<(String,)> = sqlx::query_as("SELECT status FROM messages WHERE direction = 'outbound'")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
        (statuses.len() == 1 && statuses[0].0 == "read").then_some(())
    })
    .await;
    let conversation = app.state.inbox(&admin, InboxFilter::default()).await.unwrap().rows[0].id.clone();
    let detail = app.state.conversation(&admin, &conversation).await.unwrap();
    let message = detail.messages.iter().find_map(|m| m.execution_id.clone()).expect("the reply's execution record");
    let channel = app.state.list_channels(&admin, &agent).await.unwrap()[0].id.clone();
    let user = app.state.add_user(&admin, "colleague@example.com", Role::OrgAdmin, PASSWORD.into()).await.unwrap().id;
    let token = app.state.create_token(&admin, "ci").await.unwrap().row.id;
    app.state.add_user(&admin, "owner@example.com", Role::AgentOwner, PASSWORD.into()).await.unwrap();
    Ids(vec![
        ("connector", connector),
        ("number", number),
        ("agent", agent),
        ("channel", channel),
        ("conversation", conversation),
        ("message", message),
        ("user", user),
        ("token", token),
        ("guest", guest.to_string()),
    ])
}

/// The first organization as its admin sees it: every part the probes aimed at.
async fn what_the_admin_sees(app: &TestApp, ids: &Ids) -> String {
    let admin = signed_in(&app.url, "admin@example.com").await;
    let mut seen = String::new();
    for (endpoint, fields) in [
        ("list_users", ""),
        ("list_tokens", ""),
        ("get_connector", "id={connector}"),
        ("list_numbers", "connector_id={connector}"),
        ("get_agent", "id={agent}"),
        ("list_channels", "agent_id={agent}"),
        ("sharing", "agent_id={agent}"),
        ("inactivity", "agent_id={agent}"),
        ("conversation", "id={conversation}"),
        ("inbox", INBOX),
    ] {
        let (status, body) = call(app, &admin, endpoint, &ids.fill(fields)).await;
        assert_eq!(status, 200, "{endpoint}: {body}");
        seen.push_str(&body);
    }
    seen
}

fn refusal(body: &str) -> bool {
    matches!(serde_json::from_str::<app::AppError>(body), Ok(app::AppError::NotFound(_) | app::AppError::Forbidden))
}

#[tokio::test]
async fn the_table_names_every_server_function() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/ui/").to_string())
        .collect();
    let probed: BTreeSet<String> = ROUTES.iter().map(|(e, ..)| e.to_string()).collect();
    assert_eq!(probed.len(), ROUTES.len(), "an endpoint is listed twice");
    assert_eq!(registered, probed, "every server function, and only those, is probed");
}

#[tokio::test]
async fn every_server_function_refuses_callers_who_may_not_use_it() {
    let app = spawn_app().await;
    let ids = first_organization(&app).await;
    let before = what_the_admin_sees(&app, &ids).await;

    // No session: every call but signing in and setting up asks to sign in, with its fields
    // well formed (so it is the session that refuses, not the form).
    let anonymous = reqwest::Client::new();
    for (endpoint, kind, fields) in ROUTES.iter().filter(|r| r.1 != Public) {
        let (status, body) = call(&app, &anonymous, endpoint, &ids.fill(fields)).await;
        assert_eq!(
            (status, serde_json::from_str::<app::AppError>(&body).ok()),
            (401, Some(app::AppError::Unauthenticated)),
            "{endpoint} ({kind:?}) without a session: {body}"
        );
    }

    // Another organization's admin, and an agent owner of this one (who owns no agent).
    app.other_organization().await;
    for (who, email) in [("another organization's admin", "other@example.com"), ("an agent owner", "owner@example.com")]
    {
        let client = signed_in(&app.url, email).await;
        for (endpoint, kind, fields) in ROUTES.iter().filter(|r| r.1 != Public) {
            let (status, body) = call(&app, &client, endpoint, &ids.fill(fields)).await;
            let colleague = email == "owner@example.com";
            match kind {
                Member if colleague => assert_eq!(status, 200, "{endpoint} by {who}: {body}"),
                Scoped | Member => assert!(
                    matches!(status, 403 | 404) && refusal(&body),
                    "{endpoint} by {who}: expected a refusal, got {status} {body}"
                ),
                Own => {
                    assert!(status < 500, "{endpoint} by {who}: {status} {body}");
                    // An agent owner may see the connectors' names and ids (to pick a number);
                    // nothing else of the organization's, and nothing at all across organizations.
                    let may_see =
                        |id: &&str| colleague && *endpoint == "connector_choices" && *id == ids.get("connector");
                    for id in ids.values().filter(|id| !may_see(id)) {
                        assert!(!body.contains(id), "{endpoint} by {who} shows {id}: {body}");
                    }
                }
                Public => unreachable!(),
            }
        }
    }

    // Nothing the probes sent changed the first organization (its privacy settings included:
    // the other organization's admin changed only their own).
    assert_eq!(what_the_admin_sees(&app, &ids).await, before);
    let settings: Vec<(String, String, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT name, forget_requests, retention_days, transcribe_url FROM organizations ORDER BY name")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(settings[1].0, "Test Org");
    assert_eq!((settings[1].1.as_str(), settings[1].2, &settings[1].3), ("approval", None, &None), "{settings:?}");
    let (agent_periods,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM agents WHERE retention_days IS NOT NULL")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(agent_periods, 0);
}

/// No page asks Twilio for the same thing twice in one view. A resource made inside a part of
/// the page that waits for its data is made again each time the server builds that part: the
/// connector's page read the account's numbers twice a view (and wrote them twice). Every page
/// is viewed as the admin sees it, with a template chosen for the agent and a conversation whose
/// 24-hour window closed, so the pages that list templates do.
#[tokio::test]
async fn no_page_asks_twilio_for_the_same_thing_twice_in_one_view() {
    let app = spawn_app().await;
    let ids = first_organization(&app).await;
    let admin = signed_in(&app.url, "admin@example.com").await;
    let templates = call(&app, &admin, "list_templates", &ids.fill("connector_id={connector}")).await;
    assert_eq!(templates.0, 200, "{}", templates.1);
    let sid = serde_json::from_str::<serde_json::Value>(&templates.1).unwrap()[0]["sid"].as_str().unwrap().to_string();
    let chosen = call(
        &app,
        &admin,
        "set_agent_template",
        &ids.fill(&format!("agent_id={{agent}}&connector_id={{connector}}&template_sid={sid}&variables=")),
    )
    .await;
    assert_eq!(chosen.0, 200, "{}", chosen.1);
    // Taken over, so the page offers a staff reply: with the window closed, a template.
    let taken = call(&app, &admin, "set_paused", &ids.fill("id={conversation}&paused=true")).await;
    assert_eq!(taken.0, 200, "{}", taken.1);
    sqlx::query("UPDATE conversations SET last_inbound_at = $1 WHERE id = $2")
        .bind(switchboard::now_ms() - 25 * 3_600_000)
        .bind(ids.get("conversation"))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let asked = || {
        app.sim.sim.requests().into_iter().map(|r| format!("{} {}?{}", r.method, r.path, r.query.unwrap_or_default()))
    };
    let mut asked_by_some = BTreeSet::new();
    for page in [
        "/",
        "/dashboard",
        "/inbox",
        "/conversations/{conversation}",
        "/connectors",
        "/connectors/{connector}",
        "/agents",
        "/agents/{agent}",
        "/agents/{agent}/channels",
        "/agents/{agent}/conversations",
        "/agents/{agent}/sharing",
        "/users",
        "/tokens",
        "/privacy",
        "/audit",
    ] {
        let path = ids.fill(page);
        for view in 0..3 {
            let before = asked().count();
            let response = admin.get(format!("{}{path}", app.url)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let html = response.text().await.unwrap();
            // What was read from Twilio is on the page as the server sent it.
            let shows = match page {
                "/connectors/{connector}" => Some(r#"data-testid="numbers""#),
                "/agents/{agent}" | "/conversations/{conversation}" => Some(r#"data-template="follow_up""#),
                _ => None,
            };
            assert!(shows.is_none_or(|shows| html.contains(shows)), "{path} shows {shows:?}");
            let mut seen = BTreeSet::new();
            for call in asked().skip(before) {
                assert!(seen.insert(call.clone()), "{path}, view {view}, asked Twilio twice: {call}");
                asked_by_some.insert((page, call));
            }
        }
    }
    // The pages that show what Twilio says did ask it, once.
    let asked_on = |page: &str, what: &str| asked_by_some.iter().any(|(p, call)| *p == page && call.contains(what));
    assert!(asked_on("/connectors/{connector}", "/IncomingPhoneNumbers.json"));
    assert!(asked_on("/connectors/{connector}", "/v2/Channels/Senders"));
    assert!(asked_on("/agents/{agent}", "/v1/ContentAndApprovals"));
    assert!(asked_on("/conversations/{conversation}", "/v1/ContentAndApprovals"));
}

/// A server, as it is built, renders the application once to list its routes, and while that
/// render runs Leptos keeps any resource in the process that starts loading from ever loading (a
/// process-wide switch, leptos-rs/leptos#4773). A page another server of the same process was
/// rendering then never ended, and was cut off by the request timeout: a 408 the tests, which
/// start many servers in one process, met now and then. Pages are viewed here without pause
/// while other servers start beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_answer_while_another_server_starts_in_the_same_process() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let app = spawn_app().await;
    let (_, connector, _, agent) = app.ready_path().await;
    let ids = Ids(vec![("agent", agent), ("connector", connector)]);
    let pages: Vec<String> =
        ["/dashboard", "/agents", "/agents/{agent}", "/agents/{agent}/sharing", "/connectors/{connector}", "/tokens"]
            .iter()
            .map(|page| format!("{}{}", app.url, ids.fill(page)))
            .collect();
    let starting = Arc::new(AtomicBool::new(true));
    let mut viewers = Vec::new();
    for _ in 0..3 {
        let admin = signed_in(&app.url, "admin@example.com").await;
        let (pages, starting) = (pages.clone(), starting.clone());
        viewers.push(tokio::spawn(async move {
            let mut views = 0;
            while starting.load(Ordering::Relaxed) {
                for page in &pages {
                    // A page is made in milliseconds; one that has not ended in ten seconds never will.
                    let response = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                        let response = admin.get(page).send().await?;
                        // Not led elsewhere (the login, after a redirect).
                        let (status, at) = (response.status(), response.url().to_string());
                        response.text().await.map(|_| (status, at))
                    })
                    .await;
                    match response {
                        Ok(Ok((status, at))) if status.is_success() && at == *page => views += 1,
                        Ok(Ok((status, at))) => return Err(format!("{page}: {status} at {at}")),
                        Ok(Err(e)) => return Err(format!("{page}: {e}")),
                        Err(_) => return Err(format!("{page} did not end in 10 s, after {views} views")),
                    }
                }
            }
            Ok(views)
        }));
    }
    for _ in 0..12 {
        drop(spawn_app().await);
    }
    starting.store(false, Ordering::Relaxed);
    for viewer in viewers {
        let views = viewer.await.unwrap().unwrap();
        assert!(views >= pages.len(), "{views} views");
    }
}
