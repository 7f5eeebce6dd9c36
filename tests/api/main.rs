//! The integration tests that drive one Switchboard (its HTTP routes, services and workers)
//! against the bundled Twilio simulator, one module per feature, in one binary. The fault suites
//! that kill processes or take the database away stay binaries of their own (`tests/chaos.rs`,
//! `crash.rs`, `outage.rs`, `topology.rs`).

#[path = "../common/mod.rs"]
mod common;

mod access;
mod agents;
mod backoffice;
mod connectors;
mod contract;
mod inbox;
mod media;
mod messages;
mod operations;
mod pipeline;
mod privacy;
mod rest;
mod rich;
mod roles;
mod routes;
mod security;
