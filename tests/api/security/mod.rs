//! Switchboard on the open internet, probed as an outsider and as an agent owner would: a fresh
//! instance cannot be claimed without the setup token, other sites cannot make a signed-in
//! browser change things, unknown webhook keys and slow clients do not exhaust the server,
//! password guessing is throttled, and the UI's assets go out compressed with cache validators.
//! Brains pointed at internal services are in [`brains`]; what agent owners see of guests and
//! what guests can set off, in [`guests`].

mod brains;
mod guests;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use crate::common::{spawn_app, spawn_app_with, TestApp, SETUP_TOKEN};
use app::{
    accounts::api::{Login, SetupOrganization},
    agents::{api::CreateAgent, port::BrainInput},
    ports::*,
    AppError,
};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery";

fn form_call(app: &TestApp, client: &reqwest::Client, endpoint: &str) -> reqwest::RequestBuilder {
    client.post(format!("{}/ui/{endpoint}", app.url)).header("Accept", "application/json")
}

/// Serves `router` on `ip`, port 0; returns its address.
async fn serve_on(ip: &str, router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

// ---------------------------------------------------------------------------------------------
// First-run setup

#[tokio::test]
async fn an_outsider_cannot_claim_a_fresh_instance_without_the_setup_token() {
    let app = spawn_app().await;
    let outsider = reqwest::Client::new();
    let fields = [("org_name", "Mine now"), ("email", "evil@example.com"), ("password", "a long password")];
    for token in [None, Some(""), Some("sbsetup_a-guess-at-the-token")] {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = token {
            form.push(("setup_token", token));
        }
        let refused = form_call(&app, &outsider, "setup_organization").form(&form).send().await.unwrap();
        let status = refused.status();
        let body = refused.text().await.unwrap();
        assert_eq!(status, 422, "token {token:?}");
        assert!(body.contains("setup token"), "a clear refusal: {body}");
        assert!(app.state.needs_setup().await.unwrap(), "nothing was created with token {token:?}");
    }
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(users, 0);

    // The one who reads the log (the test harness set the token) sets it up, once.
    let mut form = fields.to_vec();
    form.push(("setup_token", SETUP_TOKEN));
    let owner = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let created = form_call(&app, &owner, "setup_organization").form(&form).send().await.unwrap();
    assert_eq!(created.status(), 200, "{}", created.text().await.unwrap());
    assert!(!app.state.needs_setup().await.unwrap());
    let (tokens,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM setup_tokens").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(tokens, 0, "the setup tokens are spent");
    let again = form_call(&app, &outsider, "setup_organization").form(&form).send().await.unwrap();
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn a_fresh_instance_makes_and_logs_its_own_token_when_none_is_set() {
    let app = spawn_app_with(|c| c.setup_token = None).await;
    let (tokens,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM setup_tokens").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(tokens, 1, "a random token's hash is stored");
    let (hash,): (String,) =
        sqlx::query_as("SELECT token_hash FROM setup_tokens").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(hash.len(), 64, "only its SHA-256 is stored");
    let form = SetupOrganization {
        setup_token: SETUP_TOKEN.into(),
        org_name: "Org".into(),
        email: "a@example.com".into(),
        password: PASSWORD.into(),
    };
    let refused = app.ui(&reqwest::Client::new(), form).await.unwrap_err();
    assert!(matches!(refused, AppError::Invalid { ref field, .. } if field == "setup_token"), "{refused:?}");
}

// ---------------------------------------------------------------------------------------------
// Cross-site requests

#[tokio::test]
async fn another_site_cannot_make_a_signed_in_browser_change_anything() {
    let app = spawn_app().await;
    app.admin().await;
    let browser = app.browser("admin@example.com").await;
    let create = |origin: Option<&str>, site: Option<&str>| {
        let mut request = form_call(&app, &browser, "create_token").form(&[("name", "ci")]);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        if let Some(site) = site {
            request = request.header("Sec-Fetch-Site", site);
        }
        request.send()
    };
    let forged = create(Some("https://evil.example"), None).await.unwrap();
    assert_eq!(forged.status(), 403);
    let forged = create(None, Some("cross-site")).await.unwrap();
    assert_eq!(forged.status(), 403);
    let forged = create(Some("null"), Some("cross-site")).await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(app.state.list_tokens(&app.admin_me().await).await.unwrap().is_empty(), "no token was created");

    // The page's own requests, and clients that are no browser, go through.
    let own = create(Some(&app.url), Some("same-origin")).await.unwrap();
    assert_eq!(own.status(), 200, "{}", own.text().await.unwrap());
    let scripted = create(None, None).await.unwrap();
    assert_eq!(scripted.status(), 200);
    assert_eq!(app.state.list_tokens(&app.admin_me().await).await.unwrap().len(), 2);

    // Login forgery: another site cannot sign a browser in to an account of its choosing.
    let fresh = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let forged_login = form_call(&app, &fresh, "login")
        .header("Origin", "https://evil.example")
        .form(&[("email", "admin@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_login.status(), 403);
    assert!(forged_login.headers().get("set-cookie").is_none(), "no session was started");
}

/// An export writes a line in the audit log under the name of whoever downloads it: another site's
/// page (a link, a script moving the window) cannot make a signed-in browser download one.
#[tokio::test]
async fn another_site_cannot_make_a_signed_in_browser_download_an_export() {
    let app = spawn_app().await;
    app.admin().await;
    let browser = app.browser("admin@example.com").await;
    let exports = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'export'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        n
    };
    for path in ["/export/conversations.csv", "/export/conversations.json", "/export/audit.csv"] {
        for site in ["cross-site", "same-site"] {
            let forged = browser.get(format!("{}{path}", app.url)).header("Sec-Fetch-Site", site).send().await.unwrap();
            assert_eq!(forged.status(), 403, "{path} from {site}");
            assert!(
                forged.text().await.unwrap().contains("only takes requests from its own pages"),
                "{path}: says why"
            );
        }
    }
    assert_eq!(exports().await, 0, "nothing was downloaded, nothing written");
    // From Switchboard's own page, typed into the address bar, or from a browser too old to say
    // where a request comes from, with one of Switchboard's pages as its Referer.
    let own = format!("{}/inbox", app.url);
    for (name, value) in [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "none"), ("Referer", own.as_str())] {
        let request = browser.get(format!("{}/export/conversations.csv", app.url)).header(name, value);
        assert_eq!(request.send().await.unwrap().status(), 200, "{name}: {value}");
    }
    // That old browser on another site's link: another Referer, or none.
    for referer in [Some("https://evil.example/"), None] {
        let mut request = browser.get(format!("{}/export/conversations.csv", app.url));
        if let Some(referer) = referer {
            request = request.header("Referer", referer);
        }
        assert_eq!(request.send().await.unwrap().status(), 403, "{referer:?}");
    }
    assert_eq!(exports().await, 3);
}

// ---------------------------------------------------------------------------------------------
// Webhook keys

#[tokio::test]
async fn unknown_webhook_keys_are_refused_without_a_lookup_and_the_cache_stays_bounded() {
    let app = spawn_app().await;
    let (_, connector, _, _) = app.ready_path().await;
    let key = app.webhook_key(&connector).await;
    let client = reqwest::Client::new();
    let hooks = &app.state.hooks;
    hooks.clear();

    // Keys of the wrong shape (the observed attack used 8 kB ones): 404, nothing cached.
    for i in 0..200 {
        let junk = format!("{i}{}", "k".repeat(8 * 1024));
        for path in ["inbound", "status"] {
            let answer = client
                .post(format!("{}/twilio/{path}/{junk}", app.url))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("From=x")
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 404);
        }
    }
    assert!(hooks.connectors.is_empty(), "no lookup was made or kept for {} keys", hooks.connectors.len());

    // Well-shaped unknown keys are looked up, and the cache never holds more than its bound.
    for _ in 0..10_500 {
        let unknown: String = crate::common::random_hex(43);
        assert!(hooks.connector(&app.state.db, &app.state.secrets, &unknown).await.unwrap().is_none());
        assert!(hooks.connectors.len() <= 10_000);
    }
    // Positive control: the real key is still found (and cached).
    assert!(hooks.connector(&app.state.db, &app.state.secrets, &key).await.unwrap().is_some());
    let shape = client
        .post(format!("{}/twilio/inbound/{key}", app.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("From=x")
        .send()
        .await
        .unwrap();
    assert_eq!(shape.status(), 403, "a real key reaches the signature check");
}

// ---------------------------------------------------------------------------------------------
// Slow clients and the connection cap

/// Whether the server closed `stream` (reading gives end-of-file or an error) within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 408 or the like before closing
        }
    }
}

async fn connect(app: &TestApp) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(app.url.trim_start_matches("http://")).await.unwrap()
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let app = spawn_app_with(|c| c.header_timeout_secs = 1).await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = connect(&app).await;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    // Positive control: a whole request is answered meanwhile.
    let ok = reqwest::get(format!("{}/healthz", app.url)).await.unwrap();
    assert_eq!(ok.status(), 200);
    for stream in &mut slow {
        assert!(closed_within(stream, Duration::from_secs(5)).await, "a half-sent request is cut off");
    }

    // A keep-alive connection left idle after its answer is closed as well.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle keep-alive connection is closed");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|c| {
        c.header_timeout_secs = 3;
        c.max_connections = 4;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&app).await;
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let answered = reqwest::get(format!("{}/healthz", app.url)).await.unwrap();
    assert_eq!(answered.status(), 200);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "the fifth connection waited for a free place ({waited:?})");
    drop(held);
    // With the places free again, answers come at once.
    let started = Instant::now();
    reqwest::get(format!("{}/healthz", app.url)).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500));
}

