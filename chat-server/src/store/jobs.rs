//! The durable job queue in the chat database (`jobs`), shared by every
//! replica on PostgreSQL (claims with `FOR UPDATE SKIP LOCKED`), one
//! process's own on SQLite. A claimed job is held until its lease ends; a
//! job whose worker died is claimed again after that. `sql::jobs`
//! implements it; `jobs` runs the workers.

use async_trait::async_trait;

use super::StoreResult;

/// A job as a worker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    /// Tries so far, this one included.
    pub attempts: i64,
    pub created_at: i64,
}

/// Jobs waiting or held, and those that failed for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: i64,
    pub running: i64,
    pub failed: i64,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Queues a job, due at `at`.
    async fn enqueue(&self, kind: &str, payload: &str, at: i64) -> StoreResult<String>;
    /// Takes the next job of `kind` due at `now` (or whose lease ended) for
    /// `worker`, leased until `until`.
    async fn claim(
        &self,
        kind: &str,
        worker: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<Job>>;
    /// The job is done: removed, if `worker` still holds it.
    async fn complete(&self, id: &str, worker: &str) -> StoreResult<bool>;
    /// Puts the job back for another try at `at`, if `worker` still holds it.
    async fn retry(&self, id: &str, worker: &str, at: i64, error: &str) -> StoreResult<bool>;
    /// The job failed for good: kept, as failed, for the operator.
    async fn fail(&self, id: &str, worker: &str, at: i64, error: &str) -> StoreResult<bool>;
    async fn depth(&self) -> StoreResult<QueueDepth>;
    /// Removes jobs that failed before `before`; how many went.
    async fn prune_jobs(&self, before: i64) -> StoreResult<u64>;
}
