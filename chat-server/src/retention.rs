//! What is kept, and for how long: audit events and usage counts for
//! `AUDIT_RETENTION_DAYS` after they were last seen, sign-ins until they
//! expire, memories until their retention lapses (`MEMORY_RETENTION_*`),
//! failed jobs as long as audit events; and this replica's in-process limit
//! maps only while they count. A background sweep removes the rest every
//! hour and counts what went (`mas_retention_removed_total{what}`); it also
//! makes the coming months' memory partitions (PostgreSQL).

use std::{sync::Arc, time::Duration};

use crate::{
    limits::{Logins, Quotas, RateLimiter},
    store::{ChatStore, jobs::JobStore, memories::MemoryStore, now_ms, users::UserStore},
};

/// Memory partitions are made this many months ahead.
const PARTITIONS_AHEAD: u32 = 2;

/// How often the sweep runs.
const EVERY: Duration = Duration::from_secs(3600);

/// What the sweep looks after.
#[derive(Clone)]
pub struct Retention {
    pub users: Arc<dyn UserStore>,
    pub chat: Arc<dyn ChatStore>,
    pub memories: Arc<dyn MemoryStore>,
    pub jobs: Arc<dyn JobStore>,
    pub logins: Arc<Logins>,
    pub quotas: Arc<Quotas>,
    pub limiter: Option<Arc<RateLimiter>>,
    /// Days audit events and usage counts are kept.
    pub days: u32,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub events: u64,
    pub logins: u64,
    pub usage: u64,
    pub memories: u64,
    pub jobs: u64,
    /// Entries of this replica's in-process maps.
    pub local: u64,
}

impl Retention {
    /// Removes what is past keeping at `now` (epoch ms).
    pub async fn sweep(&self, now: i64) -> Swept {
        let before = now - i64::from(self.days) * 86_400_000;
        let removed = |what: &str, result: Result<u64, crate::store::StoreError>| match result {
            Ok(n) => {
                metrics::counter!("mas_retention_removed_total", "what" => what.to_owned())
                    .increment(n);
                n
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "removing old rows failed");
                0
            }
        };
        let events = removed("security_events", self.users.prune_events(before).await);
        let logins = removed("logins", self.users.prune_logins(now).await);
        let usage = removed("usage", self.chat.prune_usage(before).await);
        let memories = removed("memories", self.memories.prune_memories(now).await);
        let jobs = removed("failed_jobs", self.jobs.prune_jobs(before).await);
        if let Err(e) = self
            .memories
            .prepare_partitions(now, PARTITIONS_AHEAD)
            .await
        {
            tracing::warn!(error = %e, "making memory partitions failed");
        }
        let local = self.logins.prune()
            + self.quotas.prune()
            + self.limiter.as_ref().map_or(0, |l| l.prune());
        let local = removed("in_process", Ok(local as u64));
        Swept {
            events,
            logins,
            usage,
            memories,
            jobs,
            local,
        }
    }

    /// Sweeps a minute after start (out of the way of start-up, and of a
    /// test's own rows), then every hour.
    pub fn spawn(self) {
        tokio::spawn(async move {
            let first = tokio::time::Instant::now() + Duration::from_secs(60);
            let mut tick = tokio::time::interval_at(first, EVERY);
            loop {
                tick.tick().await;
                let swept = self.sweep(now_ms()).await;
                tracing::info!(?swept, "retention sweep");
            }
        });
    }
}
