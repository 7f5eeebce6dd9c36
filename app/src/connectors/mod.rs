//! Connectors: the organization's Twilio accounts, their phone numbers and webhooks.
//!
//! `model` holds the types the browser sees, `api` the server functions, `port` what those
//! ask of the server (implemented there); the rest are pages.

pub mod api;
mod model;
mod numbers;
pub(crate) mod page;
#[cfg(feature = "ssr")]
pub mod port;

pub use model::*;