// ---------------------------------------------------------------------------------------------
// Password guessing

#[tokio::test]
async fn password_guessing_is_throttled_per_account_and_per_address() {
    use switchboard::accounts::logins::{PER_ACCOUNT, PER_ADDRESS};
    let app = spawn_app().await;
    app.admin().await;
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = |email: &str, password: &str| {
        form_call(&app, &client, "login")
            .form(&[("email", email.to_string()), ("password", password.to_string())])
            .send()
    };
    for _ in 0..PER_ACCOUNT {
        assert_eq!(login("admin@example.com", "wrong password!!").await.unwrap().status(), 422);
    }
    let throttled = login("admin@example.com", "wrong password!!").await.unwrap();
    assert_eq!(throttled.status(), 429);
    let retry: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 60 && retry <= 15 * 60, "{retry}");
    let body = throttled.text().await.unwrap();
    assert!(body.contains("Try again in 15 minutes"), "the page says when: {body}");
    // The right password does not get in while the account is throttled.
    assert_eq!(login("admin@example.com", PASSWORD).await.unwrap().status(), 429);

    // One address guessing across many accounts is stopped too.
    for i in 0..(PER_ADDRESS - PER_ACCOUNT) {
        let answer = login(&format!("user{i}@example.com"), "wrong password!!").await.unwrap();
        assert_eq!(answer.status(), 422, "attempt {i}");
    }
    assert_eq!(login("someone@example.com", "wrong password!!").await.unwrap().status(), 429);
}

