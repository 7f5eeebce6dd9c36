//! The REST API's shared pieces: [`auth`] (the bearer-token user, JSON bodies; what each
//! feature's `rest.rs` uses) and [`api`] (the `/api` router that merges the features' routes,
//! and the OpenAPI document). The API's errors and their statuses are [`crate::error`]'s table.

pub mod api;
pub mod auth;
