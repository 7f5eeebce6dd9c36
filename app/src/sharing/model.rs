//! The types the browser sees of sharing. None of them carries a secret.

use serde::{Deserialize, Serialize};

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
