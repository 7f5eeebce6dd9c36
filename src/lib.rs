//! Switchboard's server: configuration, database, Twilio client, webhook, workers and wiring.

pub mod accounts;
pub mod agents;
pub mod backoffice;
pub mod brain;
pub mod config;
pub mod connectors;
pub mod conversations;
pub mod crypto;
pub mod db;
pub mod error;
pub mod inbound;
pub mod sender;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod turns;
pub mod twilio;
pub mod webhook;

/// Milliseconds since the Unix epoch: every time in the database is one of these.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A new random row id.
pub fn new_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Masks a phone number for logs: keeps the channel prefix and the last three digits.
pub fn mask_address(address: &str) -> String {
    let (prefix, number) = address.split_once(':').map_or(("", address), |(p, n)| (p, n));
    let visible: String = number.chars().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
    let sep = if prefix.is_empty() { "" } else { ":" };
    format!("{prefix}{sep}…{visible}")
}
