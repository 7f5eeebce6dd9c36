//! Who may do what: organization admins manage everything in their organization; agent owners
//! only their own agents and those agents' channels, and see connectors as names; nobody reaches
//! another organization's data through any server function. Every port call the pages use is
//! tried across the line (and every route, over HTTP, in `routes.rs`); what each role may do is
//! done through the routes the pages call.

use crate::common::{spawn_app, TestApp};
use app::{
    accounts::{
        api::{AddUser, ListUsers, RemoveUser},
        Me, Role,
    },
    agents::{
        api::{AddChannel, ChannelOptions, DeleteAgent, GetAgent, ListAgents, RemoveChannel, TryAgent},
        port::{AgentInput, TemplateChoice},
        ChatLine,
    },
    connectors::api::{ConnectorChoices, ListConnectors, ListNumbers, SaveNumbers},
    ports::*,
    AppError,
};

const PASSWORD: &str = "correct horse battery";

/// Refused as if the thing did not exist (or, for admin-only actions, as forbidden).
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, AppError>) {
    match result {
        Err(AppError::NotFound(_) | AppError::Forbidden) => {}
        other => panic!("{what}: expected NotFound or Forbidden, got {other:?}"),
    }
}

async fn outsider(app: &TestApp) -> Me {
    app.other_organization().await
}

async fn agent_owner(app: &TestApp, admin: &Me, email: &str) -> Me {
    let added = app.state.add_user(admin, email, Role::AgentOwner, PASSWORD.into()).await.unwrap();
    assert_eq!(added.role, Role::AgentOwner);
    app.state.authenticate(email.into(), PASSWORD.into(), None).await.unwrap()
}

/// Every call on org 1's connector, agent, number and channel, made by `who`.
async fn every_call_is_refused(app: &TestApp, who: &Me, connector: &str, number: &str, agent: &str, channel: &str) {
    let s = &app.state;
    refused("connector", s.connector(who, connector).await);
    refused("update_connector", s.update_connector(who, connector, app.connector_input("Mine")).await);
    refused("verify_connector", s.verify_connector(who, connector).await);
    refused("list_numbers", s.list_numbers(who, connector).await);
    refused("save_numbers", s.save_numbers(who, connector, vec![], true).await);
    refused("add_sandbox", s.add_sandbox(who, connector, "join amber-cedar").await);
    refused("set_webhook", s.set_webhook(who, connector, number).await);
    refused("set_all_webhooks", s.set_all_webhooks(who, connector).await);
    refused("regenerate_webhook_url", s.regenerate_webhook_url(who, connector).await);
    refused("send_test_message", s.send_test_message(who, connector, number, "+15557654321").await);
    refused("delete_connector", s.delete_connector(who, connector).await);
    refused("agent", s.agent(who, agent).await);
    let edit = AgentInput { name: "taken-over".into(), fallback_reply: "Hi".into(), ..AgentInput::default() };
    refused("update_agent", s.update_agent(who, agent, edit).await);
    refused("try_agent", s.try_agent(who, agent, vec![ChatLine { from_guest: true, text: "hi".into() }]).await);
    refused("regenerate_hook_secret", s.regenerate_hook_secret(who, agent).await);
    refused("list_channels", s.list_channels(who, agent).await);
    refused("channel_options", s.channel_options(who, agent, connector).await);
    refused("add_channel", s.add_channel(who, agent, number).await);
    refused("remove_channel", s.remove_channel(who, agent, channel).await);
    refused("conversations", s.conversations(who, agent).await);
    let choice =
        TemplateChoice { connector_id: connector.into(), sid: format!("HX{}", "a".repeat(32)), variables: "".into() };
    refused("set_agent_template", s.set_agent_template(who, agent, Some(choice)).await);
    refused("delete_agent", s.delete_agent(who, agent).await);
}

