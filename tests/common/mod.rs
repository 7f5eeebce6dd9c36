//! The real Switchboard on port 0, a fresh database (SQLite, or PostgreSQL when
//! `TEST_DATABASE_URL` names a server), and the Twilio simulator behind the configurable base URLs.
#![allow(dead_code)]

mod processes;
// Each test binary includes this module and uses a part of it.
#[allow(unused_imports)]
pub use processes::*;

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};

use app::{
    accounts::Me,
    agents::port::{AgentInput, BrainInput},
    connectors::{port::ConnectorInput, NumberRow},
    ports::*,
};
use leptos::server_fn::{ContentType, Http, ServerFn};
use switchboard::{
    config::Config,
    startup::Application,
    state::{AppState, Tuning},
};
use twilio_sim::{Options, Seed, SeedAccount, SeedNumber};

/// The content type a server function's arguments travel in (its input codec's).
pub trait InputEncoding {
    fn content_type() -> &'static str;
}

impl<I: ContentType, O> InputEncoding for Http<I, O> {
    fn content_type() -> &'static str {
        I::CONTENT_TYPE
    }
}

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";
/// The setup token every test app starts with (SWITCHBOARD_SETUP_TOKEN).
pub const SETUP_TOKEN: &str = "sbsetup_test-token-for-tests";

pub struct TestApp {
    pub url: String,
    pub state: AppState,
    pub sim: twilio_sim::Handle,
    pub account_sid: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    smtp_task: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.sim.task.abort();
        self.smtp_task.abort();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// `n` random hex digits (row ids start with the time, so they are no source of randomness).
pub fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap()).collect()
}

pub fn seed_account() -> SeedAccount {
    SeedAccount {
        sid: format!("AC{}", random_hex(32)),
        auth_token: TOKEN.into(),
        friendly_name: "Test Hotels".into(),
        kind: "Full".into(),
        numbers: vec![
            SeedNumber {
                phone_number: "+14155550100".into(),
                display_name: Some("Front Desk".into()),
                whatsapp: true,
                sms: false,
                sender_status: "ONLINE".into(),
            },
            SeedNumber {
                phone_number: "+14155550101".into(),
                display_name: Some("Spa".into()),
                whatsapp: true,
                sms: false,
                sender_status: "ONLINE".into(),
            },
            SeedNumber {
                phone_number: "+14155550199".into(),
                display_name: Some("SMS line".into()),
                whatsapp: false,
                sms: true,
                sender_status: "ONLINE".into(),
            },
        ],
        templates: vec![
            twilio_sim::SeedTemplate {
                sid: Some(format!("HX{}", "a".repeat(32))),
                friendly_name: "follow_up".into(),
                language: "en".into(),
                body: "Hello {{1}}, we have news for you.".into(),
                status: "approved".into(),
            },
            twilio_sim::SeedTemplate {
                sid: Some(format!("HX{}", "b".repeat(32))),
                friendly_name: "promo".into(),
                language: "en".into(),
                body: "Buy now!".into(),
                status: "rejected".into(),
            },
        ],
        services: vec![],
        sandbox_keyword: Some("amber-cedar".into()),
    }
}

pub fn fast_tuning() -> Tuning {
    Tuning {
        webhook_confirm_timeout: Duration::from_secs(5),
        webhook_confirm_interval: Duration::from_millis(50),
        idle_poll: Duration::from_millis(200),
        retry_base: Duration::from_millis(50),
        lifecycle_sweep: Duration::from_millis(200),
        retention_sweep: Duration::from_millis(200),
        ..Tuning::default()
    }
}

/// A fresh database URL: a new PostgreSQL database when TEST_DATABASE_URL is set, else SQLite.
async fn fresh_database(data_dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            switchboard::db::fresh_postgres_database(&server).await.expect("TEST_DATABASE_URL reachable")
        }
        _ => switchboard::db::sqlite_url(data_dir),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_tuned(adjust, |_| {}).await
}

