//! Request rate limits, per user (or API key's user) and per client address,
//! as token buckets (GCRA: a steady rate with a burst): per second, separate
//! budgets for starting runs and for other API calls (which one a route is
//! charged to is said by its route group, `http::router`); and, for every
//! request alike, optional budgets per minute and per hour, in the units
//! operators quote ("100 requests an hour"). With `REDIS_URL` the buckets
//! live in Redis and one Lua script checks and charges all of a request's
//! buckets atomically, so every replica shares them; when Redis is absent or
//! fails, each replica falls back to its own buckets (governor) rather than
//! failing the request.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

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
    /// Starting a run (`POST /chat/stream`, `POST /api/chat`, `/v1/chat/completions`).
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

/// The budgets of every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Per second, for starting runs and for other calls (`None`: off).
    pub per_second: Option<(Quota, Quota)>,
    /// Requests per minute, of any kind (`None`: off).
    pub per_minute: Option<u32>,
    /// Requests per hour, of any kind (`None`: off).
    pub per_hour: Option<u32>,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The burst of the tightest bucket.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until a request would be allowed again (0 when allowed).
    pub retry_after: u64,
}

/// GCRA over every bucket of a request at once, with Redis's own clock so
/// replicas agree: the request is admitted only if every bucket has room,
/// and only then are they all charged (a request one bucket refuses costs
/// the others nothing). KEYS: the buckets; ARGV[2i-1], ARGV[2i]: bucket i's
/// emission interval (µs) and burst. Returns {allowed, wait µs, remaining,
/// limit} (remaining and limit of the tightest bucket).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local allow_at = tat - (burst - 1) * interval
  if now < allow_at and allow_at - now > wait then wait = allow_at - now end
end
if wait > 0 then
  return {0, wait, 0, 0}
end
local remaining = -1
local limit = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local new_tat = tats[i] + interval
  redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  local left = math.floor((burst * interval - (new_tat - now)) / interval)
  if remaining < 0 or left < remaining then remaining = left; limit = burst end
end
return {1, 0, remaining, limit}
";

type Local =
    Governor<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// One kind of bucket: its name in Redis, its rate and burst, and this
/// replica's own buckets of that kind.
struct Kind {
    name: &'static str,
    /// Time between two requests at the steady rate.
    interval: Duration,
    burst: u32,
    local: Local,
}

impl Kind {
    fn new(name: &'static str, count: u32, per: Duration) -> Option<Self> {
        let burst = NonZeroU32::new(count)?;
        let interval = per / count;
        let quota = GovernorQuota::with_period(interval)?.allow_burst(burst);
        Some(Kind {
            name,
            interval,
            burst: count,
            local: Governor::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        })
    }

    fn second(name: &'static str, quota: Quota) -> Option<Self> {
        let per_second = NonZeroU32::new(quota.per_second)?;
        let burst = NonZeroU32::new(quota.burst)?;
        let governor = GovernorQuota::per_second(per_second).allow_burst(burst);
        Some(Kind {
            name,
            interval: Duration::from_secs(1) / quota.per_second,
            burst: quota.burst,
            local: Governor::keyed(governor).with_middleware::<StateInformationMiddleware>(),
        })
    }
}

pub struct RateLimiter {
    chat: Option<Kind>,
    api: Option<Kind>,
    minute: Option<Kind>,
    hour: Option<Kind>,
    redis: Option<ConnectionManager>,
    script: Script,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let burst = |k: &Option<Kind>| k.as_ref().map(|k| k.burst);
        f.debug_struct("RateLimiter")
            .field("chat", &burst(&self.chat))
            .field("api", &burst(&self.api))
            .field("minute", &burst(&self.minute))
            .field("hour", &burst(&self.hour))
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

impl RateLimiter {
    /// `redis`: a connection to share buckets through (None: in process
    /// only). `None` when no budget is set at all.
    pub fn new(budgets: Budgets, redis: Option<ConnectionManager>) -> Option<Arc<Self>> {
        let (chat, api) = match budgets.per_second {
            Some((chat, api)) => (Kind::second("chat", chat), Kind::second("api", api)),
            None => (None, None),
        };
        let limiter = RateLimiter {
            chat,
            api,
            minute: budgets
                .per_minute
                .and_then(|n| Kind::new("minute", n, Duration::from_secs(60))),
            hour: budgets
                .per_hour
                .and_then(|n| Kind::new("hour", n, Duration::from_secs(3600))),
            redis,
            script: Script::new(GCRA),
        };
        let any = [&limiter.chat, &limiter.api, &limiter.minute, &limiter.hour]
            .iter()
            .any(|k| k.is_some());
        any.then(|| Arc::new(limiter))
    }

    /// Whether the shared Redis answers (`None`: none is configured).
    pub async fn redis_up(&self) -> Option<bool> {
        Some(super::ping(self.redis.as_ref()?).await)
    }

    fn kinds(&self, class: Class) -> impl Iterator<Item = &Kind> {
        let per_second = match class {
            Class::Chat => &self.chat,
            Class::Api => &self.api,
        };
        [per_second, &self.minute, &self.hour]
            .into_iter()
            .filter_map(Option::as_ref)
    }

    /// Forgets this replica's buckets that are full again (they would
    /// answer the same if made afresh); how many went.
    pub fn prune(&self) -> usize {
        [&self.chat, &self.api, &self.minute, &self.hour]
            .iter()
            .filter_map(|k| k.as_ref())
            .map(|kind| {
                let before = kind.local.len();
                kind.local.retain_recent();
                kind.local.shrink_to_fit();
                before.saturating_sub(kind.local.len())
            })
            .sum()
    }

    /// Charges one request to every bucket of `class` for each of `keys`
    /// (e.g. its user and its address); refused when any of them is empty.
    pub async fn check(&self, class: Class, keys: &[String]) -> Decision {
        let buckets: Vec<(&Kind, String)> = keys
            .iter()
            .flat_map(|key| {
                self.kinds(class)
                    .map(move |kind| (kind, format!("mas:rl:{}:{key}", kind.name)))
            })
            .collect();
        let open = Decision {
            allowed: true,
            limit: buckets.iter().map(|(k, _)| k.burst).min().unwrap_or(0),
            remaining: buckets.iter().map(|(k, _)| k.burst).min().unwrap_or(0),
            retry_after: 0,
        };
        if buckets.is_empty() {
            return open;
        }
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let mut invocation = self.script.prepare_invoke();
            for (kind, bucket) in &buckets {
                invocation
                    .key(bucket)
                    .arg(kind.interval.as_micros() as u64)
                    .arg(kind.burst);
            }
            let answer: redis::RedisResult<(i64, i64, i64, i64)> =
                invocation.invoke_async(&mut connection).await;
            match answer {
                Ok((allowed, wait_us, remaining, limit)) => {
                    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(0);
                    return Decision {
                        allowed: allowed == 1,
                        limit: if allowed == 1 {
                            count(limit)
                        } else {
                            open.limit
                        },
                        remaining: count(remaining),
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
        let mut decision = open;
        for (kind, bucket) in &buckets {
            match kind.local.check_key(bucket) {
                Ok(snapshot) => {
                    if snapshot.remaining_burst_capacity() < decision.remaining {
                        decision.remaining = snapshot.remaining_burst_capacity();
                        decision.limit = kind.burst;
                    }
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
