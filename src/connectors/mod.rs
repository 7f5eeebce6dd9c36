//! Connectors: an organization's Twilio account (its Account SID and sealed Auth Token) and its
//! numbers. [`account`] is what the rest of Switchboard uses of a connector; the backoffice's
//! operations are [`manage`], [`numbers`] and [`webhooks`] ("Set webhook"); `store` holds
//! their SQL.

pub mod account;
pub mod manage;
pub mod numbers;
mod port;
pub mod rest;
mod store;
pub mod webhooks;