/// The same, with the workers' timing adjusted after the tests' own ([`fast_tuning`]).
pub async fn spawn_app_tuned(adjust: impl FnOnce(&mut Config), tune: impl FnOnce(&mut Tuning)) -> TestApp {
    let _ = tracing_subscriber_init();
    let account = seed_account();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = Options { sender_update_delay: Duration::from_millis(150), status_delay: Duration::from_millis(50) };
    let sim = twilio_sim::start(listener, Seed { accounts: vec![account.clone()] }, options, None).await.unwrap();
    // The simulator's mailbox receives the emails (the codes of /login) over SMTP.
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp.local_addr().unwrap().port();
    let smtp_task = sim.sim.serve_smtp(smtp);
    let data_dir = std::env::temp_dir().join(format!("switchboard-test-{}", random_hex(12)));
    let database_url = fresh_database(&data_dir).await;
    let mut config = Config::for_data_dir(data_dir.clone());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(database_url.clone());
    config.twilio_api_base = sim.url();
    config.twilio_messaging_base = sim.url();
    config.twilio_content_base = sim.url();
    config.site_root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/site"));
    config.smtp_host = Some("127.0.0.1".into());
    config.smtp_port = Some(smtp_port);
    config.smtp_tls = switchboard::config::SmtpTls::None;
    config.mail_from = "Front Desk <no-reply@hotel.example>".into();
    config.setup_token = Some(switchboard::crypto::Secret::new(SETUP_TOKEN));
    // The simulator's stand-in model and hook are on loopback.
    config.outbound_allow = switchboard::egress::Egress::parse("127.0.0.1").unwrap();
    adjust(&mut config);
    let asked = config.tuning();
    let mut tuning = Tuning {
        send_rate: asked.send_rate,
        health_check: asked.health_check,
        send_give_up: asked.send_give_up,
        lease: asked.lease,
        ..fast_tuning()
    };
    tune(&mut tuning);
    let app = Application::build_with(config, tuning).await.expect("the application builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        url,
        state,
        sim,
        account_sid: account.sid,
        data_dir,
        database_url,
        http: reqwest::Client::builder().cookie_store(true).build().unwrap(),
        server,
        smtp_task,
    }
}

fn tracing_subscriber_init() -> Option<()> {
    // Logs only when asked: TEST_LOG=1 cargo test.
    std::env::var("TEST_LOG").ok()?;
    tracing_subscriber::fmt().with_test_writer().with_env_filter("info,sqlx=warn").try_init().ok()
}

/// An HTTP client signed in to the backoffice at `url` (password "correct horse battery").
pub async fn signed_in(url: &str, email: &str) -> reqwest::Client {
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = client
        .post(format!("{url}/ui/login"))
        .header("Accept", "application/json")
        .form(&[("email", email), ("password", "correct horse battery")])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{email} signs in");
    client
}

/// A conversation of `guest` on `number`, begun and last active `at`, written straight into the
/// database (no message, no agent); its id.
pub async fn conversation_row(db: &sqlx::AnyPool, number: &str, guest: &str, at: i64) -> String {
    let id = switchboard::new_id();
    sqlx::query(
        "INSERT INTO conversations (id, number_id, guest_address, created_at, last_activity_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(&id)
    .bind(number)
    .bind(guest)
    .bind(at)
    .execute(db)
    .await
    .unwrap();
    id
}

/// Polls `check` until it gives a value or the time runs out.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(Duration::from_secs(15), what, check).await
}

