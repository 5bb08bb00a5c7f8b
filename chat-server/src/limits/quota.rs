//! Per-user limits on runs that must hold across replicas: runs going at
//! once (`MAX_RUNS_PER_USER`) and model tokens per UTC day
//! (`DAILY_TOKEN_BUDGET`). With Redis every check-and-update is one atomic
//! command or script, on Redis's clock where time matters, so all replicas
//! count together; when Redis is absent or fails, each replica counts on its
//! own (the request is never failed because Redis is down).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::{Script, aio::ConnectionManager};

use super::fallback;

/// Runs one user may have going at once, unless set otherwise.
pub const DEFAULT_RUNS_PER_USER: usize = 3;

/// How long a run's slot lasts without renewal (the producing replica
/// renews it with the run's lease, every lease tick of `runs::handover`): a
/// replica that dies frees its users' slots within this time.
pub const RUN_LEASE: Duration = Duration::from_secs(60);

/// Takes a run slot if the user has fewer than ARGV[1] live ones. KEYS[1]:
/// the user's sorted set of run ids scored by lease expiry (ms); ARGV[2]:
/// the run id; ARGV[3]: the lease (ms). Returns -1 when taken, else the
/// number of runs the user has going.
const TAKE_SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[1]) then return n end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
return -1
";

/// Extends a held slot (ARGV[1] run id, ARGV[2] lease ms); a slot that has
/// already lapsed is not brought back.
const RENEW_SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return 0
";

/// Why a run may not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("you have {0} answers in progress already; wait for one to finish or stop it")]
    Runs(usize),
    #[error(
        "you have used your daily budget of {budget} model tokens ({used} used); it renews at 00:00 UTC"
    )]
    Tokens {
        used: u64,
        budget: u64,
        /// Seconds until the budget renews.
        retry_after: u64,
    },
}

pub struct Quotas {
    redis: Option<ConnectionManager>,
    runs_per_user: usize,
    /// Tokens per user per UTC day (0: unlimited).
    daily_tokens: u64,
    /// This replica's own token counts, by (user, day): the fallback.
    tokens: Mutex<HashMap<(String, u64), u64>>,
    take_slot: Script,
    renew_slot: Script,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("redis", &self.redis.is_some())
            .field("runs_per_user", &self.runs_per_user)
            .field("daily_tokens", &self.daily_tokens)
            .finish()
    }
}

/// Days since the epoch, and seconds left in the current one (UTC).
fn today() -> (u64, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    (now / 86_400, 86_400 - now % 86_400)
}

impl Quotas {
    /// `redis`: where replicas count together (None: this replica only).
    pub fn new(redis: Option<ConnectionManager>, runs_per_user: usize, daily_tokens: u64) -> Self {
        Quotas {
            redis,
            runs_per_user: runs_per_user.max(1),
            daily_tokens,
            tokens: Mutex::default(),
            take_slot: Script::new(TAKE_SLOT),
            renew_slot: Script::new(RENEW_SLOT),
        }
    }

    fn slots_key(user: &str) -> String {
        format!("mas:runs:{user}")
    }

    fn tokens_key(user: &str, day: u64) -> String {
        format!("mas:tokens:{user}:{day}")
    }

