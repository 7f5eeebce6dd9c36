//! The types the browser sees. None of them carries a secret.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    OrgAdmin,
    AgentOwner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::AgentOwner => "agent_owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "org_admin" => Some(Role::OrgAdmin),
            "agent_owner" => Some(Role::AgentOwner),
            _ => None,
        }
    }
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub org_id: String,
    pub org_name: String,
    pub email: String,
    pub role: Role,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::OrgAdmin => "Organization admin",
            Role::AgentOwner => "Agent owner",
        }
    }
}

/// Where a user lands: admins on the connectors, agent owners on their agents.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::OrgAdmin => "/connectors",
        Role::AgentOwner => "/agents",
    }
}

/// A user of the organization, as its admins see the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub is_me: bool,
}

/// A personal API token as its owner sees it later: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    /// The token's first characters, to recognize it.
    pub prefix: String,
    pub created: String,
    pub last_used: Option<String>,
}

/// A token just created: the only time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub token: String,
    pub row: ApiTokenRow,
}

/// A connector as agent owners see it: a name to pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorChoice {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectorState {
    Active,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    Connected,
    CredentialsRejected,
    Unreachable,
    Checking,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Connected => "Connected",
            Health::CredentialsRejected => "Credentials rejected",
            Health::Unreachable => "Unreachable",
            Health::Checking => "Checking",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorSummary {
    pub id: String,
    pub name: String,
    pub account_sid: String,
    pub state: ConnectorState,
    pub health: Health,
    /// Why the connector is in Error, in Twilio's words where it gave some.
    pub reason: Option<String>,
    pub active_numbers: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorDetail {
    pub summary: ConnectorSummary,
    pub receive_inbound: bool,
    pub account_name: Option<String>,
    pub trial: bool,
    /// When Twilio was last asked about these credentials, e.g. `2026-11-21 18:40 UTC`.
    pub last_checked: Option<String>,
    /// Set while the public URL the webhook URLs are built from is unset or not https.
    pub public_url_warning: Option<String>,
    /// The URL to paste into Twilio by hand, if one prefers not to use "Set webhook".
    pub inbound_webhook_url: String,
    /// Whether the Auth Token is stored (it is never sent back).
    pub auth_token_set: bool,
    /// The agents answering on this connector's numbers: deleting it unbinds them.
    pub bound_channels: Vec<BoundChannel>,
    /// Conversations held on this connector's numbers (deleted with it).
    pub conversations: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundChannel {
    pub agent: String,
    pub phone_number: String,
    pub provider: Provider,
}

/// What deleting a connector did to each number's webhook in Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectReport {
    pub connector: String,
    pub numbers: Vec<CleanupLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupLine {
    pub phone_number: String,
    pub provider: Provider,
    pub outcome: Cleanup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cleanup {
    /// It pointed at this connector and was cleared.
    Cleared,
    /// Someone points it elsewhere now: left as it is.
    LeftElsewhere(String),
    /// Twilio shows no webhook on it.
    NoneSet,
    /// Twilio could not be asked; the reason, to clear it by hand.
    Failed(String),
}

impl Cleanup {
    pub fn describe(&self) -> String {
        match self {
            Cleanup::Cleared => "Webhook cleared in Twilio.".into(),
            Cleanup::LeftElsewhere(url) => format!("Left as it is: its webhook now points at {url}."),
            Cleanup::NoneSet => "No webhook was set in Twilio.".into(),
            Cleanup::Failed(why) => format!("Not cleared ({why}). Clear it in the Twilio Console."),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provider {
    WhatsApp,
    Sms,
}

impl Provider {
    pub fn label(self) -> &'static str {
        match self {
            Provider::WhatsApp => "WhatsApp",
            Provider::Sms => "SMS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookState {
    Unknown,
    Configured,
    NotConfigured,
    /// The WhatsApp sandbox: its webhook is set in the Twilio Console, there is no API for it.
    Manual,
}

impl WebhookState {
    pub fn label(self) -> &'static str {
        match self {
            WebhookState::Unknown => "Webhook not checked",
            WebhookState::Configured => "Webhook configured",
            WebhookState::NotConfigured => "Webhook not set up in provider",
            WebhookState::Manual => "Set by hand in the Twilio Console",
        }
    }
}

/// One row of a connector's Phone Numbers checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberRow {
    pub id: String,
    pub phone_number: String,
    pub provider: Provider,
    pub display_name: Option<String>,
    pub sender_status: Option<String>,
    pub active: bool,
    pub webhook: WebhookState,
    pub webhook_detail: Option<String>,
    pub bound_agent: Option<String>,
    /// For the WhatsApp sandbox: the message testers send to join it, e.g. `join silver-tiger`.
    pub sandbox_join: Option<String>,
}

/// The number of the WhatsApp sandbox every Twilio account shares.
pub const SANDBOX_NUMBER: &str = "+14155238886";

/// One phone number of the checklist with what it can do: its WhatsApp sender and its SMS
/// number are separate resources in Twilio, each activated and given a webhook on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberGroup {
    pub phone_number: String,
    pub display_name: Option<String>,
    pub sender_status: Option<String>,
    pub capabilities: Vec<NumberRow>,
}

/// Merges the checklist into one group per phone number, WhatsApp before SMS, in the rows' order.
pub fn group_numbers(rows: Vec<NumberRow>) -> Vec<NumberGroup> {
    let mut groups: Vec<NumberGroup> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|g| g.phone_number == row.phone_number) {
            Some(g) => {
                g.display_name = g.display_name.take().or_else(|| row.display_name.clone());
                g.sender_status = g.sender_status.take().or_else(|| row.sender_status.clone());
                g.capabilities.push(row);
                g.capabilities.sort_by_key(|r| r.provider == Provider::Sms);
            }
            None => groups.push(NumberGroup {
                phone_number: row.phone_number.clone(),
                display_name: row.display_name.clone(),
                sender_status: row.sender_status.clone(),
                capabilities: vec![row],
            }),
        }
    }
    groups
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookOutcome {
    pub number_id: String,
    pub phone_number: String,
    pub provider: Provider,
    pub state: WebhookState,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub channels: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqEntry {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrainKind {
    Faq,
    OpenAi,
    Hook,
}

impl BrainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BrainKind::Faq => "faq",
            BrainKind::OpenAi => "openai",
            BrainKind::Hook => "hook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "faq" => Some(BrainKind::Faq),
            "openai" => Some(BrainKind::OpenAi),
            "hook" => Some(BrainKind::Hook),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BrainKind::Faq => "Built-in FAQ",
            BrainKind::OpenAi => "OpenAI-compatible chat completions",
            BrainKind::Hook => "HTTP hook",
        }
    }
}

/// An agent's brain settings as the browser sees them: secrets only as "set".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrainView {
    pub kind: BrainKind,
    /// The OpenAI-compatible base URL, or the hook's URL.
    pub url: Option<String>,
    pub model: Option<String>,
    pub api_key_set: bool,
    pub hook_secret_set: bool,
    pub timeout_secs: Option<u64>,
}

/// One line of "Try the agent": what the tester typed, or what the agent answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub from_guest: bool,
    pub text: String,
}

