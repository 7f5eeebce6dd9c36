//! Who uses the backoffice: first-run setup and signing in, the organization's users and each
//! user's personal API tokens.
//!
//! `model` holds the types the browser sees, `api` the server functions, `port` what those
//! ask of the server (implemented there); the rest are pages.

pub mod api;
pub(crate) mod login;
mod model;
#[cfg(feature = "ssr")]
pub mod port;
#[cfg(feature = "ssr")]
pub mod session;
pub(crate) mod tokens;
pub(crate) mod users;

pub use model::*;
