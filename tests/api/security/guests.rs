//! Guests, as agent owners and guests themselves might misuse them: an owner never receives a
//! guest's whole number nor unlinks another owner's guest; login codes go out only where they mean
//! something, within an organization's cap.

use super::{agent, agent_owner};
use crate::common::{spawn_app, TestApp};
use app::{
    accounts::api::CreateToken,
    agents::port::BrainInput,
    sharing::{
        api::{GetSharing, RevokeGuest, SetAccess},
        AccessPolicy,
    },
    AppError,
};

#[tokio::test]
async fn an_agent_owner_cannot_unlink_the_guests_of_another_owners_agent() {
    let app = spawn_app().await;
    let (admin, _, number, concierge) = app.ready_path().await;
    let owner = agent_owner(&app, &admin).await;
    let own_agent = app.ui(&owner, agent("owned", BrainInput::Faq)).await.unwrap();
    // A verified guest who talks only to the admin's concierge.
    let guest = "whatsapp:+15550001234";
    verified_guest(&app, &admin.org_id, &number, &concierge, guest).await;
    let refused = app.ui(&owner, RevokeGuest { agent_id: own_agent.id, guest: guest.into() }).await.unwrap_err();
    assert!(matches!(refused, AppError::NotFound(_)), "{refused:?}");
    let (kept,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM guest_identities").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(kept, 1, "the other agent's guest keeps their verified email");
    // Positive control: through the agent the guest talks to, it works.
    let admin = app.browser("admin@example.com").await;
    app.ui(&admin, RevokeGuest { agent_id: concierge, guest: guest.into() }).await.unwrap();
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM guest_identities").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(left, 0);
}

/// A guest with a verified email, in a conversation with `agent_id` on `number_id`.
async fn verified_guest(app: &TestApp, org_id: &str, number_id: &str, agent_id: &str, guest: &str) {
    sqlx::query(
        "INSERT INTO conversations (id, number_id, guest_address, agent_id, last_inbound_at, last_activity_at, created_at) \
         VALUES ($1, $2, $3, $4, 1, 1, 0)",
    )
    .bind(switchboard::new_id())
    .bind(number_id)
    .bind(guest)
    .bind(agent_id)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO guest_identities (org_id, guest_address, email, verified_at) VALUES ($1, $2, $3, 0)")
        .bind(org_id)
        .bind(guest)
        .bind(format!("{}@example.com", guest.trim_start_matches("whatsapp:+")))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

/// An agent owner with an agent of their own, and a verified guest in a conversation with it.
async fn owner_with_a_guest(app: &TestApp) -> (reqwest::Client, String, &'static str) {
    let (admin, _, number, _) = app.ready_path().await;
    let owner = agent_owner(app, &admin).await;
    let agent_id = app.ui(&owner, agent("ownbot", BrainInput::Faq)).await.unwrap().id;
    let guest = "whatsapp:+15550009876";
    verified_guest(app, &admin.org_id, &number, &agent_id, guest).await;
    (owner, agent_id, guest)
}

#[tokio::test]
async fn agent_owners_never_receive_a_guests_whole_number() {
    let app = spawn_app().await;
    let (owner, agent_id, guest) = owner_with_a_guest(&app).await;
    let digits = guest.trim_start_matches("whatsapp:+");

    // The REST API's conversations, with the owner's own token.
    let token = app.ui(&owner, CreateToken { name: "ci".into() }).await.unwrap().token;
    let listed = reqwest::Client::new()
        .get(format!("{}/api/agents/ownbot/conversations", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let body = listed.text().await.unwrap();
    assert!(body.contains("…876"), "the conversation is listed, masked: {body}");
    assert!(!body.contains(digits), "{body}");

    // The Sharing page: the key that names the guest for Revoke is not the number.
    let sharing = app.ui(&owner, GetSharing { agent_id: agent_id.clone() }).await.unwrap();
    assert_eq!(sharing.verified.len(), 1);
    let verified = &sharing.verified[0];
    assert!(!verified.key.contains(digits) && !verified.guest.contains(digits), "{verified:?}");
    // The key works; the number itself, which an owner should not know, does not.
    let revoke = |guest: &str| RevokeGuest { agent_id: agent_id.clone(), guest: guest.into() };
    let refused = app.ui(&owner, revoke(guest)).await.unwrap_err();
    assert!(matches!(refused, AppError::NotFound(_)), "{refused:?}");
    app.ui(&owner, revoke(&verified.key)).await.unwrap();
    assert!(app.ui(&owner, GetSharing { agent_id }).await.unwrap().verified.is_empty());
}

/// A guest writes to the concierge's number and waits for the answer.
async fn guest_says(app: &TestApp, from: &str, body: &str) -> String {
    let before = app.replies_to(from).len();
    let message = twilio_sim::Inbound {
        to: "whatsapp:+14155550100".into(),
        from: from.into(),
        body: body.into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    };
    app.sim.sim.guest_message(message).await.unwrap();
    crate::common::eventually(&format!("an answer to {body:?}"), || async {
        let replies = app.replies_to(from);
        (replies.len() > before).then(|| replies.last().unwrap().body.clone())
    })
    .await
}

#[tokio::test]
async fn login_codes_go_out_only_where_they_mean_something_and_within_an_organization_cap() {
    let app = spawn_app().await;
    let (me, _, _, agent_id) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    // An open agent has nothing to verify: no email goes out.
    let answer = guest_says(&app, "whatsapp:+15550001111", "/login ana@example.com").await;
    assert!(answer.contains("talks with everyone"), "{answer}");
    assert!(app.sim.sim.mails().is_empty(), "no email was sent");

    let form = SetAccess {
        agent_id,
        policy: AccessPolicy::RequireEmail.as_str().into(),
        onboarding: String::new(),
        onboarding_message: String::new(),
    };
    app.ui(&admin, form).await.unwrap();
    let answer = guest_says(&app, "whatsapp:+15550001111", "/login ana@example.com").await;
    assert!(answer.starts_with("We sent"), "positive control: {answer}");
    assert_eq!(app.sim.sim.mails().len(), 1);

    // Codes asked for across many numbers and addresses stop at the organization's cap.
    let now = switchboard::now_ms();
    for i in 0..switchboard::access::CODES_PER_ORG.0 {
        sqlx::query(
            "INSERT INTO login_codes (id, org_id, guest_address, email, code_hash, message_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, '', $5, 'open', $6, $7)",
        )
        .bind(switchboard::new_id())
        .bind(&me.org_id)
        .bind(format!("whatsapp:+1555100{i:04}"))
        .bind(format!("guest{i}@example.com"))
        .bind(switchboard::new_id())
        .bind(now)
        .bind(now + 600_000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    }
    let answer = guest_says(&app, "whatsapp:+15550002222", "/login ben@example.com").await;
    assert!(answer.contains("Too many codes were asked for here"), "{answer}");
    assert_eq!(app.sim.sim.mails().len(), 1, "no further email");
}
