//! A stateful stand-in for Twilio, for Switchboard's demo and tests.
//!
//! It serves the part of Twilio's REST API that Switchboard uses (paths, encodings and bodies
//! as in Twilio's OpenAPI specs), checks Basic auth like Twilio, applies WhatsApp sender
//! updates asynchronously, signs the webhooks it sends exactly as Twilio does, and has a
//! "phone" page where a tester writes to a number as a guest.

pub mod mail;
mod pages;
mod rest;
mod webhooks;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    routing::{get, post},
    Router,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// Accounts and numbers the simulator starts with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seed {
    pub accounts: Vec<SeedAccount>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedAccount {
    pub sid: String,
    pub auth_token: String,
    #[serde(default = "default_friendly_name")]
    pub friendly_name: String,
    /// `Full` or `Trial`.
    #[serde(default = "default_kind", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub numbers: Vec<SeedNumber>,
    /// Content API templates with their WhatsApp approval status.
    #[serde(default)]
    pub templates: Vec<SeedTemplate>,
    /// Messaging Services and the numbers in them.
    #[serde(default)]
    pub services: Vec<SeedService>,
    /// The WhatsApp sandbox's join keyword (`join <keyword>`); generated when absent.
    #[serde(default)]
    pub sandbox_keyword: Option<String>,
}

/// A Messaging Service. Its inbound settings win over its numbers' own webhooks unless
/// `use_inbound_webhook_on_number` is set, as in Twilio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedService {
    pub friendly_name: String,
    #[serde(default)]
    pub inbound_request_url: Option<String>,
    #[serde(default)]
    pub use_inbound_webhook_on_number: bool,
    /// Phone numbers (E.164) in the service: both the sender and the SMS number of each.
    #[serde(default)]
    pub numbers: Vec<String>,
}

/// The number of Twilio's WhatsApp sandbox, shared by every account.
pub const SANDBOX_NUMBER: &str = "whatsapp:+14155238886";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedTemplate {
    /// `HX` and 32 hex digits; generated when absent.
    #[serde(default)]
    pub sid: Option<String>,
    pub friendly_name: String,
    #[serde(default = "english")]
    pub language: String,
    /// The `twilio/text` body, with `{{1}}`-style placeholders.
    pub body: String,
    /// WhatsApp approval: `approved`, `pending`, `rejected`, …
    #[serde(default = "approved")]
    pub status: String,
}

fn english() -> String {
    "en".into()
}
fn approved() -> String {
    "approved".into()
}

fn default_friendly_name() -> String {
    "My first Twilio account".into()
}
fn default_kind() -> String {
    "Full".into()
}
fn yes() -> bool {
    true
}
fn online() -> String {
    "ONLINE".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedNumber {
    /// E.164, e.g. +14155550100.
    pub phone_number: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Registered as a WhatsApp sender.
    #[serde(default = "yes")]
    pub whatsapp: bool,
    /// Listed as an SMS-capable IncomingPhoneNumber.
    #[serde(default)]
    pub sms: bool,
    #[serde(default = "online")]
    pub sender_status: String,
}

impl Seed {
    /// The demo: one account with two WhatsApp senders (one also an SMS number) and an SMS number.
    pub fn demo() -> Self {
        Seed {
            accounts: vec![SeedAccount {
                sid: "AC0123456789abcdef0123456789abcdef".into(),
                auth_token: "fedcba9876543210fedcba9876543210".into(),
                friendly_name: "Demo Hotels".into(),
                kind: "Full".into(),
                numbers: vec![
                    SeedNumber {
                        phone_number: "+14155550100".into(),
                        display_name: Some("Hotel Front Desk".into()),
                        whatsapp: true,
                        sms: true,
                        sender_status: "ONLINE".into(),
                    },
                    SeedNumber {
                        phone_number: "+14155550101".into(),
                        display_name: Some("Hotel Spa".into()),
                        whatsapp: true,
                        sms: false,
                        sender_status: "ONLINE".into(),
                    },
                    SeedNumber {
                        phone_number: "+14155550199".into(),
                        display_name: Some("Reception SMS".into()),
                        whatsapp: false,
                        sms: true,
                        sender_status: "ONLINE".into(),
                    },
                ],
                templates: vec![
                    SeedTemplate {
                        sid: Some("HX9a8b7c6d5e4f30211203f4e5d6c7b8a9".into()),
                        friendly_name: "follow_up".into(),
                        language: "en".into(),
                        body: "Hello {{1}}, we have news about your question. Reply to this message to continue."
                            .into(),
                        status: "approved".into(),
                    },
                    SeedTemplate {
                        sid: Some("HX5c1e0a7b9d2f4e6a8b0c2d4f6a8b0c2d".into()),
                        friendly_name: "spring_promo".into(),
                        language: "en".into(),
                        body: "Spring offer: 20% off spa treatments!".into(),
                        status: "rejected".into(),
                    },
                ],
                services: vec![],
                sandbox_keyword: Some("silver-tiger".into()),
            }],
        }
    }
}

/// Timings of the simulated Twilio.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a sender update stays ONLINE:UPDATING before it is applied.
    pub sender_update_delay: Duration,
    /// The pause between the status callbacks of a sent message.
    pub status_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { sender_update_delay: Duration::from_millis(400), status_delay: Duration::from_millis(300) }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub callback_url: Option<String>,
    pub callback_method: String,
    pub fallback_url: Option<String>,
    pub fallback_method: String,
    pub status_callback_url: Option<String>,
    pub status_callback_method: String,
}

