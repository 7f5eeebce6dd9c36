//! A message's delivery status as Twilio reports it.

/// Twilio's delivery states in order; a callback never moves a message backwards.
pub fn status_rank(status: &str) -> i64 {
    match status {
        "accepted" | "scheduled" | "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "failed" | "undelivered" | "canceled" => 4,
        "delivered" => 5,
        "read" => 6,
        _ => 0,
    }
}