#[tokio::test]
async fn another_organization_reaches_nothing_of_this_one() {
    let app = spawn_app().await;
    let (admin, connector, number, agent) = app.ready_path().await;
    let channel = app.state.list_channels(&admin, &agent).await.unwrap().pop().unwrap().id;
    let other = outsider(&app).await;
    assert_ne!(other.org_id, admin.org_id);

    every_call_is_refused(&app, &other, &connector, &number, &agent, &channel).await;
    refused("list_templates", app.state.list_templates(&other, &connector).await);
    refused("remove_user", app.state.remove_user(&other, &admin.user_id).await);
    // Its lists hold only its own (nothing yet).
    assert!(app.state.list_connectors(&other).await.unwrap().is_empty());
    assert!(app.state.connector_choices(&other).await.unwrap().is_empty());
    assert!(app.state.list_agents(&other).await.unwrap().is_empty());
    let users: Vec<String> = app.state.list_users(&other).await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(users, vec!["other@example.com"]);
    // Its own agent cannot take this organization's number either.
    let own = app
        .state
        .create_agent(&other, AgentInput { name: "thief".into(), fallback_reply: "Hi".into(), ..AgentInput::default() })
        .await
        .unwrap();
    refused("add_channel across organizations", app.state.add_channel(&other, &own.id, &number).await);
    let options = app.state.channel_options(&other, &own.id, &connector).await.unwrap();
    assert!(options.is_empty(), "another organization's numbers are not offered: {options:?}");

    // Nothing changed.
    let detail = app.state.connector(&admin, &connector).await.unwrap();
    assert_eq!(detail.summary.name, "Front Desk");
    assert_eq!(detail.bound_channels.len(), 1);
    assert_eq!(app.state.agent(&admin, &agent).await.unwrap().name, "concierge");
}

#[tokio::test]
async fn agent_owners_manage_their_own_agents_and_see_connectors_as_names() {
    let app = spawn_app().await;
    let (admin, connector, number, agent) = app.ready_path().await;
    let channel = app.state.list_channels(&admin, &agent).await.unwrap().pop().unwrap().id;
    let owner = agent_owner(&app, &admin, "owner@example.com").await;
    assert_eq!(owner.org_id, admin.org_id);

    // The admin's agent is not theirs: every call on it is refused, and admin-only connector calls too.
    every_call_is_refused(&app, &owner, &connector, &number, &agent, &channel).await;

    // From here on, as each of them uses the backoffice: through the routes the pages call.
    let (admin_b, owner_b) = (app.browser("admin@example.com").await, app.browser("owner@example.com").await);
    refused("list_connectors", app.ui(&owner_b, ListConnectors {}).await);
    refused("list_users", app.ui(&owner_b, ListUsers {}).await);
    let add = AddUser { email: "x@example.com".into(), role: "org_admin".into(), password: PASSWORD.into() };
    refused("add_user", app.ui(&owner_b, add).await);
    refused("remove_user", app.ui(&owner_b, RemoveUser { id: admin.user_id.clone() }).await);
    let names: Vec<String> = app.ui(&owner_b, ConnectorChoices {}).await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["Front Desk"]);

    // Their own agent: create, see, bind a free number, try, edit; the admin sees it too.
    let mine = app.ui(&owner_b, TestApp::agent_form("pool", "Hi")).await.unwrap();
    let listed: Vec<String> = app.ui(&owner_b, ListAgents {}).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(listed, vec!["pool"], "an owner lists only their own agents");
    let rows = app.ui(&admin_b, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let spa = TestApp::number(&rows, "+14155550101", true).id.clone();
    let active =
        SaveNumbers { connector_id: connector.clone(), active: vec![number.clone(), spa.clone()], unbind: false };
    app.ui(&admin_b, active).await.unwrap();
    let options =
        app.ui(&owner_b, ChannelOptions { agent_id: mine.id.clone(), connector_id: connector.clone() }).await.unwrap();
    let taken = options.iter().find(|o| o.number_id == number).unwrap();
    assert_eq!(taken.bound_to.as_deref(), Some("concierge"), "Already bound, to the admin's agent");
    let bound = app.ui(&owner_b, AddChannel { agent_id: mine.id.clone(), number_id: spa.clone() }).await.unwrap();
    let chat = vec![ChatLine { from_guest: true, text: "hi".into() }];
    app.ui(&owner_b, TryAgent { id: mine.id.clone(), chat }).await.unwrap();
    let edit = TestApp::edit_form(&mine.id, TestApp::agent_form("pool-bar", "Hello"));
    assert_eq!(app.ui(&owner_b, edit).await.unwrap().name, "pool-bar");
    assert_eq!(app.ui(&admin_b, GetAgent { id: mine.id.clone() }).await.unwrap().name, "pool-bar");
    app.ui(&owner_b, RemoveChannel { agent_id: mine.id.clone(), channel_id: bound.id.clone() }).await.unwrap();

    // Another owner sees none of it.
    agent_owner(&app, &admin, "second@example.com").await;
    let second_b = app.browser("second@example.com").await;
    assert!(app.ui(&second_b, ListAgents {}).await.unwrap().is_empty());
    refused("another owner's agent", app.ui(&second_b, GetAgent { id: mine.id.clone() }).await);
    refused("another owner's delete", app.ui(&second_b, DeleteAgent { id: mine.id.clone() }).await);
    app.ui(&owner_b, DeleteAgent { id: mine.id.clone() }).await.unwrap();
    refused("a deleted agent", app.ui(&admin_b, GetAgent { id: mine.id.clone() }).await);
}