#[tokio::test]
async fn a_success_resets_the_account_count() {
    let app = spawn_app().await;
    app.admin().await;
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = |password: &str| Login { email: "admin@example.com".into(), password: password.into() };
    for _ in 0..(switchboard::accounts::logins::PER_ACCOUNT - 1) {
        let wrong = app.ui(&browser, login("wrong password!!")).await;
        assert!(matches!(wrong, Err(AppError::Invalid { .. })), "{wrong:?}");
    }
    app.ui(&browser, login(PASSWORD)).await.unwrap();
    for _ in 0..(switchboard::accounts::logins::PER_ACCOUNT - 1) {
        let wrong = app.ui(&browser, login("wrong password!!")).await;
        assert!(matches!(wrong, Err(AppError::Invalid { .. })), "the count started again: {wrong:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Static assets and pages

#[tokio::test]
async fn the_ui_bundle_is_sent_compressed_with_validators_and_pages_are_not_stored() {
    let app = spawn_app().await;
    let wasm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site/pkg/app_bg.wasm");
    assert!(wasm.exists(), "build the UI first (trunk build --release; scripts/test.sh does)");
    let raw_size = std::fs::metadata(&wasm).unwrap().len();
    let client = reqwest::Client::builder().no_gzip().no_brotli().build().unwrap();
    for (encoding, asset) in
        [("br", "/pkg/app_bg.wasm"), ("gzip", "/pkg/app_bg.wasm"), ("br", "/pkg/app.js"), ("gzip", "/favicon.ico")]
    {
        let answer =
            client.get(format!("{}{asset}", app.url)).header("Accept-Encoding", encoding).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        assert_eq!(answer.headers()["content-encoding"], encoding, "{asset}");
        assert_eq!(answer.headers()["cache-control"], "no-cache", "kept, but checked before use: {asset}");
        let modified = answer.headers()["last-modified"].to_str().unwrap().to_string();
        let body = answer.bytes().await.unwrap();
        if asset.ends_with(".wasm") {
            assert!((body.len() as u64) < raw_size / 2, "{encoding}: {} of {raw_size} bytes", body.len());
        }
        // The next visit asks whether it changed, and gets no body back.
        let again = client
            .get(format!("{}{asset}", app.url))
            .header("Accept-Encoding", encoding)
            .header("If-Modified-Since", modified)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{asset}");
    }
    // A client that takes no compression still gets the file.
    let plain = client.get(format!("{}/pkg/app_bg.wasm", app.url)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().len() as u64, raw_size);

    // Pages carry data: never stored; sent compressed.
    let page = client.get(format!("{}/login", app.url)).header("Accept-Encoding", "br, gzip").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers().get("content-encoding").is_some(), "{:?}", page.headers());
    let api = client.get(format!("{}/api/agents", app.url)).send().await.unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
}

// ---------------------------------------------------------------------------------------------
// Smaller holes

#[tokio::test]
async fn the_sessions_table_holds_no_usable_session_id() {
    let app = spawn_app().await;
    app.admin().await;
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = form_call(&app, &client, "login")
        .form(&[("email", "admin@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT id, data FROM sessions").fetch_all(&app.state.db.pool).await.unwrap();
    assert_eq!(rows.len(), 1);
    for (key, data) in &rows {
        assert_ne!(key, &id);
        assert!(!String::from_utf8_lossy(data).contains(&id), "the data does not carry the id");
    }
    // The session still works, and logging out ends it.
    let listed = form_call(&app, &client, "list_connectors").send().await.unwrap();
    assert_eq!(listed.text().await.unwrap(), "[]");
    form_call(&app, &client, "logout").send().await.unwrap();
    let after = form_call(&app, &client, "list_connectors").send().await.unwrap();
    assert!(after.text().await.unwrap().contains("Unauthenticated"));
}

#[tokio::test]
async fn metrics_answer_only_this_machine_or_the_bearer_of_their_token() {
    let local = spawn_app().await;
    let scraped = reqwest::get(format!("{}/metrics", local.url)).await.unwrap();
    assert_eq!(scraped.status(), 200, "loopback, no token set");
    assert!(scraped.text().await.unwrap().contains("switchboard_"));

    // Behind a proxy every client looks like the proxy: with the forwarded address trusted, an
    // outside client is refused unless it has the token.
    let proxied = spawn_app_with(|c| {
        c.trust_forwarded_for = true;
        c.metrics_token = Some(switchboard::crypto::Secret::new("metrics-token-0123456789"));
    })
    .await;
    let client = reqwest::Client::new();
    let outside =
        client.get(format!("{}/metrics", proxied.url)).header("X-Forwarded-For", "203.0.113.7").send().await.unwrap();
    assert_eq!(outside.status(), 403);
    let wrong = client.get(format!("{}/metrics", proxied.url)).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 403, "with a token set, loopback alone is not enough");
    let right = client
        .get(format!("{}/metrics", proxied.url))
        .header("X-Forwarded-For", "203.0.113.7")
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let without = spawn_app_with(|c| c.trust_forwarded_for = true).await;
    let outside =
        client.get(format!("{}/metrics", without.url)).header("X-Forwarded-For", "203.0.113.7").send().await.unwrap();
    assert_eq!(outside.status(), 403, "no token: only this machine");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let mode = std::fs::metadata(&app.data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
}

#[tokio::test]
async fn live_streams_are_capped_per_user_and_end_at_logout() {
    let app = spawn_app().await;
    app.admin().await;
    let browser = app.browser("admin@example.com").await;
    let mut open = Vec::new();
    for _ in 0..switchboard::events::STREAMS_PER_USER {
        let stream = browser.get(format!("{}/events", app.url)).send().await.unwrap();
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    let one_more = browser.get(format!("{}/events", app.url)).send().await.unwrap();
    assert_eq!(one_more.status(), 429, "one more tab than the cap");
    open.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut stream = browser.get(format!("{}/events", app.url)).send().await.unwrap();
    assert_eq!(stream.status(), 200, "a closed stream frees its place");

    // Logging out (here, from another tab of the same browser) ends the open streams.
    form_call(&app, &browser, "logout").send().await.unwrap();
    let ended =
        tokio::time::timeout(Duration::from_secs(12), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream ended after logout");
}

/// The agent form, as an agent owner or admin posts it, with `brain`.
fn agent(name: &str, brain: BrainInput) -> CreateAgent {
    TestApp::with_brain(TestApp::agent_form(name, "A colleague will answer."), brain)
}

/// An agent owner's browser, signed in (the admin adds them).
async fn agent_owner(app: &TestApp, admin: &app::accounts::Me) -> reqwest::Client {
    app.state.add_user(admin, "owner@example.com", app::accounts::Role::AgentOwner, PASSWORD.into()).await.unwrap();
    app.browser("owner@example.com").await
}
