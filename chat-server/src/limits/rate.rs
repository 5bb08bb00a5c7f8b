//! Request rate limits: separate budgets for chat runs and for other API
//! calls, per user (or API key's user) and per client address, as token
//! buckets (GCRA: a steady rate with a burst). Which class a route is
//! charged to is said by the route group it belongs to (`http::router`). With `REDIS_URL` the buckets
//! live in Redis and one Lua script checks and updates a bucket atomically,
//! so every replica shares them; when Redis is absent or fails, each replica
//! falls back to its own in-process buckets (governor) rather than failing
//! the request.

use std::{num::NonZeroU32, sync::Arc};

use governor::{
    Quota as GovernorQuota, RateLimiter as Governor,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use redis::{Script, aio::ConnectionManager};

/// What a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Starting a run (`POST /chat/stream`, `POST /api/chat`).
    Chat,
    /// Any other API call.
    Api,
}

/// A steady rate with a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until a request would be allowed again (0 when allowed).
    pub retry_after: u64,
}

/// GCRA over every bucket of a request at once, with Redis's own clock so
/// replicas agree: the request is admitted only if every bucket has room,
/// and only then are they all charged (a request one bucket refuses costs
/// the others nothing). KEYS: the buckets; ARGV[1] emission interval (µs);
/// ARGV[2] burst. Returns {allowed, wait µs, remaining}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tats = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local allow_at = tat - (burst - 1) * interval
  if now < allow_at and allow_at - now > wait then wait = allow_at - now end
end
if wait > 0 then
  return {0, wait, 0}
end
local remaining = burst
for i, key in ipairs(KEYS) do
  local new_tat = tats[i] + interval
  redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  local left = math.floor((burst * interval - (new_tat - now)) / interval)
  if left < remaining then remaining = left end
end
return {1, 0, remaining}
";

type Local =
    Governor<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

pub struct RateLimiter {
    chat: Quota,
    api: Quota,
    local_chat: Local,
    local_api: Local,
    redis: Option<ConnectionManager>,
    script: Script,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("chat", &self.chat)
            .field("api", &self.api)
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

fn governor(quota: Quota) -> Option<Local> {
    let quota = GovernorQuota::per_second(NonZeroU32::new(quota.per_second)?)
        .allow_burst(NonZeroU32::new(quota.burst)?);
    Some(Governor::keyed(quota).with_middleware::<StateInformationMiddleware>())
}

impl RateLimiter {
    /// `redis`: a connection to share buckets through (None: in process only).
    /// Rates and bursts must be at least 1.
    pub fn new(chat: Quota, api: Quota, redis: Option<ConnectionManager>) -> Option<Arc<Self>> {
        Some(Arc::new(RateLimiter {
            chat,
            api,
            local_chat: governor(chat)?,
            local_api: governor(api)?,
            redis,
            script: Script::new(GCRA),
        }))
    }

    /// Whether the shared Redis answers (`None`: none is configured).
    pub async fn redis_up(&self) -> Option<bool> {
        Some(super::ping(self.redis.as_ref()?).await)
    }

    fn quota(&self, class: Class) -> Quota {
        match class {
            Class::Chat => self.chat,
            Class::Api => self.api,
        }
    }

    /// Charges one request to every bucket in `keys` (e.g. its user and its
    /// address); refused when any of them is empty.
    pub async fn check(&self, class: Class, keys: &[String]) -> Decision {
        let quota = self.quota(class);
        let buckets: Vec<String> = keys
            .iter()
            .map(|key| {
                format!(
                    "mas:rl:{}:{key}",
                    if class == Class::Chat { "chat" } else { "api" }
                )
            })
            .collect();
        if buckets.is_empty() {
            return Decision {
                allowed: true,
                limit: quota.burst,
                remaining: quota.burst,
                retry_after: 0,
            };
        }
        if let Some(redis) = &self.redis {
            let interval = 1_000_000 / u64::from(quota.per_second);
            let mut connection = redis.clone();
            let mut invocation = self.script.prepare_invoke();
            for bucket in &buckets {
                invocation.key(bucket);
            }
            let answer: redis::RedisResult<(i64, i64, i64)> = invocation
                .arg(interval)
                .arg(quota.burst)
                .invoke_async(&mut connection)
                .await;
            match answer {
                Ok((allowed, wait_us, remaining)) => {
                    return Decision {
                        allowed: allowed == 1,
                        limit: quota.burst,
                        remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
                        retry_after: (wait_us.max(0) as u64).div_ceil(1_000_000),
                    };
                }
                Err(e) => {
                    metrics::counter!("mas_rate_limit_fallbacks_total").increment(1);
                    tracing::warn!(error = %e, "Redis rate limit failed: using this replica's limits");
                }
            }
        }
        // This replica's own buckets (governor cannot test without charging,
        // so here a refused request may still have cost another bucket one).
        let local = match class {
            Class::Chat => &self.local_chat,
            Class::Api => &self.local_api,
        };
        let mut decision = Decision {
            allowed: true,
            limit: quota.burst,
            remaining: quota.burst,
            retry_after: 0,
        };
        for bucket in &buckets {
            match local.check_key(bucket) {
                Ok(snapshot) => {
                    decision.remaining =
                        decision.remaining.min(snapshot.remaining_burst_capacity());
                }
                Err(not_until) => {
                    decision.allowed = false;
                    decision.remaining = 0;
                    decision.retry_after = decision.retry_after.max(
                        not_until
                            .wait_time_from(DefaultClock::default().now())
                            .as_secs()
                            .max(1),
                    );
                }
            }
        }
        decision
    }
}
