//! Runs shared between replicas through Redis (`REDIS_URL`).
//!
//! - `RedisRunLog`: a run's events in a Redis stream (`mas:log:{run}`, entry
//!   ids `{n}-0`), appended by one atomic script, readable through any
//!   replica, kept for `ttl` after the run ends.
//! - `Bus`: one pub/sub connection per replica: "new events" wake-ups
//!   (`mas:wake:{run}`) for readers here of runs produced elsewhere, and
//!   cancel requests (`mas:cancel`) for the replica producing the run.
//! - `Leases`: the producing replica holds `mas:lease:{run}` and renews it;
//!   `mas:live` lists running runs by lease expiry, so when a replica dies
//!   another one claims its runs and carries them on from their ticket (what
//!   the run was asked) and their log (what it did so far).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures::StreamExt;
use redis::{Script, aio::ConnectionManager};
use tokio::sync::{Notify, broadcast};

use super::log::{Numbered, RunLog};
use crate::agent::RunEvent;

/// How long a run's lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a replica renews its leases and looks for runs to take over.
pub const LEASE_TICK: Duration = Duration::from_secs(2);
/// How long a running run's keys live at most (a run is never this long).
const RUNNING_TTL: Duration = Duration::from_secs(24 * 3600);

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

/// Claims a run whose lease has lapsed. KEYS: lease, live set; ARGV[1]:
/// replica id; ARGV[2]: lease (ms); ARGV[3]: run id. Returns 1 if claimed.
const CLAIM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
return 1
";

