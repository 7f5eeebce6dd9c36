//! Who may do what: organization admins manage everything in their organization; agent owners
//! only their own agents and those agents' channels, and see connectors as names; nobody reaches
//! another organization's data through any server function. Every port call the pages use is
//! tried across the line.

use crate::common::{spawn_app, TestApp};
use app::{
    accounts::{Me, Role},
    agents::{
        port::{AgentInput, TemplateChoice},
        ChatLine,
    },
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
    switchboard::accounts::create_organization(&app.state.db, "Other Hotels", "other@example.com", PASSWORD.into())
        .await
        .unwrap()
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
    refused("list_connectors", app.state.list_connectors(&owner).await);
    refused("list_users", app.state.list_users(&owner).await);
    refused("add_user", app.state.add_user(&owner, "x@example.com", Role::OrgAdmin, PASSWORD.into()).await);
    refused("remove_user", app.state.remove_user(&owner, &admin.user_id).await);
    let names: Vec<String> = app.state.connector_choices(&owner).await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["Front Desk"]);

    // Their own agent: create, see, bind a free number, try, edit; the admin sees it too.
    let mine = app
        .state
        .create_agent(&owner, AgentInput { name: "pool".into(), fallback_reply: "Hi".into(), ..AgentInput::default() })
        .await
        .unwrap();
    let listed: Vec<String> = app.state.list_agents(&owner).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(listed, vec!["pool"], "an owner lists only their own agents");
    let rows = app.state.list_numbers(&admin, &connector).await.unwrap();
    let spa = TestApp::number(&rows, "+14155550101", true).id.clone();
    app.state.save_numbers(&admin, &connector, vec![number.clone(), spa.clone()], false).await.unwrap();
    let options = app.state.channel_options(&owner, &mine.id, &connector).await.unwrap();
    let taken = options.iter().find(|o| o.number_id == number).unwrap();
    assert_eq!(taken.bound_to.as_deref(), Some("concierge"), "Already bound, to the admin's agent");
    let bound = app.state.add_channel(&owner, &mine.id, &spa).await.unwrap();
    app.state.try_agent(&owner, &mine.id, vec![ChatLine { from_guest: true, text: "hi".into() }]).await.unwrap();
    let edit = AgentInput { name: "pool-bar".into(), fallback_reply: "Hello".into(), ..AgentInput::default() };
    assert_eq!(app.state.update_agent(&owner, &mine.id, edit).await.unwrap().name, "pool-bar");
    assert_eq!(app.state.agent(&admin, &mine.id).await.unwrap().name, "pool-bar");
    app.state.remove_channel(&owner, &mine.id, &bound.id).await.unwrap();

    // Another owner sees none of it.
    let second = agent_owner(&app, &admin, "second@example.com").await;
    assert!(app.state.list_agents(&second).await.unwrap().is_empty());
    refused("another owner's agent", app.state.agent(&second, &mine.id).await);
    refused("another owner's delete", app.state.delete_agent(&second, &mine.id).await);
    app.state.delete_agent(&owner, &mine.id).await.unwrap();
}

#[tokio::test]
async fn admins_add_and_remove_users_and_bad_input_saves_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let field = |e: AppError| match e {
        AppError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other:?}"),
    };
    assert_eq!(
        field(app.state.add_user(&admin, "not an email", Role::AgentOwner, PASSWORD.into()).await.unwrap_err()),
        "email"
    );
    assert_eq!(
        field(app.state.add_user(&admin, "a@example.com", Role::AgentOwner, "short".into()).await.unwrap_err()),
        "password"
    );
    assert_eq!(
        field(app.state.add_user(&admin, "ADMIN@example.com", Role::AgentOwner, PASSWORD.into()).await.unwrap_err()),
        "email"
    );
    assert_eq!(app.state.list_users(&admin).await.unwrap().len(), 1, "refused input adds nobody");

    let owner = agent_owner(&app, &admin, "owner@example.com").await;
    let users = app.state.list_users(&admin).await.unwrap();
    assert_eq!(
        users.iter().map(|u| (u.email.as_str(), u.role, u.is_me)).collect::<Vec<_>>(),
        vec![("admin@example.com", Role::OrgAdmin, true), ("owner@example.com", Role::AgentOwner, false),]
    );
    assert!(matches!(app.state.remove_user(&admin, &admin.user_id).await, Err(AppError::Conflict(_))));
    app.state.remove_user(&admin, &owner.user_id).await.unwrap();
    assert!(app.state.user(&owner.user_id).await.unwrap().is_none(), "their session ends with them");
    assert!(matches!(
        app.state.authenticate("owner@example.com".into(), PASSWORD.into(), None).await,
        Err(AppError::Invalid { .. })
    ));
}
