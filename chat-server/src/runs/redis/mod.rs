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

mod bus;
mod leases;
mod log;

use std::time::Duration;

pub use self::{bus::Bus, leases::Leases, log::RedisRunLog};

/// How long a run's lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a replica renews its leases and looks for runs to take over.
pub const LEASE_TICK: Duration = Duration::from_secs(2);
/// How long a running run's keys live at most (a run is never this long).
pub(super) const RUNNING_TTL: Duration = Duration::from_secs(24 * 3600);

pub(super) fn meta_key(run_id: &str) -> String {
    format!("mas:run:{run_id}")
}

pub(super) fn log_key(run_id: &str) -> String {
    format!("mas:log:{run_id}")
}

pub(super) fn lease_key(run_id: &str) -> String {
    format!("mas:lease:{run_id}")
}

pub(super) const LIVE: &str = "mas:live";
pub(super) const CANCEL: &str = "mas:cancel";
pub(super) const WAKE_PREFIX: &str = "mas:wake:";

/// `result`'s value, or `None` with the failure logged.
fn logged<T>(what: &str, result: redis::RedisResult<T>) -> Option<T> {
    result
        .inspect_err(|e| tracing::warn!(error = %e, "Redis run log: {what} failed"))
        .ok()
}