/// The agent's answer in "Try the agent", with why it is the fallback reply when it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TryReply {
    pub reply: String,
    pub note: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentDetail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub welcome_message: Option<String>,
    pub brain: BrainView,
    /// Only in the answer to the edit that created it: the hook's signing secret, shown once.
    pub new_hook_secret: Option<String>,
    pub fallback_reply: String,
    pub faq: Vec<FaqEntry>,
    /// What the agent sends instead of free text once a guest's 24-hour window has closed.
    pub template: Option<AgentTemplate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTemplate {
    pub connector_id: String,
    pub connector_name: String,
    pub sid: String,
    pub name: String,
    /// A JSON object, e.g. `{"1": "there"}`.
    pub variables: String,
}

/// A WhatsApp template of a connector's Twilio account, with its approval status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOption {
    pub sid: String,
    pub name: String,
    pub language: Option<String>,
    pub body: Option<String>,
    /// WhatsApp's approval: only `approved` templates can be chosen.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRow {
    pub id: String,
    pub connector_name: String,
    pub phone_number: String,
    pub provider: Provider,
    /// Inbound route: only messages from this number reach the agent.
    pub inbound_from: Option<String>,
    /// Outbound route: replies go to this fixed number instead of the sender.
    pub outbound_to: Option<String>,
}