impl Default for Webhook {
    fn default() -> Self {
        Self {
            callback_url: None,
            callback_method: "POST".into(),
            fallback_url: None,
            fallback_method: "POST".into(),
            status_callback_url: None,
            status_callback_method: "POST".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Sender {
    pub sid: String,
    pub sender_id: String,
    pub status: String,
    pub display_name: Option<String>,
    pub webhook: Webhook,
}

#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub sms: bool,
    pub sms_url: String,
    pub sms_method: String,
    pub sms_application_sid: String,
    pub created: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub sid: String,
    pub seed: SeedService,
}

/// The account's view of the WhatsApp sandbox: who joined, and the webhook set in the Console.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sandbox {
    pub keyword: String,
    pub webhook_url: Option<String>,
    pub members: Vec<String>,
}

/// Content created through the Content API (`POST /v1/Content`): session content such as quick
/// replies and list pickers, sent inside a guest's 24-hour window without approval.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub sid: String,
    pub friendly_name: String,
    pub language: String,
    pub types: serde_json::Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub services: Vec<Service>,
    pub sandbox: Sandbox,
    pub templates: Vec<SeedTemplate>,
    pub contents: Vec<Content>,
    pub sid: String,
    pub auth_token: String,
    pub friendly_name: String,
    pub kind: String,
    pub senders: Vec<Sender>,
    pub numbers: Vec<Number>,
    pub created: String,
}

/// A message the simulator has seen: a guest's (inbound) or one sent through the API.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub sid: String,
    pub account_sid: String,
    /// `inbound` or `outbound-api`, as Twilio names them.
    pub direction: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub status: String,
    pub status_callback: Option<String>,
    /// For inbound messages: where the webhook went and what it answered.
    pub webhook_url: Option<String>,
    pub webhook_status: Option<u16>,
    pub error: Option<String>,
    pub created_ms: i64,
    /// For outbound messages with `MediaUrl`: what fetching it gave, as Twilio fetches it
    /// before sending: (HTTP status, content type, bytes).
    pub media: Option<(u16, String, usize)>,
    /// For outbound messages sent as created content (`ContentSid`): its `types`, e.g. a
    /// `twilio/quick-reply` with its buttons.
    pub content: Option<serde_json::Value>,
}

#[derive(Default)]
pub(crate) struct World {
    pub accounts: BTreeMap<String, Account>,
    pub messages: Vec<Message>,
    pub attempts: Vec<SendAttempt>,
    pub faults: Faults,
    /// The generator of fault rolls when the faults carry a seed.
    pub rolls: Option<rand::rngs::StdRng>,
    /// Files guests sent, by media SID: (account SID, file).
    pub media: BTreeMap<String, (String, webhooks::MediaFile)>,
    /// How many times each file was fetched from the simulated CDN.
    pub media_fetches: BTreeMap<String, usize>,
    /// Every call to the REST API, for contract tests.
    pub requests: Vec<RecordedRequest>,
    /// Emails received over SMTP.
    pub mails: Vec<mail::Mail>,
}

