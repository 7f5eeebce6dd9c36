//! Twilio's REST API, the subset Switchboard uses, with base URLs that point at the real
//! Twilio in production and at the simulator in demos and tests.

pub mod errors;
pub mod signature;
pub mod status;

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use crate::crypto::Secret;

/// An Account SID: `AC` and 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSid(String);

impl AccountSid {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        let valid = s.len() == 34 && s.starts_with("AC") && s[2..].chars().all(|c| c.is_ascii_hexdigit());
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err("An Account SID is AC followed by 32 hexadecimal characters.")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the Auth Token's form (32 hex digits) and wraps it as a secret.
pub fn parse_auth_token(s: &str) -> Result<Secret, &'static str> {
    let s = s.trim();
    if s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(Secret::new(s))
    } else {
        Err("An Auth Token is 32 hexadecimal characters.")
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub account_sid: AccountSid,
    pub auth_token: Secret,
}

/// What went wrong talking to Twilio. Failures are data: each knows whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    #[error("Twilio rejected these credentials")]
    Rejected { code: Option<i64>, message: String },
    #[error("Twilio unreachable: {0}")]
    Unreachable(String),
    #[error("Twilio error {}: {message}", code.map(|c| c.to_string()).unwrap_or_else(|| status.to_string()))]
    Api { status: u16, code: Option<i64>, message: String, retry_after: Option<Duration> },
    #[error("unexpected answer from Twilio: {0}")]
    Decode(String),
}