/// A number offered in "Add channel".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOption {
    pub number_id: String,
    pub phone_number: String,
    pub provider: Provider,
    /// The agent this number already answers for, when it is not this one.
    pub bound_to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub direction: Direction,
    pub body: String,
    pub status: String,
    pub error: Option<String>,
    /// What staff should know: a fallback reply, a template sent instead of free text.
    pub note: Option<String>,
    pub at_ms: i64,
    /// Files the guest sent with the message.
    pub media: Vec<MediaView>,
    /// Who wrote it when not the guest or the agent's brain: `command`, `switchboard`, `staff`.
    pub origin: Option<String>,
    /// The WhatsApp template it went out as, if any.
    pub template_sid: Option<String>,
    /// The brain's execution record behind an agent's reply.
    pub execution_id: Option<String>,
    pub twilio_sid: Option<String>,
    pub error_code: Option<i64>,
}

impl MessageView {
    /// The delivery tick shown beside an outbound message.
    pub fn tick(&self) -> &'static str {
        match self.status.as_str() {
            "pending" | "queued" | "accepted" | "sending" | "scheduled" => "🕓",
            "sent" => "✓",
            "delivered" => "✓✓",
            "read" => "✓✓ read",
            "failed" | "undelivered" | "canceled" => "⚠",
            _ => "",
        }
    }

    pub fn who(&self) -> &'static str {
        match (self.direction, self.origin.as_deref()) {
            (Direction::Inbound, Some("command")) => "Guest (command)",
            (Direction::Inbound, _) => "Guest",
            (Direction::Outbound, Some("staff")) => "Staff",
            (Direction::Outbound, Some("switchboard")) => "Switchboard",
            (Direction::Outbound, _) => "Agent",
        }
    }
}

/// A file attached to a message; `url` serves it once it is downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaView {
    pub id: String,
    pub content_type: String,
    /// pending, stored or failed
    pub state: String,
    pub error: Option<String>,
}

impl MediaView {
    pub fn url(&self) -> String {
        format!("/media/{}", self.id)
    }

    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    pub id: String,
    pub guest: String,
    pub guest_name: Option<String>,
    pub number: String,
    pub messages: Vec<MessageView>,
}

/// Reads the FAQ text area: one `question | answer` pair per line, blank lines ignored.
pub fn parse_faq(text: &str) -> Result<Vec<FaqEntry>, crate::AppError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (q, a) = line.split_once('|').ok_or_else(|| {
                crate::AppError::invalid("faq", format!("Line {} needs a question and an answer separated by |", i + 1))
            })?;
            let (q, a) = (q.trim(), a.trim());
            if q.is_empty() || a.is_empty() {
                return Err(crate::AppError::invalid(
                    "faq",
                    format!("Line {} needs a question and an answer separated by |", i + 1),
                ));
            }
            Ok(FaqEntry { question: q.to_string(), answer: a.to_string() })
        })
        .collect()
}

/// A time for people: `2026-11-21 18:40 UTC`.
pub fn utc_minutes(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationState {
    Live,
    Ended,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Live => "live",
            ConversationState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }
}

/// What the inbox shows: one agent's conversations or the organization's, filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InboxFilter {
    pub agent_id: Option<String>,
    pub provider: Option<Provider>,
    /// One of the organization's numbers, E.164.
    pub number: Option<String>,
    pub state: Option<ConversationState>,
    /// Searched in the guest's number and name and in the messages' text.
    pub q: String,
    /// From 0.
    pub page: u32,
}