/// One call to the simulated REST API, as it arrived.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Clone)]
pub struct Sim {
    pub(crate) world: Arc<Mutex<World>>,
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Arc<str>,
    pub(crate) options: Options,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A Twilio-style SID: two letters and 32 hex digits.
pub(crate) fn sid(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// RFC 2822 dates, as Twilio's 2010 API writes them.
pub(crate) fn rfc2822_now() -> String {
    rfc2822(now_ms())
}

pub(crate) fn rfc2822(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Failures the simulator injects, as Twilio has them on a bad day. Rates are shares of 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Faults {
    /// With a seed, the rolls that choose which Create Message calls fail come from a generator
    /// seeded with it: the same faults in the same order on every run, so a test that needs one
    /// of each kind always gets it. Without, they are random.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Create Message answered 500 without creating the message.
    #[serde(default)]
    pub fail_rate: f64,
    /// Create Message answered 429 (code 20429) with `Retry-After`.
    #[serde(default)]
    pub throttle_rate: f64,
    /// Create Message creates the message and still answers 500: the client cannot know.
    #[serde(default)]
    pub phantom_rate: f64,
    /// Create Message has its connection cut before any answer, without creating the message.
    #[serde(default)]
    pub reset_rate: f64,
    /// Seconds in the `Retry-After` of a 429.
    #[serde(default)]
    pub retry_after_secs: u64,
    /// Delay before Create Message answers, in milliseconds.
    #[serde(default)]
    pub slow_ms: u64,
    /// Each inbound webhook is delivered twice.
    #[serde(default)]
    pub duplicate_webhooks: bool,
    /// Status callbacks go out in a shuffled order.
    #[serde(default)]
    pub shuffle_status: bool,
    /// Each status callback is posted twice at once.
    #[serde(default)]
    pub duplicate_status: bool,
    /// The status every sent message ends in instead of delivered/read, with `error_code`
    /// (e.g. `undelivered` with 63016).
    #[serde(default)]
    pub final_status: Option<String>,
    #[serde(default)]
    pub error_code: Option<u32>,
    /// Create Message answered 400 with this Twilio error code (a permanent failure).
    #[serde(default)]
    pub reject_code: Option<u32>,
    /// Only messages whose body contains this text are rejected with `reject_code`.
    #[serde(default)]
    pub reject_matching: Option<String>,
    /// Extra delay before each status callback of a sent message, in milliseconds.
    #[serde(default)]
    pub status_delay_ms: u64,
    /// Twilio is down: every REST call has its connection cut before an answer.
    #[serde(default)]
    pub outage: bool,
    /// Delay before the CDN answers a media file, in milliseconds (a slow download).
    #[serde(default)]
    pub media_delay_ms: u64,
}

/// One call to Create Message and how the simulator answered it.
#[derive(Debug, Clone, Serialize)]
pub struct SendAttempt {
    pub to: String,
    pub from: String,
    pub at_ms: i64,
    /// The same moment in microseconds, for latency measurements.
    pub at_us: i64,
    /// The HTTP status answered; 0 when the connection was cut without one.
    pub status: u16,
}

impl Sim {
    pub fn add_account(&self, seed: &SeedAccount) {
        let senders = seed
            .numbers
            .iter()
            .filter(|n| n.whatsapp)
            .map(|n| Sender {
                sid: sid("XE"),
                sender_id: format!("whatsapp:{}", n.phone_number),
                status: n.sender_status.clone(),
                display_name: n.display_name.clone(),
                webhook: Webhook::default(),
            })
            .collect();
        let numbers = seed
            .numbers
            .iter()
            .map(|n| Number {
                sid: sid("PN"),
                phone_number: n.phone_number.clone(),
                friendly_name: n.display_name.clone().unwrap_or_else(|| n.phone_number.clone()),
                sms: n.sms,
                sms_url: String::new(),
                sms_method: "POST".into(),
                sms_application_sid: String::new(),
                created: rfc2822_now(),
            })
            .collect();
        let templates = seed
            .templates
            .iter()
            .map(|t| SeedTemplate { sid: Some(t.sid.clone().unwrap_or_else(|| sid("HX"))), ..t.clone() })
            .collect();
        let services = seed.services.iter().map(|s| Service { sid: sid("MG"), seed: s.clone() }).collect();
        let keyword = seed.sandbox_keyword.clone().unwrap_or_else(|| {
            let words = ["amber", "cedar", "harbor", "meadow", "silver", "tiger", "willow", "zephyr"];
            let mut rng = rand::thread_rng();
            format!("{}-{}", words[rng.gen_range(0..words.len())], words[rng.gen_range(0..words.len())])
        });
        let account = Account {
            services,
            sandbox: Sandbox { keyword, ..Sandbox::default() },
            templates,
            contents: Vec::new(),
            sid: seed.sid.clone(),
            auth_token: seed.auth_token.clone(),
            friendly_name: seed.friendly_name.clone(),
            kind: seed.kind.clone(),
            senders,
            numbers,
            created: rfc2822_now(),
        };
        self.world.lock().unwrap().accounts.insert(seed.sid.clone(), account);
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut world = self.world.lock().unwrap();
        world.rolls = faults.seed.map(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64);
        world.faults = faults;
    }

    /// Every Create Message call so far, in order.
    pub fn send_attempts(&self) -> Vec<SendAttempt> {
        self.world.lock().unwrap().attempts.clone()
    }

    /// How many Create Message calls there have been.
    pub fn send_attempt_count(&self) -> usize {
        self.world.lock().unwrap().attempts.len()
    }

    /// The Create Message calls from the `start`th on: what a caller that polls has not seen
    /// yet, without copying (and holding the simulator's lock over) everything before it.
    pub fn send_attempts_since(&self, start: usize) -> Vec<SendAttempt> {
        let world = self.world.lock().unwrap();
        world.attempts.get(start..).map(<[SendAttempt]>::to_vec).unwrap_or_default()
    }

    pub fn messages(&self) -> Vec<Message> {
        self.world.lock().unwrap().messages.clone()
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The webhook currently configured on a WhatsApp sender, by its number (`whatsapp:+…`).
    pub fn sender_webhook(&self, sender_id: &str) -> Option<Webhook> {
        let world = self.world.lock().unwrap();
        world
            .accounts
            .values()
            .flat_map(|a| a.senders.iter())
            .find(|s| s.sender_id == sender_id)
            .map(|s| s.webhook.clone())
    }

    /// Changes an account's Auth Token, as its owner would in the Twilio Console; the old one
    /// stops working at once.
    pub fn set_auth_token(&self, account_sid: &str, auth_token: &str) {
        if let Some(account) = self.world.lock().unwrap().accounts.get_mut(account_sid) {
            account.auth_token = auth_token.to_string();
        }
    }

    /// Someone points a sender's inbound webhook elsewhere (in the Console), at once.
    pub fn set_sender_webhook(&self, sender_id: &str, url: Option<&str>) {
        let mut world = self.world.lock().unwrap();
        for a in world.accounts.values_mut() {
            for s in a.senders.iter_mut().filter(|s| s.sender_id == sender_id) {
                s.webhook.callback_url = url.map(str::to_string);
            }
        }
    }

    /// An SMS number's inbound webhook URL (empty when none).
    pub fn sms_url(&self, phone_number: &str) -> Option<String> {
        let world = self.world.lock().unwrap();
        world
            .accounts
            .values()
            .flat_map(|a| a.numbers.iter())
            .find(|n| n.phone_number == phone_number)
            .map(|n| n.sms_url.clone())
    }

    /// Adds a Messaging Service to an account.
    pub fn add_service(&self, account_sid: &str, service: SeedService) {
        if let Some(a) = self.world.lock().unwrap().accounts.get_mut(account_sid) {
            a.services.push(Service { sid: sid("MG"), seed: service });
        }
    }

    /// The sandbox's "When a message comes in" URL, as set in the Twilio Console.
    pub fn set_sandbox_webhook(&self, account_sid: &str, url: Option<&str>) {
        if let Some(a) = self.world.lock().unwrap().accounts.get_mut(account_sid) {
            a.sandbox.webhook_url = url.map(str::to_string);
        }
    }

    /// The sandbox's join keyword for an account.
    pub fn sandbox_keyword(&self, account_sid: &str) -> Option<String> {
        self.world.lock().unwrap().accounts.get(account_sid).map(|a| a.sandbox.keyword.clone())
    }

    /// Every REST API call so far, in order.
    pub fn mails(&self) -> Vec<mail::Mail> {
        self.world.lock().unwrap().mails.clone()
    }

    /// Receives email over SMTP on `listener` (for the codes of `/login`).
    pub fn serve_smtp(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        tokio::spawn(mail::serve(self.clone(), listener))
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.world.lock().unwrap().requests.clone()
    }

    /// How many times each media file was downloaded, by media SID.
    pub fn media_fetches(&self) -> BTreeMap<String, usize> {
        self.world.lock().unwrap().media_fetches.clone()
    }

    /// A guest writes to one of the simulated numbers; see [`webhooks::Inbound`].
    pub async fn guest_message(&self, inbound: webhooks::Inbound) -> Result<webhooks::Delivery, String> {
        webhooks::deliver_inbound(self, inbound).await
    }
}

pub use webhooks::{ogg_page, sign, Delivery, Inbound, MediaFile, Place, Tap};

/// A running simulator.
pub struct Handle {
    pub sim: Sim,
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl Handle {
    pub fn url(&self) -> String {
        self.sim.base_url.to_string()
    }
}

/// Starts the simulator on `listener`; `public_url` is the base of its absolute page URLs
/// (defaults to http://<listener address>).
pub async fn start(
    listener: TcpListener,
    seed: Seed,
    options: Options,
    public_url: Option<String>,
) -> std::io::Result<Handle> {
    let addr = listener.local_addr()?;
    let base_url: Arc<str> = public_url.unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').into();
    let sim = Sim {
        world: Arc::default(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("static client settings"),
        base_url,
        options,
    };
    for account in &seed.accounts {
        sim.add_account(account);
    }
    let app = router(sim.clone());
    let task = tokio::spawn(async move {
        // Built once, not for every connection (axum rebuilds a `Router` served as it is).
        if let Err(e) = axum::serve(listener, app.with_state(()).into_make_service()).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(Handle { sim, addr, task })
}

fn router(sim: Sim) -> Router {
    let api = Router::new()
        .route("/2010-04-01/Accounts/{file}", get(rest::fetch_account))
        .route("/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json", get(rest::list_numbers))
        .route(
            "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{file}",
            get(rest::fetch_number).post(rest::update_number),
        )
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(rest::create_message).get(rest::list_messages))
        .route("/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}", get(rest::fetch_media))
        .route("/v2/Channels/Senders", get(rest::list_senders))
        .route("/v2/Channels/Senders/{sid}", get(rest::fetch_sender).post(rest::update_sender))
        .route("/v2/Indicators/Typing.json", post(rest::typing))
        .route("/v1/ContentAndApprovals", get(rest::content_and_approvals))
        .route("/v1/Content", post(rest::create_content))
        .route("/v1/Services", get(rest::list_services))
        .route("/v1/Services/{service}/PhoneNumbers/{sid}", get(rest::service_member))
        .route("/v1/Services/{service}/ChannelSenders/{sid}", get(rest::service_member))
        .layer(axum::middleware::from_fn_with_state(sim.clone(), rest::record));
    Router::new()
        .route("/", get(pages::phone))
        .route("/phone/send", post(pages::send))
        .route("/_sim/inbound", post(pages::api_inbound))
        .route("/_sim/messages", get(pages::api_messages))
        .route("/_sim/mail", get(pages::api_mail))
        .route("/_sim/accounts", post(pages::api_add_account))
        .route("/_sim/faults", post(pages::api_faults))
        .route("/_sim/sandbox", post(pages::api_sandbox))
        .route("/phone/sandbox", post(pages::sandbox_form))
        .route("/_sim/llm/v1/chat/completions", post(pages::llm_completions))
        .route("/_sim/llm/v1/audio/transcriptions", post(pages::transcriptions))
        .route("/_sim/hook", post(pages::demo_hook))
        .route("/_sim/cdn/{media}", get(rest::cdn_media))
        .merge(api)
        .with_state(sim)
}