impl TwilioError {
    /// Whether the same request may succeed later: 429 and 20429, 5xx, and network failures.
    pub fn retryable(&self) -> bool {
        match self {
            TwilioError::Unreachable(_) => true,
            TwilioError::Api { status, code, .. } => *status == 429 || *status >= 500 || *code == Some(20429),
            TwilioError::Rejected { .. } | TwilioError::Decode(_) => false,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            TwilioError::Rejected { code, .. } | TwilioError::Api { code, .. } => *code,
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TwilioError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A downloaded media file.
pub struct Media {
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("not a Twilio media URL; the account's credentials are only sent to Twilio")]
    NotTwilio,
    #[error("larger than the 25 MB Switchboard accepts")]
    TooLarge,
    #[error(transparent)]
    Twilio(#[from] TwilioError),
}

impl MediaError {
    pub fn retryable(&self) -> bool {
        matches!(self, MediaError::Twilio(e) if e.retryable())
    }
}

/// Both error shapes Twilio uses: the legacy `{code, message}` and RFC 9457 `{code, title, detail}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
    detail: Option<String>,
    title: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub sid: String,
    pub friendly_name: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    // `auth_token` is in Twilio's answer too; it is deliberately not read.
}

#[derive(Debug, Clone, Deserialize)]
pub struct IncomingNumber {
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
    pub sms_url: Option<String>,
    pub sms_method: Option<String>,
    pub sms_application_sid: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub sms: bool,
}

#[derive(Deserialize)]
struct IncomingNumbersPage {
    incoming_phone_numbers: Vec<IncomingNumber>,
    next_page_uri: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SenderWebhook {
    pub callback_url: Option<String>,
    pub callback_method: Option<String>,
    pub fallback_url: Option<String>,
    pub fallback_method: Option<String>,
    pub status_callback_url: Option<String>,
    pub status_callback_method: Option<String>,
}

/// The fields of a sender's `webhook` to write. `None` leaves a field as Twilio has it (a
/// customer's fallback URL is theirs); `Some(None)` clears it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct WebhookUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_callback_url: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_callback_method: Option<&'static str>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SenderProfile {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sender {
    pub sid: String,
    pub status: Option<String>,
    pub sender_id: String,
    pub webhook: Option<SenderWebhook>,
    pub profile: Option<SenderProfile>,
}

/// A Messaging Service, as far as its inbound settings go.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagingService {
    pub sid: String,
    pub friendly_name: Option<String>,
    pub inbound_request_url: Option<String>,
    /// When true, each number's own webhook wins over the service's.
    pub use_inbound_webhook_on_number: Option<bool>,
}

#[derive(Deserialize)]
struct ServicesPage {
    services: Vec<MessagingService>,
    meta: PageMeta,
}

#[derive(Deserialize)]
struct SendersPage {
    senders: Vec<Sender>,
    meta: PageMeta,
}

#[derive(Deserialize)]
struct PageMeta {
    next_page_url: Option<String>,
}

/// One page of a Twilio list: its items and where the next page is (absolute for the Messaging
/// and Content APIs' `meta.next_page_url`, relative for v2010's `next_page_uri`).
trait Page: serde::de::DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

impl Page for IncomingNumbersPage {
    type Item = IncomingNumber;
    fn into_parts(self) -> (Vec<IncomingNumber>, Option<String>) {
        (self.incoming_phone_numbers, self.next_page_uri)
    }
}

impl Page for SendersPage {
    type Item = Sender;
    fn into_parts(self) -> (Vec<Sender>, Option<String>) {
        (self.senders, self.meta.next_page_url)
    }
}

impl Page for ServicesPage {
    type Item = MessagingService;
    fn into_parts(self) -> (Vec<MessagingService>, Option<String>) {
        (self.services, self.meta.next_page_url)
    }
}

impl Page for ContentPage {
    type Item = RawContent;
    fn into_parts(self) -> (Vec<RawContent>, Option<String>) {
        (self.contents, self.meta.next_page_url)
    }
}

/// The form of `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: free text (`Body`) or
/// an approved template (`ContentSid` and `ContentVariables`, a JSON string).
#[derive(Debug, Clone, Serialize)]
pub struct NewMessage {
    #[serde(rename = "To")]
    pub to: String,
    #[serde(rename = "From")]
    pub from: String,
    #[serde(rename = "Body", skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(rename = "ContentSid", skip_serializing_if = "Option::is_none")]
    pub content_sid: Option<String>,
    #[serde(rename = "ContentVariables", skip_serializing_if = "Option::is_none")]
    pub content_variables: Option<String>,
    #[serde(rename = "StatusCallback", skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    /// One file, fetched by Twilio from this URL (WhatsApp takes one per message).
    #[serde(rename = "MediaUrl", skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageResource {
    pub sid: String,
    pub status: String,
}

/// A message as Twilio's Messages list shows it.
#[derive(Debug, Clone)]
pub struct ListedMessage {
    pub sid: String,
    pub status: String,
    pub body: Option<String>,
    /// `date_created`, when Twilio gave one that parses.
    pub created_ms: Option<i64>,
}

#[derive(Deserialize)]
struct MessagesPage {
    messages: Vec<RawListedMessage>,
}

#[derive(Deserialize)]
struct RawListedMessage {
    sid: String,
    status: String,
    body: Option<String>,
    date_created: Option<String>,
}

/// Parses Twilio's RFC 2822 dates (`Sat, 21 Nov 2026 12:00:00 +0000`) to Unix milliseconds.
pub fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.split_once(", ").map_or(s, |(_, rest)| rest);
    let mut parts = s.split_whitespace();
    let day: i64 = parts.next()?.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| Some(*m) == parts.clone().next())? as i64
        + 1;
    parts.next();
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next().flatten().unwrap_or(0));
    let zone = parts.next().unwrap_or("+0000");
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits = zone.trim_start_matches(['+', '-']);
    let offset_min = digits.get(..2)?.parse::<i64>().ok()? * 60 + digits.get(2..4)?.parse::<i64>().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + m * 60 + sec) - sign * offset_min * 60) * 1000)
}

/// A Content API template with its WhatsApp approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub sid: String,
    pub friendly_name: String,
    pub language: Option<String>,
    /// The text of its `twilio/text` (or first) type, with `{{1}}`-style placeholders.
    pub body: Option<String>,
    /// WhatsApp's approval status: `approved`, `pending`, `rejected`, … (`unsubmitted` when none).
    pub whatsapp_status: String,
}

#[derive(Deserialize)]
struct ContentPage {
    contents: Vec<RawContent>,
    meta: PageMeta,
}

#[derive(Deserialize)]
struct RawContent {
    sid: String,
    friendly_name: Option<String>,
    language: Option<String>,
    #[serde(default)]
    types: serde_json::Value,
    #[serde(default)]
    approval_requests: serde_json::Value,
}

