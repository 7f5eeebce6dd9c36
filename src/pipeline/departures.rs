//! When this process's recent sends left, per number: the rate cap's last guard.

use std::time::Duration;

/// When this process's last sends left, per number: a sliding window that holds a send back
/// while the cap's worth have left within the last second.
#[derive(Default)]
pub struct Departures {
    recent: std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<tokio::time::Instant>>>,
}

impl Departures {
    /// Waits until a send from the number keeps within `rate` per second, and counts it.
    pub async fn wait_turn(&self, number_id: &str, rate: f64) {
        let cap = (rate.floor() as usize).max(1);
        let second = Duration::from_secs(1);
        loop {
            let wait = {
                let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
                let now = tokio::time::Instant::now();
                let left = recent.entry(number_id.to_string()).or_default();
                while left.front().is_some_and(|t| now.duration_since(*t) >= second) {
                    left.pop_front();
                }
                if left.len() < cap {
                    left.push_back(now);
                    return;
                }
                (left[left.len() - cap] + second).saturating_duration_since(now)
            };
            tokio::time::sleep(wait.max(Duration::from_micros(100))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Departures;

    #[tokio::test]
    async fn no_more_than_the_cap_leaves_in_any_one_second() {
        let departures = Departures::default();
        let start = tokio::time::Instant::now();
        let mut left = Vec::new();
        for _ in 0..8 {
            departures.wait_turn("PN1", 5.0).await;
            left.push(start.elapsed());
        }
        // Five at once, then each only once the one five before it is a second old.
        assert!(left[4] < Duration::from_millis(100), "{left:?}");
        for i in 5..8 {
            assert!(left[i] >= left[i - 5] + Duration::from_secs(1), "{left:?}");
        }
        // Another number has its own count.
        let before = tokio::time::Instant::now();
        departures.wait_turn("PN2", 5.0).await;
        assert!(before.elapsed() < Duration::from_millis(100));
    }
}