/// The same with a time budget of its own, for waits on a large body of work (a thousand
/// conversations after a restart) where the machine's load decides how long it takes.
pub async fn eventually_within<T, F, Fut>(budget: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + budget;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// Stops the in-process server and its workers (the port is free again after this). A
    /// worker cut off inside a transaction would leave SQLite's write lock held by a pooled
    /// connection, so the pool is closed (rolling back whatever was open) and opened anew.
    pub async fn stop_server(&mut self) {
        self.server.abort();
        while !self.server.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.state.db.pool.close().await;
        self.state = self.state.with_db(switchboard::db::Db::connect(&self.database_url).await.unwrap());
        // As a stopping instance does, it leaves the list of running ones.
        switchboard::instances::gone(&self.state).await;
    }

    /// An HTTP client signed in to the backoffice as this user (password "correct horse battery").
    pub async fn browser(&self, email: &str) -> reqwest::Client {
        signed_in(&self.url, email).await
    }

    /// Downloads an export (`/export/…`) from a signed-in `browser` as the page's link asks for it:
    /// the browser says the request comes from Switchboard's own page.
    pub async fn export(&self, browser: &reqwest::Client, path: &str) -> reqwest::Response {
        browser.get(format!("{}{path}", self.url)).header("Sec-Fetch-Site", "same-origin").send().await.unwrap()
    }

    /// Calls a server function as the page does: `POST /ui/<endpoint>` with the function's
    /// arguments in its own encoding (a form, or JSON where the function takes JSON), from a
    /// browser's session (`client`, from [`Self::browser`]). The function's own struct names the
    /// endpoint and the arguments, so a test drives the route the page drives, with no helper per
    /// endpoint; the answer is decoded as the browser decodes it.
    pub async fn ui<F>(&self, client: &reqwest::Client, call: F) -> Result<F::Output, app::AppError>
    where
        F: ServerFn<Error = app::AppError> + serde::Serialize,
        F::Protocol: InputEncoding,
        F::Output: serde::de::DeserializeOwned,
    {
        let kind = <F::Protocol as InputEncoding>::content_type();
        let body = if kind == "application/json" {
            serde_json::to_string(&call).unwrap()
        } else {
            serde_qs::to_string(&call).unwrap()
        };
        let response = client
            .post(format!("{}{}", self.url, F::PATH))
            .header("Accept", "application/json")
            .header("Content-Type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        if status.is_success() {
            Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} answered {text}: {e}", F::PATH)))
        } else {
            Err(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} answered {status} {text}: {e}", F::PATH)))
        }
    }

    /// The admin `admin()` created, signed in again.
    pub async fn admin_me(&self) -> Me {
        self.state.authenticate("admin@example.com".into(), "correct horse battery".into(), None).await.unwrap()
    }

    pub async fn admin(&self) -> Me {
        self.state
            .setup(SETUP_TOKEN.into(), "Test Org".into(), "admin@example.com".into(), "correct horse battery".into())
            .await
            .unwrap()
    }

    /// A second organization on the instance ("Other Hotels"), its first admin
    /// `other@example.com` (password "correct horse battery").
    pub async fn other_organization(&self) -> Me {
        switchboard::accounts::create_organization(
            &self.state.db,
            "Other Hotels",
            "other@example.com",
            "correct horse battery".into(),
        )
        .await
        .unwrap()
    }

    pub fn connector_input(&self, name: &str) -> ConnectorInput {
        ConnectorInput::new(name, self.account_sid.clone(), TOKEN)
    }

    /// The connector form as the page posts it, for this app's Twilio account.
    pub fn connector_form(&self, name: &str) -> app::connectors::api::CreateConnector {
        app::connectors::api::CreateConnector {
            name: name.into(),
            account_sid: self.account_sid.clone(),
            auth_token: TOKEN.into(),
            receive_inbound: Some("on".into()),
        }
    }

    /// The agent form as the page posts it, with a name and a fallback reply (an FAQ brain).
    pub fn agent_form(name: &str, fallback_reply: &str) -> app::agents::api::CreateAgent {
        app::agents::api::CreateAgent {
            name: name.into(),
            description: String::new(),
            instructions: String::new(),
            welcome_message: String::new(),
            fallback_reply: fallback_reply.into(),
            faq: String::new(),
            brain: String::new(),
            brain_url: String::new(),
            llm_model: String::new(),
            llm_api_key: String::new(),
            timeout_secs: String::new(),
        }
    }

    /// The agent form `form`, with `brain` chosen and its fields filled in as a person types them
    /// (no API key typed for `api_key: None`).
    pub fn with_brain(form: app::agents::api::CreateAgent, brain: BrainInput) -> app::agents::api::CreateAgent {
        let (kind, brain_url, llm_model, llm_api_key, timeout_secs) = match brain {
            BrainInput::Faq => ("faq", String::new(), String::new(), None, None),
            BrainInput::OpenAi { base_url, model, api_key, timeout_secs } => {
                ("openai", base_url, model, api_key, timeout_secs)
            }
            BrainInput::Hook { url, timeout_secs } => ("hook", url, String::new(), None, timeout_secs),
        };
        app::agents::api::CreateAgent {
            brain: kind.into(),
            brain_url,
            llm_model,
            llm_api_key: llm_api_key.unwrap_or_default(),
            timeout_secs: timeout_secs.map(|t| t.to_string()).unwrap_or_default(),
            ..form
        }
    }

    /// The same form, posted from agent `id`'s edit page.
    pub fn edit_form(id: &str, f: app::agents::api::CreateAgent) -> app::agents::api::UpdateAgent {
        app::agents::api::UpdateAgent {
            id: id.into(),
            name: f.name,
            description: f.description,
            instructions: f.instructions,
            welcome_message: f.welcome_message,
            fallback_reply: f.fallback_reply,
            faq: f.faq,
            brain: f.brain,
            brain_url: f.brain_url,
            llm_model: f.llm_model,
            llm_api_key: f.llm_api_key,
            timeout_secs: f.timeout_secs,
        }
    }

    pub fn number<'a>(rows: &'a [NumberRow], phone: &str, whatsapp: bool) -> &'a NumberRow {
        rows.iter()
            .find(|r| r.phone_number == phone && (r.provider == app::connectors::Provider::WhatsApp) == whatsapp)
            .unwrap_or_else(|| panic!("number {phone} listed"))
    }

    /// Connector → activate the WhatsApp number +14155550100 → set webhook → agent → channel.
    /// Returns (admin, connector id, number id, agent id).
    pub async fn ready_path(&self) -> (Me, String, String, String) {
        let me = self.admin().await;
        let connector = self.state.create_connector(&me, self.connector_input("Front Desk")).await.unwrap();
        let rows = self.state.list_numbers(&me, &connector.id).await.unwrap();
        let number = Self::number(&rows, "+14155550100", true).id.clone();
        self.state.save_numbers(&me, &connector.id, vec![number.clone()], false).await.unwrap();
        let outcome = self.state.set_webhook(&me, &connector.id, &number).await.unwrap();
        assert_eq!(outcome.state, app::connectors::WebhookState::Configured, "{outcome:?}");
        let agent = self
            .state
            .create_agent(
                &me,
                AgentInput {
                    name: "concierge".into(),
                    fallback_reply: "A colleague will answer soon.".into(),
                    faq: vec![app::agents::FaqEntry {
                        question: "When is breakfast?".into(),
                        answer: "Breakfast is from 7 to 10.".into(),
                    }],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        self.state.add_channel(&me, &agent.id, &number).await.unwrap();
        (me, connector.id, number, agent.id)
    }

    pub async fn webhook_key(&self, connector_id: &str) -> String {
        let (key,): (String,) = sqlx::query_as("SELECT webhook_key FROM connectors WHERE id = $1")
            .bind(connector_id)
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap();
        key
    }

    /// The replies the simulator received through its Messages API, to one guest.
    pub fn replies_to(&self, guest: &str) -> Vec<twilio_sim::Message> {
        self.sim.sim.messages().into_iter().filter(|m| m.direction == "outbound-api" && m.to == guest).collect()
    }
}
