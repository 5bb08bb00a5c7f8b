//! Whether a run may start: the replica is not shutting down, has room
//! (`MAX_CONCURRENT_SESSIONS`), and the user is within their run cap and
//! today's token budget. An admitted run holds a `Permit` (its user's run
//! slot) until it ends, when its tokens are charged.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use super::{StartError, active::ActiveRuns};
use crate::limits::Quotas;

/// The run cap of the replica and the per-user limits.
pub struct Admission {
    max_concurrent: usize,
    quotas: Arc<Quotas>,
    draining: AtomicBool,
}

/// An admitted run's hold on its user's run slot.
#[derive(Debug)]
pub struct Permit {
    owner: Option<String>,
    run_id: String,
}

impl Permit {
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }
}

impl Admission {
    pub fn new(max_concurrent: usize, quotas: Arc<Quotas>) -> Self {
        Admission {
            max_concurrent,
            quotas,
            draining: AtomicBool::new(false),
        }
    }

    /// Refuses every run from now on (the replica is shutting down).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether this replica has room for another run (a run taken over
    /// from another replica asks too).
    pub fn has_room(&self, active: &ActiveRuns) -> bool {
        !self.draining() && active.count() < self.max_concurrent
    }

    /// The cheap checks, made before anything is read: shutting down, full.
    pub fn open(&self, active: &ActiveRuns) -> Result<(), StartError> {
        if self.draining() {
            return Err(StartError::ShuttingDown);
        }
        let running = active.count();
        if running >= self.max_concurrent {
            return Err(StartError::Busy(running));
        }
        Ok(())
    }

    /// Takes `owner`'s run slot for `run_id` if their limits allow it.
    pub async fn admit(
        &self,
        active: &ActiveRuns,
        owner: Option<&str>,
        run_id: &str,
    ) -> Result<Permit, StartError> {
        if let Some(owner) = owner {
            self.quotas
                .begin_run(owner, run_id, active.count_of(owner))
                .await?;
        }
        Ok(self.resume(owner, run_id))
    }

    /// The permit of a run taken over: its slot was taken when it began.
    pub fn resume(&self, owner: Option<&str>, run_id: &str) -> Permit {
        Permit {
            owner: owner.map(str::to_owned),
            run_id: run_id.to_owned(),
        }
    }

    /// Frees the run's slot and charges its `tokens` to its user's day.
    pub async fn release(&self, permit: Permit, tokens: u64) {
        if let Some(owner) = &permit.owner {
            self.quotas.end_run(owner, &permit.run_id, tokens).await;
        }
    }

    /// Renews the slots of the runs going here.
    pub async fn renew(&self, active: &ActiveRuns) {
        self.quotas.renew(&active.owned()).await;
    }
}
