//! Switchboard's server: configuration, database, Twilio client, webhook, workers and wiring.

pub mod access;
pub mod accounts;
pub mod agents;
pub mod audit;
pub mod brain;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod csv;
pub mod dashboard;
pub mod db;
pub mod download;
pub mod edge;
pub mod egress;
pub mod error;
pub mod events;
pub mod http;
pub mod inbox;
pub mod instances;
pub mod keys;
#[cfg(test)]
mod layout;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod pipeline;
pub mod preflight;
pub mod privacy;

pub mod serve;
pub mod startup;
pub mod state;
pub mod twilio;

/// Milliseconds since the Unix epoch: every time in the database is one of these.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A new row id: 32 hex digits, the first 12 the time in milliseconds, the rest random. Ids made
/// later sort later, so new rows land at the end of each index instead of on a random page (a
/// SQLite commit then writes a few pages, not one per row and index). Within one millisecond (or
/// if the clock steps back) a process's next id is its last one plus one, so the ids it makes sort
/// in the order it made them: the audit log's lines, a batch's messages. Ids are never secrets:
/// webhook keys and sessions have their own fully random values.
pub fn new_id() -> String {
    use rand::Rng;
    const RANDOM_BITS: u32 = 80;
    static LAST: std::sync::Mutex<(u64, u128)> = std::sync::Mutex::new((0, 0));
    let now = now_ms() as u64 & 0xffff_ffff_ffff;
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let next = if now > last.0 {
        (now, rand::thread_rng().gen::<u128>() >> (128 - RANDOM_BITS))
    } else if last.1 + 1 < 1 << RANDOM_BITS {
        (last.0, last.1 + 1)
    } else {
        (last.0 + 1, 0)
    };
    *last = next;
    format!("{:012x}{:020x}", next.0, next.1)
}

/// Whether `number` is in E.164 form: `+` and 8 to 15 digits.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `id` is a WhatsApp business-scoped user id (a guest with a username may show no phone
/// number): a two-letter prefix (a country code, or `ID`), then dot-separated parts of letters and
/// digits, 150 characters at most: `US.13491208655302741918`, a parent id `US.ENT.1349…`.
pub fn is_whatsapp_user_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let prefix = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    id.len() <= 150
        && prefix.len() == 2
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A template's variables as typed (a JSON object of texts), normalized; empty means none.
pub fn template_variables(text: &str) -> Result<Option<String>, app::AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed: std::collections::BTreeMap<String, String> = serde_json::from_str(text).map_err(|_| {
        app::AppError::invalid("variables", "Variables are a JSON object of texts, for example {\"1\": \"Ana\"}.")
    })?;
    Ok(Some(serde_json::to_string(&parsed).expect("a map of strings serializes")))
}

/// Masks a phone number for logs: keeps the channel prefix and the last three digits.
pub fn mask_address(address: &str) -> String {
    let (prefix, number) = address.split_once(':').map_or(("", address), |(p, n)| (p, n));
    let visible: String = number.chars().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
    let sep = if prefix.is_empty() { "" } else { ":" };
    format!("{prefix}{sep}…{visible}")
}

/// A duration in words, rounded up: "1 second", "40 seconds", "15 minutes", "24 hours" (when to
/// try again, how long a reply was tried).
pub fn in_words(wait: std::time::Duration) -> String {
    let secs = wait.as_secs().max(1);
    match secs {
        1 => "1 second".into(),
        2..=90 => format!("{secs} seconds"),
        91..=5400 => format!("{} minutes", secs.div_ceil(60)),
        _ => format!("{} hours", secs.div_ceil(3600)),
    }
}

#[cfg(test)]
mod tests {
    use super::{in_words, new_id};
    use std::time::Duration;

    #[test]
    fn whatsapp_user_ids_are_told_from_numbers_and_garbage() {
        let long = format!("US.{}", "7".repeat(128));
        for id in ["US.13491208655302741918", "ID.4566546130240823", "BR.abc123", "US.ENT.13491208655302741918", &long]
        {
            assert!(super::is_whatsapp_user_id(id), "{id}");
        }
        let too_long = format!("US.{}", "1".repeat(148));
        for id in ["+15551234567", "US.", "us.123", "USA.123", ".123", "US.12-3", "US.1 2", "US..1", "US.1.", &too_long]
        {
            assert!(!super::is_whatsapp_user_id(id), "{id}");
        }
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(in_words(Duration::from_secs(40)), "40 seconds");
        assert_eq!(in_words(Duration::from_secs(14 * 60 + 5)), "15 minutes");
        assert_eq!(in_words(Duration::from_millis(10)), "1 second");
        assert_eq!(in_words(Duration::from_secs(24 * 3600)), "24 hours");
    }

    #[test]
    fn ids_are_32_hex_digits_and_sort_by_creation_time() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        for id in [&first, &second] {
            assert_eq!(id.len(), 32);
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert!(first < second, "{first} then {second}");
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn ids_made_in_one_millisecond_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
        // Several threads at once: every id once.
        let threads: Vec<_> =
            (0..4).map(|_| std::thread::spawn(|| (0..5_000).map(|_| new_id()).collect::<Vec<_>>())).collect();
        let mut all: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 20_000);
    }
}
