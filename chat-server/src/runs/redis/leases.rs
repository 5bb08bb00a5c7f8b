//! Run leases: the producing replica holds `mas:lease:{run}` and renews it;
//! `mas:live` lists running runs by lease expiry, so when a replica dies
//! another one claims its runs and carries them on from their ticket (what
//! the run was asked) and their log (what it did so far). Cancel requests
//! go to whichever replica holds the lease.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

use super::{CANCEL, LEASE, LIVE, lease_key, logged, meta_key};

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
