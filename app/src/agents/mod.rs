//! Agents: their brains, the template sent once a guest's 24-hour window has closed, and
//! their channels (the numbers they answer on).
//!
//! `model` holds the types the browser sees, `api` the server functions, `port` what those
//! ask of the server (implemented there); the rest are pages.

pub mod api;
pub(crate) mod channels;
mod model;
pub(crate) mod page;
#[cfg(feature = "ssr")]
pub mod port;

pub use model::*;
