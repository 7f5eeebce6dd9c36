//! Media guests send: recorded with the message, downloaded once from Twilio with the account's
//! credentials, shown only to the organization; refused when it is not Twilio's or too large.

use crate::common::{eventually, spawn_app, spawn_app_with, TestApp, TOKEN};
use app::{
    accounts::api::AddUser,
    connectors::api::{DeleteConnector, ListConnectors},
    inbox::{api::ListConversations, MediaView},
};
use switchboard::media::OutboundFile;
use twilio_sim::{Inbound, MediaFile};

const GUEST: &str = "whatsapp:+15551230002";

/// The smallest valid PNG (1×1 pixel).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn guest_sends(body: &str, media: Vec<MediaFile>) -> Inbound {
    Inbound {
        to: "whatsapp:+14155550100".into(),
        from: GUEST.into(),
        body: body.into(),
        profile_name: None,
        media,
        ..Default::default()
    }
}

/// The guest's media as the backoffice lists it, once every item has left "pending".
async fn settled_media(app: &TestApp, agent: &str) -> Vec<MediaView> {
    let admin = app.browser("admin@example.com").await;
    eventually("the media download settles", || async {
        let conversations = app.ui(&admin, ListConversations { agent_id: agent.into() }).await.unwrap();
        let media: Vec<MediaView> = conversations
            .iter()
            .filter(|c| c.guest == GUEST)
            .flat_map(|c| c.messages.iter().flat_map(|m| m.media.clone()))
            .collect();
        (!media.is_empty() && media.iter().all(|m| m.state != "pending")).then_some(media)
    })
    .await
}

