//! What a webhook request hands to the group writers, and what it gets back: the queues the
//! application state holds. They name only these jobs, nothing of the code that writes them.

use super::batch::Queue;

/// One inbound message to store.
pub struct Inbound {
    pub connector_id: String,
    pub number_id: String,
    /// Whether the message goes to an agent (the connector receives inbound data and the
    /// number is active).
    pub turn: bool,
    pub message_sid: String,
    pub from: String,
    /// WhatsApp's business-scoped user id (`ExternalUserId`): the guest whether or not their
    /// phone number shows.
    pub external_user_id: Option<String>,
    pub profile_name: Option<String>,
    pub body: String,
    /// Every parameter Twilio sent, as JSON.
    pub params: String,
    /// The files attached (`MediaUrl{N}`, `MediaContentType{N}`), in order.
    pub media: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New { turn: bool },
    Duplicate,
}

/// A status callback to record.
pub struct StatusUpdate {
    pub connector_id: String,
    /// The message id from the callback URL; found by `sid` when absent.
    pub message_id: Option<String>,
    pub sid: String,
    pub status: String,
    pub code: Option<i64>,
    pub meaning: Option<String>,
}

/// Inbound messages on their way to being stored ([`super::ingest`]).
pub type IngestQueue = Queue<Inbound, Stored>;

/// Status callbacks on their way to being stored ([`super::statuses`]).
pub type StatusQueue = Queue<StatusUpdate, bool>;
