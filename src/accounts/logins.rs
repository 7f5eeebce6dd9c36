//! Password guessing: failed logins are counted per account and per client address in a
//! window; past the limit, logins answer 429 with when to try again. Each check costs an
//! Argon2 hash (19 MiB, tens of milliseconds), so only a few run at once and a login that finds
//! none free is told to retry instead of queueing.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins to one account in a window before it is refused.
pub const PER_ACCOUNT: u32 = 10;
/// Failed logins from one address (an IPv6 /64) in a window before it is refused.
pub const PER_ADDRESS: u32 = 30;
/// Password checks at once.
pub const HASHES_AT_ONCE: usize = 8;
/// Counters kept at most: when full, expired ones go; if none has expired, a login that would
/// need a new counter is refused (fails closed) until some expire.
const MAX_COUNTERS: usize = 100_000;
/// How often a full table of counters is swept for expired ones, at the most.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

struct Counter {
    since: Instant,
    failures: u32,
}

/// Why a login may not be tried now, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub Duration);

pub struct Logins {
    hashes: Semaphore,
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    by_key: HashMap<Key, Counter>,
    /// When a full table was last swept for expired counters: a sweep is a pass over all of
    /// them, so a full table is swept at most every few seconds, not on every login.
    swept: Option<Instant>,
}

impl Default for Logins {
    fn default() -> Self {
        Self { hashes: Semaphore::new(HASHES_AT_ONCE), counters: Mutex::default() }
    }
}

/// An IPv6 client is counted by its /64 (one subscriber's whole network).
fn address_key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            Key::Address(IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
        }
        IpAddr::V6(v6) => Key::Address(IpAddr::V4(v6.to_ipv4_mapped().expect("checked"))),
        v4 => Key::Address(v4),
    }
}

fn keys(email: &str, client: Option<IpAddr>) -> Vec<(Key, u32)> {
    let mut keys = vec![(Key::Account(email.to_string()), PER_ACCOUNT)];
    keys.extend(client.map(|ip| (address_key(ip), PER_ADDRESS)));
    keys
}

impl Logins {
    /// Whether `email` may try a password from `client` now; if so, the permit to hash one.
    pub fn admit(&self, email: &str, client: Option<IpAddr>) -> Result<SemaphorePermit<'_>, Wait> {
        {
            let mut guard = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            let Counters { by_key: counters, swept } = &mut *guard;
            let mut wait = Duration::ZERO;
            for (key, limit) in keys(email, client) {
                match counters.get(&key).map(|c| (c.since.elapsed(), c.failures)) {
                    Some((age, _)) if age >= WINDOW => {
                        counters.remove(&key);
                    }
                    Some((age, failures)) if failures >= limit => wait = wait.max(WINDOW - age),
                    Some(_) => {}
                    None if counters.len() >= MAX_COUNTERS => {
                        if swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                            counters.retain(|_, c| c.since.elapsed() < WINDOW);
                            *swept = Some(Instant::now());
                        }
                        if counters.len() >= MAX_COUNTERS {
                            wait = wait.max(Duration::from_secs(60));
                        }
                    }
                    None => {}
                }
            }
            if !wait.is_zero() {
                return Err(Wait(wait));
            }
        }
        self.hashes.try_acquire().map_err(|_| Wait(Duration::from_secs(2)))
    }

    /// A wrong email or password: counts against the account and the address.
    pub fn failed(&self, email: &str, client: Option<IpAddr>) {
        let mut guard = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let counters = &mut guard.by_key;
        for (key, _) in keys(email, client) {
            if counters.len() >= MAX_COUNTERS && !counters.contains_key(&key) {
                continue;
            }
            let counter = counters.entry(key).or_insert_with(|| Counter { since: Instant::now(), failures: 0 });
            if counter.since.elapsed() >= WINDOW {
                *counter = Counter { since: Instant::now(), failures: 0 };
            }
            counter.failures += 1;
        }
    }

    /// The right password: the account's count starts again (the address's does not, so one
    /// known password does not open the way to guessing others).
    pub fn succeeded(&self, email: &str) {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).by_key.remove(&Key::Account(email.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_refused_after_its_failures_and_a_success_resets_it() {
        let logins = Logins::default();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..PER_ACCOUNT {
            assert!(logins.admit("a@example.com", Some(ip)).is_ok());
            logins.failed("a@example.com", Some(ip));
        }
        let Err(Wait(wait)) = logins.admit("a@example.com", Some(ip)) else { panic!("the account is throttled") };
        assert!(wait > WINDOW - Duration::from_secs(5) && wait <= WINDOW, "{wait:?}");
        assert!(logins.admit("b@example.com", Some(ip)).is_ok(), "another account from the same address");
        logins.succeeded("a@example.com");
        assert!(logins.admit("a@example.com", Some(ip)).is_ok());
    }

    #[test]
    fn an_address_is_refused_across_accounts_and_ipv6_counts_by_its_64() {
        let logins = Logins::default();
        for i in 0..PER_ADDRESS {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            logins.failed(&format!("user{i}@example.com"), Some(ip));
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(logins.admit("new@example.com", Some(same_64)).is_err());
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(logins.admit("new@example.com", Some(other_64)).is_ok());
    }

    #[test]
    fn password_checks_at_once_are_bounded() {
        let logins = Logins::default();
        let held: Vec<_> = (0..HASHES_AT_ONCE).map(|_| logins.admit("x@example.com", None).unwrap()).collect();
        assert_eq!(logins.admit("y@example.com", None).unwrap_err(), Wait(Duration::from_secs(2)));
        drop(held);
        assert!(logins.admit("y@example.com", None).is_ok());
    }
}
