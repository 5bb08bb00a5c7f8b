//! Background work after a turn (memory extraction), on the durable queue
//! in the chat database (`store::jobs`). Each replica runs a worker per
//! kind of job: it claims jobs with a lease, up to `JOB_CONCURRENCY` at a
//! time (they mostly wait for a model), runs each within its lease, and
//! then deletes it, puts it back with a growing delay, or marks it failed
//! after `MAX_ATTEMPTS`. A job whose replica died is
//! claimed again once its lease ends; its handler must be safe to run twice
//! (extraction is: a memory said again merges with itself). Counted in
//! `mas_jobs_total{kind,status}`, with the queue's depth in `mas_jobs`.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{
    StoreResult,
    jobs::{Job, JobStore, QueueDepth},
    now_ms,
};

/// Tries before a job is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;

/// How often an idle worker looks for jobs queued by other replicas.
const POLL: Duration = Duration::from_secs(1);

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another try later (a model or database that did not answer).
    #[error("{0}")]
    Retry(String),
    /// Never going to work (a payload that is not one).
    #[error("{0}")]
    Fatal(String),
}

/// What runs the jobs of one kind.
#[async_trait]
pub trait JobHandler: Send + Sync {
    fn kind(&self) -> &'static str;
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

/// The delay before try `attempts + 1`: 2, 4, 8... seconds, at most five minutes.
fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 8)).unwrap_or(8);
    Duration::from_secs(2u64.pow(exponent)).min(Duration::from_secs(300))
}

fn counted(kind: &str, status: &'static str) {
    metrics::counter!("mas_jobs_total", "kind" => kind.to_owned(), "status" => status).increment(1);
}

/// This replica's side of the queue.
pub struct Jobs {
    store: Arc<dyn JobStore>,
    /// Names this replica's claims: its process id and a random part.
    worker: String,
    /// How long a claimed job is held (`JOB_LEASE`).
    lease: Duration,
    /// Jobs run at once by each worker (`JOB_CONCURRENCY`).
    concurrency: usize,
    /// Wakes this replica's workers when it queues a job itself.
    wake: Notify,
}

impl Jobs {
    pub fn new(store: Arc<dyn JobStore>, lease: Duration, concurrency: usize) -> Arc<Self> {
        Arc::new(Jobs {
            concurrency: concurrency.max(1),
            store,
            worker: format!(
                "{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            lease,
            wake: Notify::new(),
        })
    }

    /// Queues a job of `kind`, due now.
    pub async fn enqueue(&self, kind: &str, payload: &impl serde::Serialize) -> StoreResult<()> {
        let payload = serde_json::to_string(payload).unwrap_or_else(|_| "null".into());
        self.store.enqueue(kind, &payload, now_ms()).await?;
        counted(kind, "queued");
        self.wake.notify_waiters();
        Ok(())
    }

    /// The queue's depth, also set as the `mas_jobs{status}` gauges.
    pub async fn depth(&self) -> StoreResult<QueueDepth> {
        let depth = self.store.depth().await?;
        for (status, n) in [
            ("queued", depth.queued),
            ("running", depth.running),
            ("failed", depth.failed),
        ] {
            metrics::gauge!("mas_jobs", "status" => status).set(n as f64);
        }
        Ok(depth)
    }

    /// Runs `handler`'s jobs until `stop`.
    pub fn spawn(self: &Arc<Self>, handler: Arc<dyn JobHandler>, stop: CancellationToken) {
        let jobs = self.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        tokio::spawn(async move {
            loop {
                let slot = tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                    () = stop.cancelled() => return,
                };
                let now = now_ms();
                let until = now + i64::try_from(jobs.lease.as_millis()).unwrap_or(i64::MAX / 2);
                let claimed = tokio::select! {
                    claimed = jobs.store.claim(handler.kind(), &jobs.worker, now, until) => claimed,
                    () = stop.cancelled() => return,
                };
                match claimed {
                    Ok(Some(job)) => {
                        let (jobs, handler) = (jobs.clone(), handler.clone());
                        tokio::spawn(async move {
                            jobs.work(handler.as_ref(), job).await;
                            drop(slot);
                        });
                    }
                    Ok(None) => tokio::select! {
                        () = jobs.wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                        () = stop.cancelled() => return,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, kind = handler.kind(), "claiming a job failed");
                        tokio::select! {
                            () = tokio::time::sleep(POLL) => {}
                            () = stop.cancelled() => return,
                        }
                    }
                }
            }
        });
    }

    /// Runs one claimed job within its lease and records how it went.
    async fn work(&self, handler: &dyn JobHandler, job: Job) {
        let kind = handler.kind();
        if job.attempts > 1 {
            counted(kind, "taken_over");
        }
        // Finish well inside the lease, so no other replica starts it meanwhile.
        let limit = self.lease.mul_f64(0.8);
        let outcome = match tokio::time::timeout(limit, handler.run(&job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::Retry(format!(
                "did not finish within {} s",
                limit.as_secs()
            ))),
        };
        let worker = &self.worker;
        let written = match &outcome {
            Ok(()) => self.store.complete(&job.id, worker).await,
            Err(JobError::Retry(why)) if job.attempts < MAX_ATTEMPTS => {
                let at = now_ms() + i64::try_from(backoff(job.attempts).as_millis()).unwrap_or(0);
                self.store.retry(&job.id, worker, at, why).await
            }
            Err(e) => {
                self.store
                    .fail(&job.id, worker, now_ms(), &e.to_string())
                    .await
            }
        };
        let status = match (&outcome, job.attempts < MAX_ATTEMPTS) {
            (Ok(()), _) => "done",
            (Err(JobError::Retry(_)), true) => "retried",
            _ => "failed",
        };
        counted(kind, status);
        if let Err(e) = &outcome {
            tracing::warn!(job = %job.id, kind, attempt = job.attempts, error = %e, status, "a job did not finish");
        }
        match written {
            Ok(true) => {}
            // Held too long: another replica has it now, and its answer counts.
            Ok(false) => {
                tracing::warn!(job = %job.id, kind, "a job's lease ended before it finished")
            }
            Err(e) => {
                tracing::warn!(job = %job.id, kind, error = %e, "recording a job's end failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(4), Duration::from_secs(16));
        assert_eq!(backoff(20), Duration::from_secs(256));
    }
}
