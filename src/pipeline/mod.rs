//! A guest's message on its way through Switchboard, in the order it goes:
//!
//! 1. [`webhook`]: Twilio's request, checked against the connector's Auth Token and the exact
//!    URL registered ([`hooks`] caches what it looks up), handed to
//! 2. [`ingest`], which stores it with whatever arrived beside it in one transaction
//!    ([`batch`], group commit) before Twilio is answered; its files go to [`crate::media`].
//! 3. [`turns`]: the agent's brain answers the conversation's new messages, off the request path,
//!    and queues the reply in
//! 4. [`outbox`], from which
//! 5. [`sender`] sends it to Twilio, at the number's rate ([`pacing`], [`departures`]), once,
//!    retrying what may succeed later.
//! 6. [`statuses`]: Twilio's status callbacks move each reply forward to delivered or read.
//!
//! [`jobs`] holds what the webhook hands to the writers: the only part the application state
//! names.

pub mod batch;
pub mod departures;
pub mod hooks;
pub mod ingest;
pub mod jobs;
pub mod outbox;
pub mod pacing;
pub mod sender;
pub mod statuses;
pub mod turns;
pub mod webhook;