#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    api_base: Arc<str>,
    messaging_base: Arc<str>,
    content_base: Arc<str>,
}

impl TwilioClient {
    pub fn new(api_base: &str, messaging_base: &str, content_base: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self {
            http,
            api_base: api_base.trim_end_matches('/').into(),
            messaging_base: messaging_base.trim_end_matches('/').into(),
            content_base: content_base.trim_end_matches('/').into(),
        }
    }

    /// Every template of the account with its WhatsApp approval (Content API
    /// `ContentAndApprovals`), following `meta.next_page_url` to the end.
    pub async fn list_templates(&self, creds: &Credentials) -> Result<Vec<Template>, TwilioError> {
        let first = format!("{}/v1/ContentAndApprovals?PageSize=100", self.content_base);
        let contents: Vec<RawContent> = self.all_pages::<ContentPage>(creds, &self.content_base, first).await?;
        Ok(contents
            .into_iter()
            .map(|c| {
                let body = c
                    .types
                    .get("twilio/text")
                    .or_else(|| c.types.as_object().and_then(|o| o.values().next()))
                    .and_then(|t| t.get("body"))
                    .and_then(|b| b.as_str())
                    .map(str::to_string);
                let whatsapp = c.approval_requests.get("whatsapp").unwrap_or(&c.approval_requests);
                Template {
                    sid: c.sid,
                    friendly_name: c.friendly_name.unwrap_or_default(),
                    language: c.language,
                    body,
                    whatsapp_status: whatsapp
                        .get("status")
                        .and_then(|s| s.as_str())
                        .unwrap_or("unsubmitted")
                        .to_string(),
                }
            })
            .collect())
    }

    /// Every item of a list, following its pages to the end; the next-page URLs Twilio gives
    /// are re-based on the configured host, so the credentials go nowhere else.
    async fn all_pages<P: Page>(
        &self,
        creds: &Credentials,
        base: &str,
        first: String,
    ) -> Result<Vec<P::Item>, TwilioError> {
        let mut url = first;
        let mut all = Vec::new();
        loop {
            let page: P = self.send(self.request(reqwest::Method::GET, &url, creds)).await?;
            let (items, next) = page.into_parts();
            all.extend(items);
            match next.filter(|u| !u.is_empty()) {
                Some(next) => url = on_base(base, &next),
                None => return Ok(all),
            }
        }
    }

