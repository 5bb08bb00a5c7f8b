//! Failed sign-ins, counted per username and per address over a window:
//! past the limit, sign-in is refused (429) until the window ends. With
//! Redis every replica counts together (one atomic script per failure);
//! without it, or while it is down, each replica counts on its own
//! (`LoginThrottle`), so a sign-in never fails because Redis is down.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use redis::{Script, aio::ConnectionManager};

use super::fallback;

/// Failures allowed per key within `WINDOW`.
pub const LIMIT: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Every failed attempt also waits this long before its answer.
pub const FAILURE_DELAY: Duration = Duration::from_millis(300);

/// Counts one failed sign-in in a window of ARGV[1] ms that starts at the
/// first failure; returns the count.
const COUNT_FAILURE: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Failed sign-ins, shared through Redis when it is there.
pub struct Logins {
    redis: Option<ConnectionManager>,
    local: LoginThrottle,
    count_failure: Script,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Logins {
    /// This replica's own count only.
    fn default() -> Self {
        Logins::new(None)
    }
}

impl Logins {
    pub fn new(redis: Option<ConnectionManager>) -> Self {
        Logins {
            redis,
            local: LoginThrottle::default(),
            count_failure: Script::new(COUNT_FAILURE),
        }
    }

    fn key(key: &str) -> String {
        format!("mas:login:{key}")
    }

    /// How long sign-ins for `key` (a user or an address) are refused, if they are.
    pub async fn blocked(&self, key: &str) -> Option<Duration> {
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let answer: redis::RedisResult<(Option<u64>, i64)> = redis::pipe()
                .cmd("GET")
                .arg(Self::key(key))
                .cmd("PTTL")
                .arg(Self::key(key))
                .query_async(&mut connection)
                .await;
            if let Some((failures, ttl)) = fallback("sign-in throttle", answer) {
                return (failures.unwrap_or(0) >= LIMIT as u64)
                    .then(|| Duration::from_millis(ttl.max(1000) as u64));
            }
        }
        self.local.blocked(key)
    }

    /// Counts one failure for `key`.
    pub async fn failed(&self, key: &str) {
        self.local.failed(key);
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let counted: redis::RedisResult<i64> = self
                .count_failure
                .key(Self::key(key))
                .arg(WINDOW.as_millis() as u64)
                .invoke_async(&mut connection)
                .await;
            fallback("sign-in throttle", counted);
        }
    }

    /// Clears `key`'s failures.
    pub async fn succeeded(&self, key: &str) {
        self.local.succeeded(key);
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let deleted: redis::RedisResult<i64> = redis::cmd("DEL")
                .arg(Self::key(key))
                .query_async(&mut connection)
                .await;
            fallback("sign-in throttle", deleted);
        }
    }
}

/// One replica's own count of failures per key: the fallback.
#[derive(Debug, Default)]
struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginThrottle {
    /// How long `key` must wait, if it is over the limit.
    fn blocked(&self, key: &str) -> Option<Duration> {
        let mut failures = self.failures.lock().ok()?;
        let list = failures.get_mut(key)?;
        list.retain(|t| t.elapsed() < WINDOW);
        (list.len() >= LIMIT).then(|| WINDOW.saturating_sub(list[0].elapsed()))
    }

    fn failed(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures
                .entry(key.to_owned())
                .or_default()
                .push(Instant::now());
        }
    }

    fn succeeded(&self, key: &str) {
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
