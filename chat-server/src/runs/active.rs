//! The runs going on this replica: how to stop each one (an explicit
//! cancel ends it; abandoning it lets another replica carry it on) and whose
//! it is (for the per-user run cap and its slot renewals).

use std::{collections::HashMap, sync::Mutex};

use tokio_util::sync::CancellationToken;

struct Active {
    cancel: CancellationToken,
    abandon: CancellationToken,
    owner: Option<String>,
}

/// This replica's runs by id.
#[derive(Default)]
pub struct ActiveRuns {
    runs: Mutex<HashMap<String, Active>>,
}

impl ActiveRuns {
    /// Registers a run: `cancel` ends it, `abandon` stops producing it here.
    pub fn insert(
        &self,
        run_id: &str,
        cancel: CancellationToken,
        abandon: CancellationToken,
        owner: Option<String>,
    ) {
        if let Ok(mut runs) = self.runs.lock() {
            let run = Active {
                cancel,
                abandon,
                owner,
            };
            runs.insert(run_id.to_owned(), run);
            metrics::gauge!("mas_active_sessions").set(runs.len() as f64);
        }
    }

    /// Forgets a run that stopped here.
    pub fn remove(&self, run_id: &str) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(run_id);
            metrics::gauge!("mas_active_sessions").set(runs.len() as f64);
        }
    }

    pub fn count(&self) -> usize {
        self.runs.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Runs of `owner` here.
    pub fn count_of(&self, owner: &str) -> usize {
        self.runs.lock().map_or(0, |runs| {
            runs.values()
                .filter(|r| r.owner.as_deref() == Some(owner))
                .count()
        })
    }

    pub fn contains(&self, run_id: &str) -> bool {
        self.runs.lock().is_ok_and(|r| r.contains_key(run_id))
    }

    /// Ends a run as cancelled; `false` when it is not going here.
    pub fn cancel(&self, run_id: &str) -> bool {
        let token = self
            .runs
            .lock()
            .ok()
            .and_then(|r| r.get(run_id).map(|a| a.cancel.clone()));
        token.map(|t| t.cancel()).is_some()
    }

    /// Stops producing a run here without ending it.
    pub fn abandon(&self, run_id: &str) {
        let token = self
            .runs
            .lock()
            .ok()
            .and_then(|r| r.get(run_id).map(|a| a.abandon.clone()));
        if let Some(token) = token {
            token.cancel();
        }
    }

    /// Stops every run: abandoned for another replica when `hand_over`, else cancelled.
    pub fn stop_all(&self, hand_over: bool) {
        if let Ok(runs) = self.runs.lock() {
            for run in runs.values() {
                if hand_over {
                    run.abandon.cancel();
                } else {
                    run.cancel.cancel();
                }
            }
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.runs
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// (owner, run id) of every run that has an owner.
    pub fn owned(&self) -> Vec<(String, String)> {
        self.runs.lock().map_or_else(
            |_| Vec::new(),
            |runs| {
                runs.iter()
                    .filter_map(|(id, r)| Some((r.owner.clone()?, id.clone())))
                    .collect()
            },
        )
    }
}
