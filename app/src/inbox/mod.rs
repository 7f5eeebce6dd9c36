//! The inbox: conversations with their messages and execution records, human takeover, staff
//! replies, and how long a conversation may be quiet.
//!
//! `model` holds the types the browser sees, `api` the server functions, `port` what those
//! ask of the server (implemented there); the rest are pages.

pub mod api;
mod list;
mod model;
pub(crate) mod page;
#[cfg(feature = "ssr")]
pub mod port;

pub use model::*;