/// Takes the lease of a new run with its ticket, in one round trip (it is on
/// the way to the first token). KEYS: lease, live set, meta hash; ARGV:
/// replica id, lease (ms), run id, ticket.
const HOLD: &str = r"
redis.call('HSET', KEYS[3], 'ticket', ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
return 1
";

/// Renews a lease this replica holds. KEYS: lease, live set; ARGV as CLAIM.
/// Returns 0 when the lease was lost (another replica took the run).
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
return 1
";

/// Gives a run up for another replica to take at once. KEYS: lease, live
/// set; ARGV[1]: replica id; ARGV[2]: run id.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then redis.call('ZADD', KEYS[2], 0, ARGV[2]) end
return 1
";

fn meta_key(run_id: &str) -> String {
    format!("mas:run:{run_id}")
}

fn log_key(run_id: &str) -> String {
    format!("mas:log:{run_id}")
}

fn lease_key(run_id: &str) -> String {
    format!("mas:lease:{run_id}")
}

const LIVE: &str = "mas:live";
const CANCEL: &str = "mas:cancel";
const WAKE_PREFIX: &str = "mas:wake:";

/// This replica's pub/sub connection: wake-ups by run, and cancel requests.
pub struct Bus {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    cancels: broadcast::Sender<String>,
}

impl Bus {
    /// Subscribes (and resubscribes after a dropped connection) in the background.
    pub fn start(client: redis::Client) -> Arc<Self> {
        let (cancels, _) = broadcast::channel(256);
        let bus = Arc::new(Bus {
            waiters: Mutex::default(),
            cancels,
        });
        let weak = Arc::downgrade(&bus);
        tokio::spawn(async move {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        let subscribed = async {
                            pubsub.psubscribe(format!("{WAKE_PREFIX}*")).await?;
                            pubsub.subscribe(CANCEL).await
                        };
                        if let Err(e) = subscribed.await {
                            tracing::warn!(error = %e, "subscribing to run wake-ups failed");
                        } else {
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                let Some(bus) = weak.upgrade() else { return };
                                let channel = message.get_channel_name();
                                if let Some(run_id) = channel.strip_prefix(WAKE_PREFIX) {
                                    bus.wake(run_id);
                                } else if let Ok(run_id) = message.get_payload::<String>() {
                                    let _ = bus.cancels.send(run_id);
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "Redis pub/sub unreachable"),
                }
                if weak.strong_count() == 0 {
                    return;
                }
                // Readers fall back to polling while the connection is down.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        bus
    }

    fn wake(&self, run_id: &str) {
        if let Some(notify) = self
            .waiters
            .lock()
            .ok()
            .and_then(|w| w.get(run_id).cloned())
        {
            notify.notify_waiters();
        }
    }

    fn waiter(&self, run_id: &str) -> Arc<Notify> {
        self.waiters.lock().map_or_else(
            |_| Arc::new(Notify::new()),
            |mut w| w.entry(run_id.to_owned()).or_default().clone(),
        )
    }

    fn forget(&self, run_id: &str, notify: &Arc<Notify>) {
        if let Ok(mut waiters) = self.waiters.lock()
            && waiters
                .get(run_id)
                .is_some_and(|n| Arc::ptr_eq(n, notify) && Arc::strong_count(n) <= 2)
        {
            waiters.remove(run_id);
        }
    }

    /// Run ids whose cancel was requested on any replica.
    pub fn cancels(&self) -> broadcast::Receiver<String> {
        self.cancels.subscribe()
    }
}

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

fn logged<T>(what: &str, result: redis::RedisResult<T>) -> Option<T> {
    result
        .inspect_err(|e| tracing::warn!(error = %e, "Redis run log: {what} failed"))
        .ok()
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

/// Run leases, tickets and cancel requests.
pub struct Leases {
    redis: ConnectionManager,
    /// This replica's id (the lease holder's name).
    pub replica: String,
    claim: Script,
    hold: Script,
    renew: Script,
    release: Script,
}

impl Leases {
    pub fn new(redis: ConnectionManager) -> Self {
        Leases {
            redis,
            replica: uuid::Uuid::new_v4().to_string(),
            claim: Script::new(CLAIM),
            hold: Script::new(HOLD),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        }
    }

    async fn run_script(&self, script: &Script, run_id: &str, args: &[String]) -> Option<i64> {
        let mut invocation = script.prepare_invoke();
        invocation.key(lease_key(run_id)).key(LIVE);
        for arg in args {
            invocation.arg(arg);
        }
        let mut redis = self.redis.clone();
        logged("lease", invocation.invoke_async(&mut redis).await)
    }

    /// Takes the lease of a new run, with its ticket (what a replica taking
    /// it over needs to know).
    pub async fn hold(&self, run_id: &str, ticket: &str) -> bool {
        let mut redis = self.redis.clone();
        let held: redis::RedisResult<i64> = self
            .hold
            .key(lease_key(run_id))
            .key(LIVE)
            .key(meta_key(run_id))
            .arg(&self.replica)
            .arg(LEASE.as_millis() as u64)
            .arg(run_id)
            .arg(ticket)
            .invoke_async(&mut redis)
            .await;
        logged("lease", held) == Some(1)
    }

    /// Renews this replica's leases; returns the runs whose lease was lost.
    pub async fn renew(&self, runs: &[String]) -> Vec<String> {
        let mut lost = Vec::new();
        for run_id in runs {
            let args = [
                self.replica.clone(),
                LEASE.as_millis().to_string(),
                run_id.clone(),
            ];
            if self.run_script(&self.renew, run_id, &args).await == Some(0) {
                lost.push(run_id.clone());
            }
        }
        lost
    }

    /// The run is over: its lease and its place in the live set go.
    pub async fn end(&self, run_id: &str) {
        let mut redis = self.redis.clone();
        let ended: redis::RedisResult<()> = redis::pipe()
            .del(lease_key(run_id))
            .ignore()
            .zrem(LIVE, run_id)
            .ignore()
            .query_async(&mut redis)
            .await;
        logged("lease end", ended);
    }

    /// Hands a run still going to whichever replica claims it first.
    pub async fn release(&self, run_id: &str) {
        self.run_script(
            &self.release,
            run_id,
            &[self.replica.clone(), run_id.to_owned()],
        )
        .await;
    }

    /// Runs whose lease has lapsed, claimed for this replica, with their tickets.
    pub async fn claim_orphans(&self) -> Vec<(String, String)> {
        let mut redis = self.redis.clone();
        let now: redis::RedisResult<(u64, u64)> = redis::cmd("TIME").query_async(&mut redis).await;
        let Some((seconds, micros)) = logged("time", now) else {
            return Vec::new();
        };
        let now_ms = seconds * 1000 + micros / 1000;
        let lapsed: redis::RedisResult<Vec<String>> = redis::cmd("ZRANGEBYSCORE")
            .arg(LIVE)
            .arg("-inf")
            .arg(now_ms)
            .arg("LIMIT")
            .arg(0)
            .arg(8)
            .query_async(&mut redis)
            .await;
        let mut claimed = Vec::new();
        for run_id in logged("orphans", lapsed).unwrap_or_default() {
            let args = [
                self.replica.clone(),
                LEASE.as_millis().to_string(),
                run_id.clone(),
            ];
            if self.run_script(&self.claim, &run_id, &args).await != Some(1) {
                continue;
            }
            let ticket: redis::RedisResult<(Option<String>, Option<String>)> = redis::pipe()
                .hget(meta_key(&run_id), "ticket")
                .hget(meta_key(&run_id), "finished")
                .query_async(&mut redis)
                .await;
            match logged("ticket", ticket) {
                Some((Some(ticket), Some(finished))) if finished == "0" => {
                    claimed.push((run_id, ticket));
                }
                // Over already, or its log expired: nothing to carry on.
                _ => self.end(&run_id).await,
            }
        }
        claimed
    }

    pub async fn ping(&self) -> bool {
        let mut redis = self.redis.clone();
        let pong = tokio::time::timeout(
            Duration::from_secs(1),
            redis::cmd("PING").query_async::<String>(&mut redis),
        )
        .await;
        matches!(pong, Ok(Ok(_)))
    }

    /// Asks whichever replica produces `run_id` to cancel it.
    pub async fn request_cancel(&self, run_id: &str) -> bool {
        let mut redis = self.redis.clone();
        let live: redis::RedisResult<(bool, i64)> = redis::pipe()
            .exists(lease_key(run_id))
            .publish(CANCEL, run_id)
            .query_async(&mut redis)
            .await;
        logged("cancel", live).is_some_and(|(live, _)| live)
    }
}
