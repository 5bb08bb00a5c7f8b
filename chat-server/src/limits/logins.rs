//! Failed sign-ins, counted the way OWASP advises so that no stranger can
//! lock an account: per (username, address) pair, per address (across
//! usernames) and per username (across addresses), each over a window that
//! starts at its first failure.
//!
//! - A pair with `PAIR_LIMIT` failures is refused (429) until its window ends;
//!   a success clears only that pair.
//! - An address with `ADDRESS_LIMIT` failures, whatever the usernames, is
//!   refused likewise.
//! - A username's failures from many addresses never refuse anyone: past
//!   `PAIR_LIMIT` they only slow every sign-in for that username, doubling
//!   per failure up to `MAX_DELAY`, so guessing from a botnet is slow while
//!   the owner still gets in from an address that has not failed.
//!
//! With Redis every replica counts together (one atomic script per failure);
//! without it, or while it is down, each replica counts on its own, so a
//! sign-in never fails because Redis is down.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use redis::{Script, aio::ConnectionManager};

use super::fallback;

/// Failures after which a (username, address) pair is refused.
pub const PAIR_LIMIT: u64 = 5;
/// Failures after which an address is refused, across usernames.
pub const ADDRESS_LIMIT: u64 = 20;
/// How long failures are remembered, from the first.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Every failed attempt waits this long before its answer.
pub const FAILURE_DELAY: Duration = Duration::from_millis(300);
/// The longest a username under attack slows its sign-ins.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Counts one failure in a window of ARGV[1] ms that starts at the first
/// failure, for each key; returns nothing.
const COUNT_FAILURE: &str = r"
for _, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
";

/// What may happen to a sign-in before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Refused for this long (the pair or the address is locked).
    pub locked_for: Option<Duration>,
    /// Answered only after this long (the username is under attack).
    pub delay: Duration,
}

/// The three counters of one sign-in.
struct Keys {
    pair: String,
    address: String,
    user: String,
}

impl Keys {
    fn of(username: &str, address: &str) -> Self {
        let user = username.to_lowercase();
        Keys {
            pair: format!("mas:login:pair:{user}|{address}"),
            address: format!("mas:login:ip:{address}"),
            user: format!("mas:login:user:{user}"),
        }
    }
}

/// How much a username's failures slow its sign-ins.
fn delay(user_failures: u64) -> Duration {
    match user_failures.checked_sub(PAIR_LIMIT) {
        None => Duration::ZERO,
        Some(over) => FAILURE_DELAY
            .saturating_mul(1 << over.min(8))
            .min(MAX_DELAY),
    }
}

/// (pair failures, its time left in ms, address failures, its time left,
/// username failures), as Redis answers them.
type Counts = (Option<u64>, i64, Option<u64>, i64, Option<u64>);

/// Failed sign-ins, shared through Redis when it is there.
pub struct Logins {
    redis: Option<ConnectionManager>,
    local: LocalCounts,
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
            local: LocalCounts::default(),
            count_failure: Script::new(COUNT_FAILURE),
        }
    }

    /// Whether a sign-in of `username` from `address` may be tried, and how
    /// long it must wait first.
    pub async fn check(&self, username: &str, address: &str) -> Verdict {
        let keys = Keys::of(username, address);
        let counts = match &self.redis {
            Some(redis) => {
                let mut connection = redis.clone();
                let answer: redis::RedisResult<Counts> = redis::pipe()
                    .get(&keys.pair)
                    .pttl(&keys.pair)
                    .get(&keys.address)
                    .pttl(&keys.address)
                    .get(&keys.user)
                    .query_async(&mut connection)
                    .await;
                fallback("sign-in throttle", answer).map(|(pair, pair_ttl, ip, ip_ttl, user)| {
                    let left = |ttl: i64| Duration::from_millis(ttl.max(1000) as u64);
                    [
                        (pair.unwrap_or(0), left(pair_ttl)),
                        (ip.unwrap_or(0), left(ip_ttl)),
                        (user.unwrap_or(0), Duration::ZERO),
                    ]
                })
            }
            None => None,
        }
        .unwrap_or_else(|| {
            [&keys.pair, &keys.address, &keys.user].map(|key| self.local.count(key))
        });
        let [(pair, pair_left), (ip, ip_left), (user, _)] = counts;
        let locked_for = [
            (pair >= PAIR_LIMIT, pair_left),
            (ip >= ADDRESS_LIMIT, ip_left),
        ]
        .into_iter()
        .filter(|(locked, _)| *locked)
        .map(|(_, left)| left)
        .max();
        Verdict {
            locked_for,
            delay: delay(user),
        }
    }

    /// Counts one failure of `username` from `address`.
    pub async fn failed(&self, username: &str, address: &str) {
        let keys = Keys::of(username, address);
        for key in [&keys.pair, &keys.address, &keys.user] {
            self.local.failed(key);
        }
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let counted: redis::RedisResult<i64> = self
                .count_failure
                .key(&keys.pair)
                .key(&keys.address)
                .key(&keys.user)
                .arg(WINDOW.as_millis() as u64)
                .invoke_async(&mut connection)
                .await;
            fallback("sign-in throttle", counted);
        }
    }

    /// Clears the failures of this (username, address) pair, and no others.
    pub async fn succeeded(&self, username: &str, address: &str) {
        let keys = Keys::of(username, address);
        self.local.clear(&keys.pair);
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let deleted: redis::RedisResult<i64> = redis::cmd("DEL")
                .arg(&keys.pair)
                .query_async(&mut connection)
                .await;
            fallback("sign-in throttle", deleted);
        }
    }

    /// Forgets this replica's counts whose window has ended; how many went.
    pub fn prune(&self) -> usize {
        self.local.prune()
    }
}