    fn request(&self, method: reqwest::Method, url: &str, creds: &Credentials) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(creds.account_sid.as_str(), Some(creds.auth_token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, TwilioError> {
        let resp = req.send().await.map_err(|e| TwilioError::Unreachable(without_url(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|e| TwilioError::Unreachable(without_url(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| TwilioError::Decode(e.to_string()));
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let code = body.as_ref().and_then(|b| b.code);
        let message = body
            .and_then(|b| b.message.or(b.detail).or(b.title))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        if status.as_u16() == 401 || code == Some(20003) {
            return Err(TwilioError::Rejected { code, message });
        }
        Err(TwilioError::Api { status: status.as_u16(), code, message, retry_after })
    }

    /// A file a guest sent (`MediaUrl{N}` of an inbound message), at most `max_bytes`. The
    /// credentials go only to Twilio's API host (the configured base): a URL anywhere else is
    /// refused. Twilio answers with a redirect to its CDN, which is followed without them.
    pub async fn download_media(&self, creds: &Credentials, url: &str, max_bytes: u64) -> Result<Media, MediaError> {
        let same_origin = |a: &url::Url, b: &url::Url| {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
        };
        let api = url::Url::parse(&self.api_base).map_err(|_| MediaError::NotTwilio)?;
        let target = url::Url::parse(url).map_err(|_| MediaError::NotTwilio)?;
        if !same_origin(&api, &target) || !target.path().starts_with("/2010-04-01/Accounts/") {
            return Err(MediaError::NotTwilio);
        }
        let mut resp = self
            .http
            .get(target)
            .basic_auth(creds.account_sid.as_str(), Some(creds.auth_token.expose()))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| TwilioError::Unreachable(without_url(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let message = status.canonical_reason().unwrap_or("error").to_string();
            return Err(MediaError::Twilio(match status.as_u16() {
                401 => TwilioError::Rejected { code: None, message },
                s => TwilioError::Api { status: s, code: None, message, retry_after: None },
            }));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge);
        }
        let content_type =
            resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| TwilioError::Unreachable(without_url(&e)))? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(MediaError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Media { content_type, bytes })
    }

    /// `GET /2010-04-01/Accounts/{Sid}.json`: proves the credentials.
    pub async fn fetch_account(&self, creds: &Credentials) -> Result<Account, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}.json", self.api_base, creds.account_sid.as_str());
        self.send(self.request(reqwest::Method::GET, &url, creds)).await
    }

    /// Every IncomingPhoneNumber of the account, following `next_page_uri` to the end.
    pub async fn list_incoming_numbers(&self, creds: &Credentials) -> Result<Vec<IncomingNumber>, TwilioError> {
        let first = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json?PageSize=100",
            self.api_base,
            creds.account_sid.as_str()
        );
        self.all_pages::<IncomingNumbersPage>(creds, &self.api_base, first).await
    }

    /// Every WhatsApp sender of the account, following `meta.next_page_url` to the end.
    pub async fn list_whatsapp_senders(&self, creds: &Credentials) -> Result<Vec<Sender>, TwilioError> {
        let first = format!("{}/v2/Channels/Senders?Channel=whatsapp&PageSize=100", self.messaging_base);
        self.all_pages::<SendersPage>(creds, &self.messaging_base, first).await
    }

    pub async fn fetch_sender(&self, creds: &Credentials, sid: &str) -> Result<Sender, TwilioError> {
        let url = format!("{}/v2/Channels/Senders/{}", self.messaging_base, sid);
        self.send(self.request(reqwest::Method::GET, &url, creds)).await
    }

    /// Writes only the `webhook` object of a sender (JSON body), and in it only the fields
    /// given; Twilio applies it asynchronously (202).
    pub async fn update_sender_webhook(
        &self,
        creds: &Credentials,
        sid: &str,
        webhook: &WebhookUpdate,
    ) -> Result<Sender, TwilioError> {
        let url = format!("{}/v2/Channels/Senders/{}", self.messaging_base, sid);
        #[derive(Serialize)]
        struct Body<'a> {
            webhook: &'a WebhookUpdate,
        }
        self.send(self.request(reqwest::Method::POST, &url, creds).json(&Body { webhook })).await
    }

    pub async fn fetch_incoming_number(&self, creds: &Credentials, sid: &str) -> Result<IncomingNumber, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            self.api_base,
            creds.account_sid.as_str(),
            sid
        );
        self.send(self.request(reqwest::Method::GET, &url, creds)).await
    }

    /// Points an SMS number's inbound webhook at `sms_url`. An application on the number
    /// (`SmsApplicationSid`) would still take precedence; the spec gives no valid value to clear
    /// it with, and it is the customer's, so the read-back names it instead.
    pub async fn update_incoming_number_sms_url(
        &self,
        creds: &Credentials,
        sid: &str,
        sms_url: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            self.api_base,
            creds.account_sid.as_str(),
            sid
        );
        let form = [("SmsUrl", sms_url), ("SmsMethod", "POST")];
        self.send(self.request(reqwest::Method::POST, &url, creds).form(&form)).await
    }

    /// Empties an SMS number's inbound webhook URL (and nothing else).
    pub async fn clear_incoming_number_sms_url(
        &self,
        creds: &Credentials,
        sid: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            self.api_base,
            creds.account_sid.as_str(),
            sid
        );
        self.send(self.request(reqwest::Method::POST, &url, creds).form(&[("SmsUrl", "")])).await
    }

    /// Every Messaging Service of the account (Messaging v1), following `meta.next_page_url`.
    pub async fn list_messaging_services(&self, creds: &Credentials) -> Result<Vec<MessagingService>, TwilioError> {
        let first = format!("{}/v1/Services?PageSize=100", self.messaging_base);
        self.all_pages::<ServicesPage>(creds, &self.messaging_base, first).await
    }

    /// Whether a Messaging Service holds a phone number (`PN…`) or a WhatsApp sender (`XE…`):
    /// its inbound settings then decide where Twilio posts the number's messages.
    pub async fn service_holds(&self, creds: &Credentials, service_sid: &str, sid: &str) -> Result<bool, TwilioError> {
        let kind = if sid.starts_with("XE") { "ChannelSenders" } else { "PhoneNumbers" };
        let url = format!("{}/v1/Services/{}/{}/{}", self.messaging_base, service_sid, kind, sid);
        match self.send::<serde_json::Value>(self.request(reqwest::Method::GET, &url, creds)).await {
            Ok(_) => Ok(true),
            Err(TwilioError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The newest messages from `from` to `to` (one page is enough to find a recent send).
    pub async fn list_messages(
        &self,
        creds: &Credentials,
        to: &str,
        from: &str,
    ) -> Result<Vec<ListedMessage>, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.api_base, creds.account_sid.as_str());
        let query = [("To", to), ("From", from), ("PageSize", "100")];
        let page: MessagesPage = self.send(self.request(reqwest::Method::GET, &url, creds).query(&query)).await?;
        Ok(page
            .messages
            .into_iter()
            .map(|m| ListedMessage {
                created_ms: m.date_created.as_deref().and_then(parse_rfc2822),
                sid: m.sid,
                status: m.status,
                body: m.body,
            })
            .collect())
    }

    /// WhatsApp's typing indicator, shown until the reply arrives (or 25 seconds pass).
    pub async fn typing_indicator(&self, creds: &Credentials, inbound_message_sid: &str) -> Result<(), TwilioError> {
        let url = format!("{}/v2/Indicators/Typing.json", self.messaging_base);
        let form = [("channel", "whatsapp"), ("messageId", inbound_message_sid)];
        let _: serde_json::Value = self.send(self.request(reqwest::Method::POST, &url, creds).form(&form)).await?;
        Ok(())
    }

    /// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
    pub async fn create_message(
        &self,
        creds: &Credentials,
        message: &NewMessage,
    ) -> Result<MessageResource, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.api_base, creds.account_sid.as_str());
        self.send(self.request(reqwest::Method::POST, &url, creds).form(message)).await
    }
}

