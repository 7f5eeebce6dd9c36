//! The types the browser sees of privacy. None of them carries a secret; an audit entry never
//! carries a guest's number, name, email or words.

use serde::{Deserialize, Serialize};

/// What forgetting a guest removed, across the organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    pub conversations: i64,
    pub messages: i64,
    pub media: i64,
    pub emails: i64,
    pub access_requests: i64,
    pub login_codes: i64,
}

impl Forgotten {
    /// "2 conversations, 14 messages, 1 media file, 1 verified email, 1 access request, no login code".
    pub fn summary(&self) -> String {
        fn count(n: i64, one: &str, many: &str) -> String {
            match n {
                0 => format!("no {one}"),
                1 => format!("1 {one}"),
                n => format!("{n} {many}"),
            }
        }
        [
            count(self.conversations, "conversation", "conversations"),
            count(self.messages, "message", "messages"),
            count(self.media, "media file", "media files"),
            count(self.emails, "verified email", "verified emails"),
            count(self.access_requests, "access request", "access requests"),
            count(self.login_codes, "login code", "login codes"),
        ]
        .join(", ")
    }
}

/// How a guest's `/forget` is handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForgetMode {
    /// An admin approves each request on the Privacy page.
    #[default]
    Approval,
    /// Carried out at once, after the reply that says so has gone out.
    Automatic,
}

impl ForgetMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgetMode::Approval => "approval",
            ForgetMode::Automatic => "automatic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approval" => Some(ForgetMode::Approval),
            "automatic" => Some(ForgetMode::Automatic),
            _ => None,
        }
    }
}

/// A guest's `/forget` waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetRequest {
    pub id: String,
    /// The guest's number (admins only see this page).
    pub guest: String,
    pub at_ms: i64,
    /// Conversations and messages of theirs the organization holds now.
    pub conversations: i64,
    pub messages: i64,
}

/// An agent whose conversations follow a retention period of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPeriod {
    pub agent_id: String,
    pub agent_name: String,
    pub days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privacy {
    pub mode: ForgetMode,
    pub requests: Vec<ForgetRequest>,
    /// How long messages, execution records and media are kept, in days; `None`: until deleted.
    pub retention_days: Option<i64>,
    pub agent_periods: Vec<AgentPeriod>,
    /// Every agent of the organization (id, name), to give one a period of its own.
    pub agents: Vec<(String, String)>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    /// Who: a user's email, with the API token's name when it came through the REST API.
    pub actor: String,
    /// What, in words ("Connector credentials changed").
    pub action: String,
    /// What it was done to: a connector's or an agent's name, a conversation's id.
    pub subject: String,
    pub detail: String,
}

/// A page of the audit log, newest first; `older` continues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub older: Option<String>,
    /// Days a line is kept (the deployment's `SWITCHBOARD_AUDIT_DAYS`); none: for good.
    pub kept_days: Option<i64>,
}
