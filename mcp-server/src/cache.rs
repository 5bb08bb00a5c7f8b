//! Tool-result cache: key = tool name + normalised arguments, value = the
//! serialised result. In process (moka) by default, Redis when `REDIS_URL` is
//! set so replicas share it. A Redis outage degrades to "no cache", never to
//! an error, and hits and misses are counted in metrics.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{AsyncCommands, aio::ConnectionManager};
use serde_json::{Map, Value};

/// Prefix of every cache key in Redis, so the cache can share a database.
const REDIS_PREFIX: &str = "mas:mcp:tool:";
/// How long a Redis command may take before the cache gives up on it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

#[async_trait]
pub trait ToolCache: Send + Sync {
    /// `memory`, `redis` or `off`.
    fn kind(&self) -> &'static str;
    async fn get(&self, key: &str) -> Option<String>;
    async fn put(&self, key: &str, value: String);
}

/// Builds the cache key for a tool call: arguments with object keys sorted,
/// nulls dropped, and strings trimmed, whitespace-collapsed and lower-cased
/// (every argument is case-insensitive except ids, which are kept as given).
pub fn cache_key(tool: &str, arguments: Option<&Map<String, Value>>) -> String {
    let args = arguments
        .map(|m| normalise(None, &Value::Object(m.clone())))
        .unwrap_or(Value::Null);
    format!("{tool}:{args}")
}

fn normalise(key: Option<&str>, value: &Value) -> Value {
    match value {
        Value::String(s) if key == Some("id") => Value::String(s.trim().to_owned()),
        Value::String(s) => Value::String(
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        ),
        // serde_json's Map is ordered by key, so re-inserting sorts it.
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalise(Some(k), v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(key, v)).collect()),
        other => other.clone(),
    }
}

/// No caching (TTL 0).
pub struct NoCache;

#[async_trait]
impl ToolCache for NoCache {
    fn kind(&self) -> &'static str {
        "off"
    }
    async fn get(&self, _key: &str) -> Option<String> {
        None
    }
    async fn put(&self, _key: &str, _value: String) {}
}

/// In-process cache with a TTL and a size bound.
pub struct MemoryCache(moka::future::Cache<String, Arc<str>>);

impl MemoryCache {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        MemoryCache(
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        )
    }
}

#[async_trait]
impl ToolCache for MemoryCache {
    fn kind(&self) -> &'static str {
        "memory"
    }
    async fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).await.map(|v| v.to_string())
    }
    async fn put(&self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Arc::from(value)).await;
    }
}

/// Redis-backed cache shared by replicas; every failure is logged and treated as a miss.
pub struct RedisCache {
    connection: ConnectionManager,
    ttl: Duration,
}

impl RedisCache {
    /// Connects lazily: the manager reconnects on its own after an outage.
    pub async fn connect(url: &str, ttl: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisCache { connection, ttl })
    }
}

#[async_trait]
impl ToolCache for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Option<String> {
        let mut conn = self.connection.clone();
        let key = format!("{REDIS_PREFIX}{key}");
        match tokio::time::timeout(REDIS_TIMEOUT, conn.get::<_, Option<String>>(key)).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis cache read failed; serving uncached");
                metrics::counter!("mas_cache_errors_total", "cache" => "tool").increment(1);
                None
            }
            Err(_) => {
                tracing::warn!("redis cache read timed out; serving uncached");
                metrics::counter!("mas_cache_errors_total", "cache" => "tool").increment(1);
                None
            }
        }
    }

    async fn put(&self, key: &str, value: String) {
        let mut conn = self.connection.clone();
        let key = format!("{REDIS_PREFIX}{key}");
        let ttl = self.ttl.as_secs().max(1);
        let result =
            tokio::time::timeout(REDIS_TIMEOUT, conn.set_ex::<_, _, ()>(key, value, ttl)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!("redis cache write failed; result not cached");
            metrics::counter!("mas_cache_errors_total", "cache" => "tool").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(v: Value) -> String {
        cache_key("search_schools", v.as_object())
    }

    #[test]
    fn equivalent_arguments_share_a_key() {
        assert_eq!(
            key(json!({"query": " Nairobi  Primary", "limit": 10, "county": null})),
            key(json!({"limit": 10, "query": "nairobi primary"}))
        );
        assert_ne!(
            key(json!({"query": "a", "limit": 10})),
            key(json!({"query": "a", "limit": 11}))
        );
        assert_ne!(
            cache_key("get_school", json!({"id": "KE-1"}).as_object()),
            cache_key("get_school", json!({"id": "ke-1"}).as_object())
        );
    }

    #[tokio::test]
    async fn memory_cache_returns_what_was_put() {
        let cache = MemoryCache::new(Duration::from_secs(60), 10);
        assert_eq!(cache.get("k").await, None);
        cache.put("k", "v".into()).await;
        assert_eq!(cache.get("k").await.as_deref(), Some("v"));
    }
}
