//! The run log in Redis streams (`mas:log:{run}`, entry ids `{n}-0`),
//! appended by one atomic script, readable through any replica, kept for
//! `ttl` after the run ends. While Redis is down, events wait here in order
//! and reads retry for a while.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use redis::{Script, aio::ConnectionManager};

use super::{Bus, RUNNING_TTL, WAKE_PREFIX, log_key, logged, meta_key};
use crate::{
    agent::RunEvent,
    runs::log::{Numbered, RunLog},
};

/// Appends events unless the run is over or unknown. KEYS: meta hash,
/// stream; ARGV[1]: 1 if the last event ends the run; ARGV[2]: TTL (s)
/// after the end; ARGV[3]: wake-up channel; ARGV[4..]: events (JSON).
/// Returns the last event's number, or -1.
const APPEND: &str = r"
if redis.call('HGET', KEYS[1], 'finished') ~= '0' then return -1 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local n = 0
if #last > 0 then n = tonumber(string.match(last[1][1], '^(%d+)')) end
for i = 4, #ARGV do
  n = n + 1
  redis.call('XADD', KEYS[2], n .. '-0', 'e', ARGV[i])
end
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'finished', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
redis.call('PUBLISH', ARGV[3], n)
return n
";

/// The run log in Redis streams.
pub struct RedisRunLog {
    redis: ConnectionManager,
    bus: Arc<Bus>,
    ttl: Duration,
    append: Script,
    /// Events not yet in Redis (it was unreachable), by run, in order.
    pending: Mutex<HashMap<String, Vec<RunEvent>>>,
}

/// How long a read or a run's last event waits for Redis to come back.
const OUTAGE: Duration = Duration::from_secs(30);

/// Retries `attempt` while Redis is unreachable, for up to `OUTAGE`.
async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let started = std::time::Instant::now();
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e)
                if started.elapsed() < OUTAGE
                    && !matches!(e.kind(), redis::ErrorKind::TypeError) =>
            {
                tracing::debug!(error = %e, "Redis run log: {what} failed; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis run log: {what} failed");
                return None;
            }
        }
    }
}

impl RedisRunLog {
    /// A finished run's events are kept for `ttl`.
    pub fn new(redis: ConnectionManager, bus: Arc<Bus>, ttl: Duration) -> Self {
        RedisRunLog {
            redis,
            bus,
            ttl,
            append: Script::new(APPEND),
            pending: Mutex::default(),
        }
    }

    async fn last(&self, run_id: &str) -> Option<u64> {
        let mut redis = self.redis.clone();
        let entries: redis::RedisResult<redis::streams::StreamRangeReply> = redis::cmd("XREVRANGE")
            .arg(log_key(run_id))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut redis)
            .await;
        let id = entries.ok()?.ids.first()?.id.clone();
        entry_number(&id)
    }
}

fn entry_number(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

#[async_trait]
impl RunLog for RedisRunLog {
    async fn create(&self, run_id: &str, session_id: &str) {
        let mut redis = self.redis.clone();
        let created: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .hset_multiple(
                meta_key(run_id),
                &[("session", session_id), ("finished", "0")],
            )
            .ignore()
            .expire(meta_key(run_id), RUNNING_TTL.as_secs() as i64)
            .ignore()
            .query_async(&mut redis)
            .await;
        logged("create", created);
    }

    async fn session(&self, run_id: &str) -> Option<String> {
        patiently("session", || {
            let mut redis = self.redis.clone();
            async move {
                redis::cmd("HGET")
                    .arg(meta_key(run_id))
                    .arg("session")
                    .query_async::<Option<String>>(&mut redis)
                    .await
            }
        })
        .await
        .flatten()
    }

    /// Events that cannot be written while Redis is down wait here and go
    /// first with the next append, so the log keeps its order; a run's last
    /// event waits for Redis (up to `OUTAGE`).
    async fn append_all(&self, run_id: &str, events: Vec<RunEvent>) -> Option<u64> {
        let mut batch = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(run_id))
            .unwrap_or_default();
        batch.extend(events);
        if let Some(end) = batch.iter().position(RunEvent::is_terminal) {
            batch.truncate(end + 1);
        }
        let terminal = batch.last().is_some_and(RunEvent::is_terminal);
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(meta_key(run_id))
            .key(log_key(run_id))
            .arg(u8::from(terminal))
            .arg(self.ttl.as_secs().max(1))
            .arg(format!("{WAKE_PREFIX}{run_id}"));
        for event in &batch {
            invocation.arg(serde_json::to_string(event).ok()?);
        }
        let result = if terminal {
            patiently("append", || {
                let mut redis = self.redis.clone();
                let invocation = &invocation;
                async move { invocation.invoke_async::<i64>(&mut redis).await }
            })
            .await
        } else {
            let mut redis = self.redis.clone();
            logged("append", invocation.invoke_async::<i64>(&mut redis).await)
        };
        let Some(n) = result else {
            if !terminal && let Ok(mut pending) = self.pending.lock() {
                pending.insert(run_id.to_owned(), batch);
            }
            return None;
        };
        // Readers here wake at once; others through the published wake-up.
        self.bus.wake(run_id);
        u64::try_from(n).ok()
    }

    async fn read(&self, run_id: &str, after: u64) -> Option<(Vec<Numbered>, bool)> {
        // The flag is read first: if the run is over, all its events are in.
        let (finished, entries): (Option<String>, redis::streams::StreamRangeReply) =
            patiently("read", || {
                let mut redis = self.redis.clone();
                async move {
                    redis::pipe()
                        .atomic()
                        .cmd("HGET")
                        .arg(meta_key(run_id))
                        .arg("finished")
                        .cmd("XRANGE")
                        .arg(log_key(run_id))
                        .arg(format!("{}-0", after + 1))
                        .arg("+")
                        .query_async(&mut redis)
                        .await
                }
            })
            .await?;
        let finished = finished? == "1";
        let events = entries
            .ids
            .iter()
            .filter_map(|entry| {
                let n = entry_number(&entry.id)?;
                let json: String = entry.get("e")?;
                Some((n, serde_json::from_str(&json).ok()?))
            })
            .collect();
        Some((events, finished))
    }

    async fn wait(&self, run_id: &str, after: u64, timeout: Duration) {
        let notify = self.bus.waiter(run_id);
        {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // An event logged between the reader's read and now is not missed.
            if self.last(run_id).await.is_none_or(|n| n <= after) {
                // Bounded, so a reader carries on even if a wake-up is lost.
                let _ = tokio::time::timeout(timeout.min(Duration::from_secs(1)), notified).await;
            }
        }
        self.bus.forget(run_id, &notify);
    }
}