#[tokio::test]
async fn admins_add_and_remove_users_and_bad_input_saves_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let admin_b = app.browser("admin@example.com").await;
    let field = |e: AppError| match e {
        AppError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other:?}"),
    };
    let add = |email: &str, role: &str, password: &str| AddUser {
        email: email.into(),
        role: role.into(),
        password: password.into(),
    };
    assert_eq!(field(app.ui(&admin_b, add("not an email", "agent_owner", PASSWORD)).await.unwrap_err()), "email");
    assert_eq!(field(app.ui(&admin_b, add("a@example.com", "agent_owner", "short")).await.unwrap_err()), "password");
    assert_eq!(field(app.ui(&admin_b, add("ADMIN@example.com", "agent_owner", PASSWORD)).await.unwrap_err()), "email");
    assert_eq!(field(app.ui(&admin_b, add("b@example.com", "owner", PASSWORD)).await.unwrap_err()), "role");
    assert_eq!(app.ui(&admin_b, ListUsers {}).await.unwrap().len(), 1, "refused input adds nobody");

    let added = app.ui(&admin_b, add("owner@example.com", "agent_owner", PASSWORD)).await.unwrap();
    assert_eq!(added.role, Role::AgentOwner);
    let owner_b = app.browser("owner@example.com").await;
    let users = app.ui(&admin_b, ListUsers {}).await.unwrap();
    assert_eq!(
        users.iter().map(|u| (u.email.as_str(), u.role, u.is_me)).collect::<Vec<_>>(),
        vec![("admin@example.com", Role::OrgAdmin, true), ("owner@example.com", Role::AgentOwner, false),]
    );
    assert!(matches!(app.ui(&admin_b, RemoveUser { id: admin.user_id.clone() }).await, Err(AppError::Conflict(_))));
    app.ui(&admin_b, RemoveUser { id: added.id.clone() }).await.unwrap();
    assert!(app.state.user(&added.id).await.unwrap().is_none(), "their session ends with them");
    assert_eq!(app.ui(&owner_b, ListAgents {}).await, Err(AppError::Unauthenticated), "their browser is signed out");
    assert!(matches!(
        app.state.authenticate("owner@example.com".into(), PASSWORD.into(), None).await,
        Err(AppError::Invalid { .. })
    ));
}
