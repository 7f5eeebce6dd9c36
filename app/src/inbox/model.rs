//! The types the browser sees of inbox. None of them carries a secret.

use serde::{Deserialize, Serialize};

use crate::connectors::Provider;

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
    /// The place the guest shared, if the message is a location.
    pub location: Option<SharedLocation>,
    /// The button or list item the guest tapped, if the message is one.
    pub choice: Option<Choice>,
    /// The buttons or list items an agent's reply offered (their titles).
    pub offered: Vec<String>,
}

impl MessageView {
    /// The delivery tick shown beside an outbound message, before its status word (`✓✓ read`).
    pub fn tick(&self) -> &'static str {
        match self.status.as_str() {
            "pending" | "queued" | "accepted" | "sending" | "scheduled" => "🕓",
            "sent" => "✓",
            "delivered" => "✓✓",
            "read" => "✓✓",
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

/// A place a guest shared on WhatsApp: its coordinates as Twilio gave them (decimal degrees, checked
/// to be on the globe), and the name and address WhatsApp adds for a named place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLocation {
    pub latitude: String,
    pub longitude: String,
    pub label: Option<String>,
    pub address: Option<String>,
}

impl SharedLocation {
    /// The place on OpenStreetMap.
    pub fn map_url(&self) -> String {
        format!("https://www.openstreetmap.org/?mlat={0}&mlon={1}#map=17/{0}/{1}", self.latitude, self.longitude)
    }

    /// The place in words: its name and address when WhatsApp gave them, else its coordinates.
    pub fn describe(&self) -> String {
        let named: Vec<&str> = [self.label.as_deref(), self.address.as_deref()].into_iter().flatten().collect();
        if named.is_empty() {
            format!("{}, {}", self.latitude, self.longitude)
        } else {
            format!("{} ({}, {})", named.join(", "), self.latitude, self.longitude)
        }
    }
}

/// A reply button or list item a guest tapped: the text they saw and the id the agent gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub text: String,
    pub id: Option<String>,
}

/// A file attached to a message; `url` serves it once it is downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaView {
    pub id: String,
    pub content_type: String,
    /// Its name (Twilio passes on no file's own name: `ME….pdf`, by its Media SID).
    pub name: String,
    /// pending, stored or failed
    pub state: String,
    pub error: Option<String>,
    /// A voice note's words, when the agent transcribes voice notes.
    pub transcript: Option<String>,
    /// Why a voice note has no transcript.
    pub transcript_error: Option<String>,
}

impl MediaView {
    pub fn url(&self) -> String {
        format!("/media/{}", self.id)
    }

    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }

    /// A voice note or another sound.
    pub fn is_audio(&self) -> bool {
        self.content_type.starts_with("audio/")
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
    /// The page after this place in the list (a page's `older`); the first page without one.
    pub after: Option<String>,
    /// The page before this place in the list (a page's `newer`).
    pub before: Option<String>,
}

impl InboxFilter {
    /// The filter as a query string, for links (export): without the place in the list.
    pub fn query(&self) -> String {
        let mut parts: Vec<(String, String)> = Vec::new();
        if let Some(a) = &self.agent_id {
            parts.push(("agent_id".into(), a.clone()));
        }
        if let Some(p) = self.provider {
            parts.push(("provider".into(), p.as_str().into()));
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

    /// [`Self::query`] with the place in the list, for the address bar.
    pub fn query_with_place(&self) -> String {
        let place = match (&self.after, &self.before) {
            (Some(a), _) => format!("after={}", percent_encode(a)),
            (None, Some(b)) => format!("before={}", percent_encode(b)),
            (None, None) => String::new(),
        };
        [self.query(), place].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("&")
    }

    /// The same filter, at the top of the list.
    pub fn first_page(&self) -> Self {
        Self { after: None, before: None, ..self.clone() }
    }

    /// Reads [`Self::query`]'s keys (unknown values are ignored).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut f = Self::default();
        for (k, v) in pairs {
            match k {
                "agent_id" if !v.is_empty() => f.agent_id = Some(v.to_string()),
                "provider" => f.provider = Provider::parse(v),
                "number" if !v.is_empty() => f.number = Some(v.to_string()),
                "state" => f.state = ConversationState::parse(v),
                "q" => f.q = v.to_string(),
                "after" if !v.is_empty() => f.after = Some(v.to_string()),
                "before" if !v.is_empty() => f.before = Some(v.to_string()),
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
    /// Where the newer page ends (`before` for it); none on the first page. A place in the list
    /// holds while messages arrive: a conversation that gets one moves to the first page instead
    /// of showing twice.
    pub newer: Option<String>,
    /// Where the older page starts (`after` for it); none on the last page.
    pub older: Option<String>,
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
    /// Whether the viewer may forget this guest (the organization's admins).
    pub can_forget: bool,
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
