//! Privacy: guests forgotten (by an admin, or at a guest's `/forget`), the organization's choice
//! of how `/forget` is handled, and the audit log of who changed what.
//!
//! `model` holds the types the browser sees, `api` the server functions, `port` what those ask
//! of the server (implemented there); `page` the Privacy and Audit log pages.

pub mod api;
mod model;
pub(crate) mod page;
#[cfg(feature = "ssr")]
pub mod port;

pub use model::*;
