//! Limits that must hold for every replica at once, each counted in Redis
//! when it is configured and in process otherwise (and while Redis is down:
//! no request fails because Redis does): request budgets (`rate`), runs and
//! tokens per user (`quota`), failed sign-ins (`logins`).

pub mod logins;
pub mod quota;
pub mod rate;

use std::time::Duration;

use redis::aio::ConnectionManager;

pub use logins::Logins;
pub use quota::{Quotas, Refusal};
pub use rate::{Budgets, Class, Decision, Quota, RateLimiter};

/// Connects to Redis (a short timeout): `None` when it cannot be reached,
/// in which case the limits stay in process.
pub async fn connect_redis(url: &str) -> Option<ConnectionManager> {
    let client = redis::Client::open(url).ok()?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_millis(500))
        .set_number_of_retries(1);
    match ConnectionManager::new_with_config(client, config).await {
        Ok(manager) => Some(manager),
        Err(e) => {
            tracing::warn!(error = %e, "Redis unreachable: the limits stay in process");
            None
        }
    }
}

/// Whether Redis answers a PING within a second.
pub async fn ping(redis: &ConnectionManager) -> bool {
    let mut connection = redis.clone();
    let pong = tokio::time::timeout(
        Duration::from_secs(1),
        redis::cmd("PING").query_async::<String>(&mut connection),
    )
    .await;
    matches!(pong, Ok(Ok(_)))
}

/// `result`'s value, or `None` (counted and logged) when Redis failed: the
/// caller then counts on this replica.
fn fallback<T>(what: &str, result: redis::RedisResult<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            metrics::counter!("mas_rate_limit_fallbacks_total").increment(1);
            tracing::warn!(error = %e, "Redis {what} failed: counting on this replica");
            None
        }
    }
}
