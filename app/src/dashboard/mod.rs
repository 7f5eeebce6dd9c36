//! The dashboard: traffic, reply times, failures and the connectors' health at a glance.
//!
//! `model` holds the types the browser sees, `api` the server functions, `port` what those
//! ask of the server (implemented there); the rest are pages.

pub mod api;
mod model;
pub(crate) mod page;
#[cfg(feature = "ssr")]
pub mod port;

pub use model::*;