    /// Tokens `user` has spent today.
    pub async fn tokens_used(&self, user: &str) -> u64 {
        let (day, _) = today();
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let used: redis::RedisResult<Option<u64>> = redis::cmd("GET")
                .arg(Self::tokens_key(user, day))
                .query_async(&mut connection)
                .await;
            if let Some(used) = fallback("token budget", used) {
                return used.unwrap_or(0);
            }
        }
        self.tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&(user.to_owned(), day)).copied())
            .unwrap_or(0)
    }

    /// Whether `user` may start run `run_id`: within today's token budget and
    /// with a free run slot (taken for the run if so). `running_here` is how
    /// many runs the user has on this replica, the count used without Redis.
    pub async fn begin_run(
        &self,
        user: &str,
        run_id: &str,
        running_here: usize,
    ) -> Result<(), Refusal> {
        if self.daily_tokens > 0 {
            let used = self.tokens_used(user).await;
            if used >= self.daily_tokens {
                return Err(Refusal::Tokens {
                    used,
                    budget: self.daily_tokens,
                    retry_after: today().1,
                });
            }
        }
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let taken: redis::RedisResult<i64> = self
                .take_slot
                .key(Self::slots_key(user))
                .arg(self.runs_per_user)
                .arg(run_id)
                .arg(RUN_LEASE.as_millis() as u64)
                .invoke_async(&mut connection)
                .await;
            if let Some(taken) = fallback("run slot", taken) {
                return match usize::try_from(taken) {
                    Ok(running) => Err(Refusal::Runs(running)),
                    Err(_) => Ok(()),
                };
            }
        }
        if running_here >= self.runs_per_user {
            return Err(Refusal::Runs(running_here));
        }
        Ok(())
    }

    /// Frees the run's slot and charges its tokens to `user`'s day.
    pub async fn end_run(&self, user: &str, run_id: &str, tokens: u64) {
        let (day, _) = today();
        if tokens > 0
            && let Ok(mut counts) = self.tokens.lock()
        {
            counts.retain(|(_, d), _| *d >= day);
            *counts.entry((user.to_owned(), day)).or_default() += tokens;
        }
        let Some(redis) = &self.redis else { return };
        let mut connection = redis.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM")
            .arg(Self::slots_key(user))
            .arg(run_id)
            .ignore();
        if tokens > 0 {
            let key = Self::tokens_key(user, day);
            pipe.cmd("INCRBY").arg(&key).arg(tokens).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(2 * 86_400).ignore();
        }
        fallback("run end", pipe.query_async::<()>(&mut connection).await);
    }

    /// Forgets this replica's token counts of days gone by; how many went.
    pub fn prune(&self) -> usize {
        let (day, _) = today();
        self.tokens.lock().map_or(0, |mut counts| {
            let before = counts.len();
            counts.retain(|(_, d), _| *d >= day);
            before - counts.len()
        })
    }

    /// Renews the slots of runs still going here: (user, run id).
    pub async fn renew(&self, runs: &[(String, String)]) {
        let Some(redis) = &self.redis else { return };
        for (user, run_id) in runs {
            let mut connection = redis.clone();
            let renewed: redis::RedisResult<i64> = self
                .renew_slot
                .key(Self::slots_key(user))
                .arg(run_id)
                .arg(RUN_LEASE.as_millis() as u64)
                .invoke_async(&mut connection)
                .await;
            if fallback("run lease renewal", renewed).is_none() {
                return;
            }
        }
    }
}

impl Default for Quotas {
    /// In process, 3 runs per user, no token budget.
    fn default() -> Self {
        Quotas::new(None, DEFAULT_RUNS_PER_USER, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_redis_the_token_budget_and_run_cap_are_counted_here() {
        let quotas = Quotas::new(None, 2, 100);
        assert_eq!(quotas.begin_run("ann", "r1", 1).await, Ok(()));
        assert_eq!(
            quotas.begin_run("ann", "r2", 2).await,
            Err(Refusal::Runs(2))
        );
        quotas.end_run("ann", "r1", 60).await;
        assert_eq!(quotas.tokens_used("ann").await, 60);
        assert_eq!(quotas.begin_run("ann", "r3", 0).await, Ok(()));
        quotas.end_run("ann", "r3", 40).await;
        let Err(Refusal::Tokens {
            used, retry_after, ..
        }) = quotas.begin_run("ann", "r4", 0).await
        else {
            panic!("over budget")
        };
        assert_eq!(used, 100);
        assert!((1..=86_400).contains(&retry_after));
        assert_eq!(
            quotas.begin_run("bob", "r5", 0).await,
            Ok(()),
            "budgets are per user"
        );
    }
}
