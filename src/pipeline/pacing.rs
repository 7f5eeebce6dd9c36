//! When a reply may leave: the number's send schedule, which keeps every instance together
//! under the configured rate, and the wait before a request that failed is tried again.

use std::time::Duration;

use rand::Rng;

use crate::{error::Result, state::AppState, twilio::TwilioError};

/// The share of the configured rate the schedule runs at: slots a little more than
/// `1 / rate` apart, so a few milliseconds of jitter on the way to Twilio cannot put more than
/// the cap into any one second there.
const RATE_MARGIN: f64 = 0.98;

/// Takes the number's next send slot. Returns `None` once the slot has come (after waiting a
/// little if need be), or how long to come back after when the schedule is full for longer.
/// The schedule is one row per number in the database, so the cap holds across all senders;
/// [`Departures`](super::departures::Departures) then makes sure this process never lets more than the cap leave in any one
/// second, even when workers that slept through their slots wake together.
pub(super) async fn reserve_slot(state: &AppState, number_id: &str) -> Result<Option<Duration>> {
    let Some(rate) = state.tuning.send_rate.filter(|r| *r > 0.0) else { return Ok(None) };
    let interval_us = (1_000_000.0 / (rate * RATE_MARGIN)).round().max(1.0) as i64;
    let max_wait_us = 2_000_000;
    let next: Option<(i64,)> = sqlx::query_as("SELECT next_at FROM send_schedule WHERE number_id = $1")
        .bind(number_id)
        .fetch_optional(&state.db.pool)
        .await?;
    if let Some((next_at,)) = next {
        let now_us = clock_us();
        if next_at - now_us > max_wait_us {
            return Ok(Some(Duration::from_micros((next_at - now_us - max_wait_us / 2) as u64)));
        }
    }
    let mut tx = state.db.begin_write().await?;
    // The time is read once the write turn is ours: a slot reserved from a time read before
    // waiting for it would already be past, and sends that waited together would leave together.
    let now_us = clock_us();
    let (next_at,): (i64,) = sqlx::query_as(
        "INSERT INTO send_schedule (number_id, next_at) VALUES ($1, $2 + $3) ON CONFLICT (number_id) DO UPDATE SET \
         next_at = CASE WHEN send_schedule.next_at > $2 THEN send_schedule.next_at + $3 ELSE $2 + $3 END RETURNING next_at",
    )
    .bind(number_id)
    .bind(now_us)
    .bind(interval_us)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let slot_us = next_at - interval_us;
    let now_us = clock_us();
    if slot_us > now_us {
        tokio::time::sleep(Duration::from_micros((slot_us - now_us) as u64)).await;
    }
    state.departures.wait_turn(number_id, rate).await;
    Ok(None)
}

fn clock_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or_default()
}

/// How long to wait before the next request for a reply after `attempts` requests that failed
/// with `e`: Twilio's `Retry-After` when it gave one (and a little jitter, so throttled replies
/// do not all come back together), else exponential from `base` (the first retry within it,
/// then doubling: a guest waits seconds, not tens of seconds, for a reply that hit a passing
/// fault or two), half of it jitter, at most 5 minutes.
pub fn backoff(base: Duration, attempts: i64, e: &TwilioError) -> Duration {
    let mut rng = rand::thread_rng();
    if let Some(asked) = e.retry_after() {
        let jitter_ms = (asked.as_millis() as u64 / 10).clamp(1, 1000);
        return asked + Duration::from_millis(rng.gen_range(0..=jitter_ms));
    }
    let base = base.as_millis() as u64;
    let exp = base.saturating_mul(1 << (attempts - 1).clamp(0, 16)).min(5 * 60 * 1000);
    Duration::from_millis(rng.gen_range(exp / 2..=exp.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let e = TwilioError::Api { status: 503, code: None, message: String::new(), retry_after: None };
        let first = backoff(Duration::from_millis(100), 1, &e);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
        let later = backoff(Duration::from_millis(100), 7, &e);
        assert!(later >= Duration::from_millis(3200), "{later:?}");
        let ra = TwilioError::Api {
            status: 429,
            code: Some(20429),
            message: String::new(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert!(backoff(Duration::from_millis(100), 1, &ra) >= Duration::from_secs(30));
        // However many attempts came before, Twilio's Retry-After decides, plus at most a second.
        for attempts in [1, 12, 40] {
            let wait = backoff(Duration::from_millis(100), attempts, &ra);
            assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(31), "{attempts}: {wait:?}");
        }
    }
}
