//! Failed sign-ins, counted per username and per address over a window: past
//! the limit, sign-in is refused (429) until the oldest failure leaves the
//! window. This is one replica's own count; `quota::Quotas` keeps the shared
//! one in Redis and falls back to this.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failures allowed per key within `WINDOW`.
pub const LIMIT: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Every failed attempt also waits this long before its answer.
pub const FAILURE_DELAY: Duration = Duration::from_millis(300);

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginThrottle {
    /// How long `key` must wait, if it is over the limit.
    pub fn blocked(&self, key: &str) -> Option<Duration> {
        let mut failures = self.failures.lock().ok()?;
        let list = failures.get_mut(key)?;
        list.retain(|t| t.elapsed() < WINDOW);
        (list.len() >= LIMIT).then(|| WINDOW.saturating_sub(list[0].elapsed()))
    }

    pub fn failed(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures
                .entry(key.to_owned())
                .or_default()
                .push(Instant::now());
        }
    }

    pub fn succeeded(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_a_key_and_a_success_clears_it() {
        let throttle = LoginThrottle::default();
        for _ in 0..LIMIT - 1 {
            throttle.failed("user:alice");
        }
        assert_eq!(throttle.blocked("user:alice"), None);
        throttle.failed("user:alice");
        let wait = throttle.blocked("user:alice").expect("blocked");
        assert!(wait > Duration::from_secs(14 * 60));
        assert_eq!(throttle.blocked("user:bob"), None);
        throttle.succeeded("user:alice");
        assert_eq!(throttle.blocked("user:alice"), None);
    }
}