/// Twilio's next-page URLs are absolute; the credentials only ever go to the configured host.
fn on_base(base: &str, absolute: &str) -> String {
    match url::Url::parse(absolute) {
        Ok(u) => format!("{base}{}{}", u.path(), u.query().map(|q| format!("?{q}")).unwrap_or_default()),
        Err(_) => format!("{base}{absolute}"),
    }
}

/// A reqwest error's text without the URL (the URL is ours, but keeps log lines short and
/// never carries credentials).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_sid_is_ac_and_32_hex() {
        assert!(AccountSid::parse("AC0123456789abcdef0123456789ABCDEF").is_ok());
        assert!(AccountSid::parse(" AC0123456789abcdef0123456789abcdef ").is_ok());
        assert!(AccountSid::parse("AC0123").is_err());
        assert!(AccountSid::parse("SK0123456789abcdef0123456789abcdef").is_err());
        assert!(AccountSid::parse("AC0123456789abcdef0123456789abcdeg").is_err());
    }

    #[test]
    fn rfc2822_dates_parse_to_unix_milliseconds() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_rfc2822("Sat, 21 Nov 2026 12:00:00 +0000"), Some(1_795_262_400_000));
        assert_eq!(parse_rfc2822("Sat, 21 Nov 2026 13:30:05 +0130"), Some(1_795_262_405_000));
        assert_eq!(parse_rfc2822("not a date"), None);
    }

    #[test]
    fn auth_token_is_32_hex() {
        assert!(parse_auth_token("0123456789abcdef0123456789abcdef").is_ok());
        assert!(parse_auth_token("0123456789abcdef").is_err());
    }

    #[test]
    fn retryable_errors_are_429_5xx_and_network() {
        let api = |status, code| TwilioError::Api { status, code, message: String::new(), retry_after: None };
        assert!(api(429, Some(20429)).retryable());
        assert!(api(503, None).retryable());
        assert!(TwilioError::Unreachable("x".into()).retryable());
        assert!(!api(400, Some(21211)).retryable());
        assert!(!TwilioError::Rejected { code: Some(20003), message: String::new() }.retryable());
    }
}
