//! Twilio's REST API, the subset Switchboard uses, with base URLs that point at the real
//! Twilio in production and at the simulator in demos and tests.

mod client;
pub mod contents;
pub mod errors;
pub mod inbound;
pub mod signature;
pub mod status;

pub use client::TwilioClient;

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