/// One replica's own counts: key -> (failures, first failure).
#[derive(Debug, Default)]
struct LocalCounts {
    counts: Mutex<HashMap<String, (u64, Instant)>>,
}

impl LocalCounts {
    /// (failures in the window, time left in it).
    fn count(&self, key: &str) -> (u64, Duration) {
        let Ok(counts) = self.counts.lock() else {
            return (0, Duration::ZERO);
        };
        match counts.get(key) {
            Some((n, first)) if first.elapsed() < WINDOW => (*n, WINDOW - first.elapsed()),
            _ => (0, Duration::ZERO),
        }
    }

    fn failed(&self, key: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            let entry = counts.entry(key.to_owned()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    fn clear(&self, key: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.remove(key);
        }
    }

    fn prune(&self) -> usize {
        let Ok(mut counts) = self.counts.lock() else {
            return 0;
        };
        let before = counts.len();
        counts.retain(|_, (_, first)| first.elapsed() < WINDOW);
        before - counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pair_locks_after_five_failures_and_a_stranger_only_slows_the_username() {
        let logins = Logins::default();
        for _ in 0..PAIR_LIMIT {
            assert_eq!(logins.check("alice", "203.0.113.7").await.locked_for, None);
            logins.failed("Alice", "203.0.113.7").await;
        }
        let verdict = logins.check("alice", "203.0.113.7").await;
        assert!(
            verdict
                .locked_for
                .is_some_and(|d| d > Duration::from_secs(14 * 60))
        );
        let elsewhere = logins.check("alice", "198.51.100.9").await;
        assert_eq!(elsewhere.locked_for, None, "another address is not refused");
        assert_eq!(elsewhere.delay, FAILURE_DELAY, "but the username is slowed");
        logins.succeeded("alice", "198.51.100.9").await;
        assert!(
            logins
                .check("alice", "203.0.113.7")
                .await
                .locked_for
                .is_some(),
            "a success clears only its own pair"
        );
        logins.failed("alice", "203.0.113.7").await;
        logins.failed("alice", "203.0.113.7").await;
        assert_eq!(
            logins.check("alice", "192.0.2.1").await.delay,
            FAILURE_DELAY * 4,
            "the slow-down doubles per failure"
        );
        for _ in 0..20 {
            logins.failed("alice", "192.0.2.1").await;
        }
        assert_eq!(logins.check("alice", "192.0.2.1").await.delay, MAX_DELAY);
    }

    #[tokio::test]
    async fn an_address_that_fails_across_many_usernames_is_refused() {
        let logins = Logins::default();
        for i in 0..ADDRESS_LIMIT {
            logins.failed(&format!("user{i}"), "203.0.113.7").await;
        }
        assert!(
            logins
                .check("bob", "203.0.113.7")
                .await
                .locked_for
                .is_some()
        );
        assert_eq!(logins.check("bob", "198.51.100.9").await.locked_for, None);
    }
}