#[tokio::test]
async fn a_guests_image_is_downloaded_once_and_shown_only_to_the_organization() {
    let app = spawn_app().await;
    let (_, _connector, _number, agent) = app.ready_path().await;
    let file = MediaFile { content_type: "image/png".into(), data: PNG.to_vec() };
    let delivery = app.sim.sim.guest_message(guest_sends("Is this the entrance?", vec![file])).await.unwrap();
    assert_eq!(delivery.status, 200);

    let media = settled_media(&app, &agent).await;
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].state, "stored", "{:?}", media[0].error);
    assert_eq!(media[0].content_type, "image/png");
    assert_eq!(app.state.media.load(&app.state.db, &media[0].id).await.as_deref(), Some(PNG));
    assert_eq!(app.sim.sim.media_fetches().values().sum::<usize>(), 1, "downloaded exactly once");

    // Signed out: refused. Signed in: the file, under a policy that runs nothing.
    let url = format!("{}{}", app.url, media[0].url());
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 401);
    let admin = app.browser("admin@example.com").await;
    let served = admin.get(&url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(served.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(
        admin.get(format!("{}/media/{}", app.url, crate::common::random_hex(32))).send().await.unwrap().status(),
        404
    );

    // An agent owner of the same organization sees files of their own agents' guests only.
    let add = AddUser {
        email: "owner@example.com".into(),
        role: app::accounts::Role::AgentOwner.as_str().into(),
        password: "correct horse battery".into(),
    };
    app.ui(&admin, add).await.unwrap();
    let owner = app.browser("owner@example.com").await;
    assert_eq!(owner.get(&url).send().await.unwrap().status(), 404, "not their agent's conversation");
}

#[tokio::test]
async fn a_file_over_25_mb_is_refused_and_the_message_still_answered() {
    let app = spawn_app().await;
    let (_, _connector, _number, agent) = app.ready_path().await;
    let big = MediaFile { content_type: "video/mp4".into(), data: vec![7u8; 25 * 1024 * 1024 + 1] };
    app.sim.sim.guest_message(guest_sends("When is breakfast?", vec![big])).await.unwrap();

    let media = settled_media(&app, &agent).await;
    assert_eq!(media[0].state, "failed");
    assert!(media[0].error.as_deref().unwrap().contains("25 MB"), "{:?}", media[0].error);
    assert_eq!(kept_files(&app).await, 0, "nothing of it kept");
    eventually("the agent still answers", || async { (!app.replies_to(GUEST).is_empty()).then_some(()) }).await;
}

#[tokio::test]
async fn a_media_url_that_is_not_twilios_gets_no_credentials() {
    let app = spawn_app().await;
    let (_, connector, _number, agent) = app.ready_path().await;
    // A server that records whether anyone sent it credentials.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!("http://{}/2010-04-01/Accounts/x/Media/y", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = asked.clone();
    tokio::spawn(async move {
        let _ = listener.accept().await.map(|_| seen.store(true, std::sync::atomic::Ordering::SeqCst));
    });

    let url = format!("{}/twilio/inbound/{}", app.url, app.webhook_key(&connector).await);
    let params: Vec<(String, String)> = vec![
        ("MessageSid".into(), format!("SM{}", crate::common::random_hex(32))),
        ("AccountSid".into(), app.account_sid.clone()),
        ("From".into(), GUEST.into()),
        ("To".into(), "whatsapp:+14155550100".into()),
        ("Body".into(), "".into()),
        ("NumMedia".into(), "1".into()),
        ("MediaUrl0".into(), elsewhere),
        ("MediaContentType0".into(), "image/jpeg".into()),
    ];
    let signature = twilio_sim::sign(TOKEN, &url, &params);
    let response =
        reqwest::Client::new().post(&url).header("X-Twilio-Signature", signature).form(&params).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let media = settled_media(&app, &agent).await;
    assert_eq!(media[0].state, "failed");
    assert!(media[0].error.as_deref().unwrap().contains("not a Twilio media URL"), "{:?}", media[0].error);
    assert!(!asked.load(std::sync::atomic::Ordering::SeqCst), "no request went to a host that is not Twilio's");
}

#[tokio::test]
async fn a_file_sent_to_the_guest_goes_out_as_a_signed_expiring_link() {
    let app = spawn_app().await;
    app.ready_path().await;
    app.sim.sim.guest_message(guest_sends("When is breakfast?", vec![])).await.unwrap();
    eventually("the agent answers", || async { (!app.replies_to(GUEST).is_empty()).then_some(()) }).await;
    let (conversation,): (String,) = sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
        .bind(GUEST)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();

    let file = OutboundFile { content_type: "image/png".into(), bytes: PNG.to_vec() };
    let message =
        switchboard::media::queue_outbound(&app.state, &conversation, "Here is the map", Some(file)).await.unwrap();
    // It is the conversation's latest activity, as an agent's reply is (the inbox's order and
    // retention read it).
    let (activity, created): (i64, i64) = sqlx::query_as(
        "SELECT cv.last_activity_at, m.created_at FROM conversations cv JOIN messages m ON m.conversation_id = cv.id \
         WHERE m.id = $1",
    )
    .bind(&message)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(activity, created, "the conversation's last activity is the file's message");
    let sent = eventually("the file reaches the guest", || async {
        app.replies_to(GUEST).into_iter().find(|m| m.body == "Here is the map")
    })
    .await;
    assert_eq!(sent.media, Some((200, "image/png".to_string(), PNG.len())), "Twilio fetched the file through its link");

    // The link is Switchboard's, signed and expiring: a changed signature or id is refused.
    let (media_id,): (String,) = sqlx::query_as("SELECT id FROM media WHERE message_id = $1")
        .bind(&message)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let link = switchboard::media::outbound_link(&app.state, &media_id);
    assert!(link.starts_with(&format!("{}/media/out/{media_id}?expires=", app.url)), "{link}");
    let client = reqwest::Client::new();
    assert_eq!(client.get(&link).send().await.unwrap().status(), 200);
    let tampered = format!("{}0", &link[..link.len() - 1]).replace("signature=", "signature=0");
    assert_eq!(client.get(&tampered).send().await.unwrap().status(), 403);
    let expired = {
        let past = switchboard::now_ms() / 1000 - 1;
        let signature = app.state.secrets.sign_link(&format!("{media_id}.{past}"));
        format!("{}/media/out/{media_id}?expires={past}&signature={signature}", app.url)
    };
    assert_eq!(client.get(&expired).send().await.unwrap().status(), 403);
    let other_id = link.replace(&media_id, &crate::common::random_hex(32));
    assert_eq!(client.get(&other_id).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_file_over_16_mb_or_an_empty_message_is_refused_and_nothing_is_kept() {
    let app = spawn_app().await;
    app.ready_path().await;
    app.sim.sim.guest_message(guest_sends("Hello", vec![])).await.unwrap();
    let (conversation,): (String,) = eventually("the conversation exists", || async {
        sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
            .bind(GUEST)
            .fetch_optional(&app.state.db.pool)
            .await
            .unwrap()
    })
    .await;
    // The agent's answer is in before counting, so only what this test does can change the count.
    eventually("the agent answers", || async { (!app.replies_to(GUEST).is_empty()).then_some(()) }).await;
    let count = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&app.state.db.pool).await.unwrap();
        n
    };
    let before = count().await;

    let big = OutboundFile { content_type: "video/mp4".into(), bytes: vec![1u8; 16 * 1024 * 1024 + 1] };
    let error = switchboard::media::queue_outbound(&app.state, &conversation, "", Some(big)).await.unwrap_err();
    assert_eq!(app::AppError::from(error), app::AppError::invalid("file", "Files can be at most 16 MB."));
    let error = switchboard::media::queue_outbound(&app.state, &conversation, "  ", None).await.unwrap_err();
    assert!(matches!(app::AppError::from(error), app::AppError::Invalid { field, .. } if field == "body"));
    let gone = switchboard::media::queue_outbound(&app.state, "no-such-conversation", "Hi", Some(png())).await;
    assert!(matches!(gone.map_err(app::AppError::from), Err(app::AppError::NotFound(_))));

    assert_eq!(count().await, before, "no message was kept");
    assert_eq!(kept_files(&app).await, 0, "no file was kept");
}

/// Files kept, wherever the store keeps them: in the data folder and in the database.
async fn kept_files(app: &TestApp) -> usize {
    let on_disk = std::fs::read_dir(app.data_dir.join("media")).map(|d| d.count()).unwrap_or(0);
    let (in_db,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM media_files").fetch_one(&app.state.db.pool).await.unwrap();
    on_disk + in_db as usize
}

#[tokio::test]
async fn with_media_in_the_database_files_come_and_go_without_the_data_folder() {
    let app = spawn_app_with(|c| c.media_store = Some(switchboard::media::StoreKind::Database)).await;
    let (_, _connector, _number, agent) = app.ready_path().await;
    let file = MediaFile { content_type: "image/png".into(), data: PNG.to_vec() };
    app.sim.sim.guest_message(guest_sends("Is this the entrance?", vec![file])).await.unwrap();
    let media = settled_media(&app, &agent).await;
    assert_eq!(media[0].state, "stored", "{:?}", media[0].error);
    let admin = app.browser("admin@example.com").await;
    let served = admin.get(format!("{}{}", app.url, media[0].url())).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);

    let (conversation,): (String,) = sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
        .bind(GUEST)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    switchboard::media::queue_outbound(&app.state, &conversation, "Here is the map", Some(png())).await.unwrap();
    let sent = eventually("the file reaches the guest", || async {
        app.replies_to(GUEST).into_iter().find(|m| m.body == "Here is the map")
    })
    .await;
    assert_eq!(sent.media, Some((200, "image/png".to_string(), PNG.len())), "Twilio fetched the file");
    assert!(!app.data_dir.join("media").exists(), "nothing written to the data folder");
    assert_eq!(kept_files(&app).await, 2, "both files in the database");

    // Deleting the connector takes its files with it.
    let admin = app.browser("admin@example.com").await;
    let connector = app.ui(&admin, ListConnectors {}).await.unwrap().remove(0);
    app.ui(&admin, DeleteConnector { id: connector.id }).await.unwrap();
    assert_eq!(kept_files(&app).await, 0, "the files went with their connector");
}

fn png() -> OutboundFile {
    OutboundFile { content_type: "image/png".into(), bytes: PNG.to_vec() }
}