impl InboxFilter {
    /// The filter as a query string, for links (export) and the address bar.
    pub fn query(&self) -> String {
        let mut parts: Vec<(String, String)> = Vec::new();
        if let Some(a) = &self.agent_id {
            parts.push(("agent_id".into(), a.clone()));
        }
        if let Some(p) = self.provider {
            parts.push(("provider".into(), if p == Provider::Sms { "sms" } else { "whatsapp" }.into()));
        }
        if let Some(n) = &self.number {
            parts.push(("number".into(), n.clone()));
        }
        if let Some(s) = self.state {
            parts.push(("state".into(), s.as_str().into()));
        }
        if !self.q.is_empty() {
            parts.push(("q".into(), self.q.clone()));
        }
        parts.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&")
    }

    /// Reads [`Self::query`]'s keys (unknown values are ignored).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut f = Self::default();
        for (k, v) in pairs {
            match k {
                "agent_id" if !v.is_empty() => f.agent_id = Some(v.to_string()),
                "provider" => {
                    f.provider = match v {
                        "whatsapp" => Some(Provider::WhatsApp),
                        "sms" => Some(Provider::Sms),
                        _ => None,
                    }
                }
                "number" if !v.is_empty() => f.number = Some(v.to_string()),
                "state" => f.state = ConversationState::parse(v),
                "q" => f.q = v.to_string(),
                "page" => f.page = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        f
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxRow {
    pub id: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// The guest's number: masked for agent owners, whole for admins.
    pub guest: String,
    pub guest_name: Option<String>,
    pub provider: Provider,
    pub number: String,
    pub state: ConversationState,
    /// Staff took the conversation over: the agent does not answer.
    pub paused: bool,
    pub last_body: String,
    pub last_from_guest: bool,
    pub last_at_ms: i64,
    /// WhatsApp's 24-hour window (always open on SMS).
    pub window_open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxPage {
    pub rows: Vec<InboxRow>,
    pub page: u32,
    pub has_more: bool,
    /// The numbers there are to filter by.
    pub numbers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationDetail {
    pub id: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub guest: String,
    pub guest_name: Option<String>,
    pub provider: Provider,
    pub number: String,
    pub connector_id: String,
    pub state: ConversationState,
    pub ended_at_ms: Option<i64>,
    /// Who took the conversation over, while they have it.
    pub paused_by: Option<String>,
    pub window_open: bool,
    /// The latest messages, oldest first (at most 500; the export has them all).
    pub messages: Vec<MessageView>,
    pub earlier_messages: bool,
}

/// What an agent's brain did on one turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionView {
    pub id: String,
    pub conversation_id: String,
    pub brain: String,
    /// The turn as the brain received it, as JSON.
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub at_ms: i64,
    /// The replies it produced and how their sends went.
    pub sends: Vec<SendRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRecord {
    pub message_id: String,
    pub body: String,
    pub status: String,
    pub twilio_sid: Option<String>,
    /// Tries so far (1 when the first one went through).
    pub attempts: i64,
    pub last_error: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub inbound: i64,
    pub outbound: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    pub code: Option<i64>,
    pub meaning: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    /// The last 14 days, oldest first.
    pub days: Vec<DayCount>,
    /// From a guest's message to the agent's reply, over the same days.
    pub median_reply_ms: Option<i64>,
    pub replies_measured: i64,
    pub failures: Vec<CodeCount>,
    pub rejections: Vec<CodeCount>,
    /// Connector name and health label, and whether it is healthy.
    pub connectors: Vec<(String, String, bool)>,
}

/// Who may talk to an agent on WhatsApp and SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AccessPolicy {
    /// Anyone who writes may chat.
    #[default]
    Open,
    /// Guests verify an email address with `/login` first.
    RequireEmail,
    /// The verified address must be on the agent's shared list; others ask for access.
    RequireApproval,
}

impl AccessPolicy {
    pub const ALL: [AccessPolicy; 3] = [AccessPolicy::Open, AccessPolicy::RequireEmail, AccessPolicy::RequireApproval];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessPolicy::Open => "open",
            AccessPolicy::RequireEmail => "email",
            AccessPolicy::RequireApproval => "approval",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            AccessPolicy::Open => "Open access",
            AccessPolicy::RequireEmail => "Require email",
            AccessPolicy::RequireApproval => "Require approval",
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            AccessPolicy::Open => "Anyone who writes to the agent's numbers may chat.",
            AccessPolicy::RequireEmail => {
                "Guests verify an email address first: they send /login and their address, then the code they receive."
            }
            AccessPolicy::RequireApproval => {
                "Guests verify an email address, and it must be on the shared list below. Anyone else is asked to \
                 wait while an access request is created for you to approve or deny."
            }
        }
    }
}

/// The Sharing page's settings form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccessSettings {
    pub policy: AccessPolicy,
    /// New senders wait until their number is approved.
    pub onboarding: bool,
    /// What a new sender receives under onboarding; a default text when empty.
    pub onboarding_message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestKind {
    /// A verified email address not on the shared list.
    Email,
    /// A new sender under onboarding, by phone number.
    Number,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestRow {
    pub id: String,
    pub kind: RequestKind,
    /// The verified email address (email requests).
    pub email: Option<String>,
    /// The guest's number (masked for agent owners) and WhatsApp profile name.
    pub guest: String,
    pub guest_name: Option<String>,
    /// `pending`, `approved` or `denied`.
    pub state: String,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedEmail {
    pub email: String,
    pub added_at_ms: i64,
}

/// A guest who verified an email address and has written to this agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedGuest {
    /// Identifies the guest for "Revoke": a keyed hash of their number, never the number.
    pub key: String,
    /// The same, masked for agent owners.
    pub guest: String,
    pub email: String,
    pub verified_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharingView {
    pub settings: AccessSettings,
    pub shared: Vec<SharedEmail>,
    pub requests: Vec<AccessRequestRow>,
    pub verified: Vec<VerifiedGuest>,
    /// Why guests cannot verify an email address here (no SMTP server configured), when so.
    pub email_warning: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc_minutes(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minutes(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minutes(1_795_219_200_000 + 18 * 3_600_000 + 40 * 60_000), "2026-11-21 18:40 UTC");
    }

    #[test]
    fn faq_lines_parse_into_pairs_and_blank_lines_are_skipped() {
        let faq = parse_faq("When is breakfast? | 7 to 10\n\n Check-out time?|Noon ").unwrap();
        assert_eq!(
            faq,
            vec![
                FaqEntry { question: "When is breakfast?".into(), answer: "7 to 10".into() },
                FaqEntry { question: "Check-out time?".into(), answer: "Noon".into() },
            ]
        );
    }

    fn row(phone: &str, provider: Provider, name: Option<&str>) -> NumberRow {
        NumberRow {
            id: format!("{phone}-{}", provider.label()),
            phone_number: phone.into(),
            provider,
            display_name: name.map(str::to_string),
            sender_status: None,
            active: false,
            webhook: WebhookState::Unknown,
            webhook_detail: None,
            bound_agent: None,
            sandbox_join: None,
        }
    }

    #[test]
    fn numbers_group_by_phone_number_with_whatsapp_first() {
        let groups = group_numbers(vec![
            row("+1555", Provider::Sms, Some("Line")),
            row("+1666", Provider::WhatsApp, None),
            row("+1555", Provider::WhatsApp, None),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].phone_number, "+1555");
        assert_eq!(groups[0].display_name.as_deref(), Some("Line"));
        let providers: Vec<Provider> = groups[0].capabilities.iter().map(|r| r.provider).collect();
        assert_eq!(providers, vec![Provider::WhatsApp, Provider::Sms]);
        assert_eq!(groups[1].capabilities.len(), 1);
    }

    #[test]
    fn faq_line_without_separator_names_the_line() {
        let err = parse_faq("ok | yes\nno separator here").unwrap_err();
        assert_eq!(err.for_field("faq").unwrap(), "Line 2 needs a question and an answer separated by |");
    }
}
