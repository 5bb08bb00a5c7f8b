//! Runs: a chat turn decoupled from the connection that started it.
//!
//! `Runs` orchestrates, and each room does one job: `admission` (may it
//! start?), `turn` (what will it do? the plan, which is also its ticket),
//! `producer` (the agent's events into the log, the transcript and the
//! store), `log` and `redis` (the numbered event log clients read and resume
//! from), `handover` (leases, takeover and drain between replicas), and
//! `active` (the runs going here). A client disconnect is not a cancel;
//! an explicit cancel stops the run and keeps its partial answer.

pub mod active;
pub mod admission;
pub mod handover;
pub mod log;
pub mod producer;
pub mod redis;
pub mod turn;

use std::{sync::Arc, time::Duration};
use tracing::Instrument;

use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use self::{active::ActiveRuns, producer::Production};
pub use self::{
    admission::Admission,
    handover::Handover,
    log::{MemoryRunLog, RunLog},
    turn::{Saved, TurnPlan, TurnRequest},
};
use crate::{
    agent::{AgentRunner, RunEvent, RunInput, Transcript, UserMemory},
    jobs::Jobs,
    memory::{Memories, extract::TurnJob, owner_of},
    store::{ChatStore, StoreError},
};

/// The users' memory, when runs read and write it: recalled into each
/// run's prompts, and learnt from after each finished turn (a job).
#[derive(Clone)]
pub struct Remembering {
    pub memories: Arc<Memories>,
}

/// The job that summarises a long session's older turns
/// (`conversations::summaries` runs it).
pub const SUMMARY_JOB: &str = "summarise";

/// Which session a summary job is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryJob {
    pub session_id: String,
}

/// A turn's first writes wait at most this long for the model's first event.
const FIRST_WRITE_DELAY: Duration = Duration::from_millis(50);

/// A started run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHandle {
    pub run_id: String,
    pub session_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `MAX_CONCURRENT_SESSIONS` runs are already going.
    #[error("the server is busy: {0} runs are in progress; try again shortly")]
    Busy(usize),
    /// The user has `MAX_RUNS_PER_USER` runs going or has spent the day's tokens.
    #[error(transparent)]
    Quota(#[from] crate::limits::Refusal),
    #[error("no session has id {0:?}")]
    SessionNotFound(String),
    /// This replica is shutting down; another one takes new runs.
    #[error("this server is shutting down; try again")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The runs of this replica, and its share of the runs of all replicas.
pub struct Runs {
    store: Arc<dyn ChatStore>,
    runner: Arc<AgentRunner>,
    log: Arc<dyn RunLog>,
    admission: Admission,
    /// Leases and cancel requests shared between replicas (`None`: this replica alone).
    handover: Option<Handover>,
    /// `None`: no run reads or writes memory.
    remembering: Option<Remembering>,
    /// The background job queue (memory extraction, summaries).
    jobs: Option<Arc<Jobs>>,
    active: ActiveRuns,
    /// Cancelled once this replica's runs are finished or handed over:
    /// streams served here end, and their clients reconnect elsewhere.
    closed: CancellationToken,
    tasks: TaskTracker,
}

impl Runs {
    /// The runs over `store`, `runner` and `log`; with `handover` (Redis)
    /// they are shared with the other replicas, with `remembering` they read
    /// and write the users' memory. Starts the background work (slot and
    /// lease renewals, takeovers), which stops with the last handle.
    pub fn new(
        store: Arc<dyn ChatStore>,
        runner: Arc<AgentRunner>,
        log: Arc<dyn RunLog>,
        admission: Admission,
        handover: Option<Handover>,
        remembering: Option<Remembering>,
        jobs: Option<Arc<Jobs>>,
    ) -> Arc<Self> {
        let runs = Arc::new(Runs {
            store,
            runner,
            log,
            admission,
            handover,
            remembering,
            jobs,
            active: ActiveRuns::default(),
            closed: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        runs.start_background();
        runs
    }

    pub fn runner(&self) -> &Arc<AgentRunner> {
        &self.runner
    }

    pub fn log(&self) -> Arc<dyn RunLog> {
        self.log.clone()
    }

    /// Names of the agents a run may start with.
    pub fn agent_names(&self) -> Vec<String> {
        self.runner
            .agents()
            .all()
            .iter()
            .map(|a| a.name.clone())
            .collect()
    }

    /// Each MCP server by name and whether it answers, the EMIS server first.
    pub async fn tool_health(&self) -> Vec<(String, bool)> {
        self.runner.tool_health().await
    }

    /// The memory a run of `plan` reads and writes, bound to its owner.
    fn memory_for(&self, plan: &TurnPlan) -> Option<Arc<dyn UserMemory>> {
        let remembering = self.remembering.as_ref().filter(|_| plan.memory)?;
        remembering
            .memories
            .for_run(owner_of(plan.owner.as_deref()), &plan.session.id)
    }

    /// The job that learns from run `run_id` of `plan` once it is finished.
    fn learning(&self, plan: &TurnPlan, run_id: &str) -> Option<TurnJob> {
        self.memory_for(plan)?;
        Some(TurnJob {
            owner: owner_of(plan.owner.as_deref()).to_owned(),
            session_id: plan.session.id.clone(),
            run_id: run_id.to_owned(),
        })
    }

    /// Runs in progress on this replica.
    pub fn active(&self) -> usize {
        self.active.count()
    }

    /// Whether the replica is shutting down (not ready, no new runs).
    pub fn draining(&self) -> bool {
        self.admission.draining()
    }

    /// Whether Redis answers, when runs are shared through it.
    pub async fn redis_up(&self) -> Option<bool> {
        Some(self.handover.as_ref()?.redis_up().await)
    }

    /// Cancelled when the replica has finished or handed over its runs.
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Starts a run for `request`. Nothing is written before the model is
    /// called: a new session needs no read at all, and the first writes
    /// happen beside the model call, off the time-to-first-token path.
    pub async fn start(self: &Arc<Self>, request: TurnRequest) -> Result<RunHandle, StartError> {
        self.admission.open(&self.active)?;
        let (existing, stored) = match &request.session_id {
            Some(id) => {
                let session = self
                    .store
                    .session(id)
                    .await?
                    .ok_or_else(|| StartError::SessionNotFound(id.clone()))?;
                let saved = match request.history {
                    Some(_) => (Saved::default(), None),
                    None => {
                        let (messages, tool_calls, summary) = tokio::try_join!(
                            self.store.messages(id),
                            self.store.tool_calls(id),
                            self.store.session_summary(id)
                        )?;
                        // The turns a stored summary covers are read as that summary.
                        let through = summary.as_ref().map_or(0, |s| s.through_seq);
                        let messages = messages.into_iter().filter(|m| m.seq > through).collect();
                        (
                            Saved {
                                messages,
                                tool_calls,
                            },
                            summary,
                        )
                    }
                };
                let (saved, summary) = saved;
                (Some((session, saved)), summary)
            }
            None => (None, None),
        };
        // Turns past the stored summary: this many more, and a job
        // summarises the older half once this turn is done.
        let summary_turns = self.runner.limits().context.summary_turns;
        let unsummarised = existing.as_ref().map_or(0, |(_, saved)| {
            saved
                .messages
                .iter()
                .filter(|m| m.role == crate::store::Role::User)
                .count()
        }) + 1;
        let summarise = summary_turns > 0 && unsummarised > summary_turns;
        let runner = &self.runner;
        let mut plan = turn::plan(request, existing, &runner.agents().entry().name, |agent| {
            let provider = runner.provider_for_name(agent);
            let model = runner
                .agents()
                .get(agent)
                .and_then(|a| a.model.clone())
                .unwrap_or_else(|| provider.model().to_owned());
            (provider.name().to_owned(), model)
        });
        let reserve = match &self.remembering {
            Some(r) if plan.memory => r.memories.settings().token_budget,
            _ => 0,
        };
        let context = runner.context(
            Some(&plan.agent),
            &plan.history,
            stored.as_ref().map(|s| s.text.as_str()),
            plan.instructions.as_deref(),
            reserve,
        );
        plan.history = context.messages;
        plan.summary = context.summary;
        let run_id = uuid::Uuid::new_v4().to_string();
        let permit = self
            .admission
            .admit(&self.active, plan.owner.as_deref(), &run_id)
            .await?;
        self.log.create(&run_id, &plan.session.id).await;
        if let Some(handover) = &self.handover {
            handover.hold(&run_id, &plan).await;
        }
        tracing::info!(run_id = %run_id, session_id = %plan.session.id, agent = %plan.agent, "run started");
        let answered = Arc::new(Notify::new());
        let first_writes = {
            let (store, run_id, answered, plan) = (
                self.store.clone(),
                run_id.clone(),
                answered.clone(),
                plan.clone(),
            );
            tokio::spawn(async move {
                // The model's first word goes out before the first write
                // competes with it for the CPU; a model slower than
                // FIRST_WRITE_DELAY waits for the writes instead.
                tokio::select! {
                    () = answered.notified() => {}
                    () = tokio::time::sleep(FIRST_WRITE_DELAY) => {}
                }
                store.start_turn(&plan.first_writes(&run_id)).await
            })
        };
        let handle = RunHandle {
            run_id: run_id.clone(),
            session_id: plan.session.id.clone(),
        };
        let learn = self.learning(&plan, &run_id);
        let summarise = summarise.then(|| SummaryJob {
            session_id: plan.session.id.clone(),
        });
        let input = RunInput {
            memory: self.memory_for(&plan),
            history: plan.history,
            summary: plan.summary,
            agent: Some(plan.agent),
            cancel: CancellationToken::new(),
            instructions: plan.instructions,
            client_tools: plan.client_tools,
            ..RunInput::default()
        };
        self.launch(Production {
            run_id,
            input,
            first_writes,
            answered,
            transcript: Transcript::default(),
            abandon: CancellationToken::new(),
            permit,
            learn,
            summarise,
            began_in: None,
        });
        Ok(handle)
    }

    /// Registers a run as going here and spawns its producer.
    fn launch(self: &Arc<Self>, production: Production) {
        self.active.insert(
            &production.run_id,
            production.input.cancel.clone(),
            production.abandon.clone(),
            production.permit.owner().map(str::to_owned),
        );
        let (runs, run_id) = (self.clone(), production.run_id.clone());
        // OpenTelemetry's GenAI agent span, in the trace of the request that
        // started the run; the runner names it after the agent.
        let span = tracing::info_span!(
            "invoke_agent",
            otel.name = "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = tracing::field::Empty,
            run_id = %run_id,
        );
        if let Some(traceparent) = &production.began_in {
            platform::telemetry::link_to(&span, traceparent);
        }
        let produced = async move {
            let produced = std::panic::AssertUnwindSafe(runs.clone().produce(production))
                .catch_unwind()
                .await;
            if produced.is_err() {
                // The producer itself broke: readers are not left waiting,
                // and the run stops counting here (its Redis slot and lease
                // lapse without renewal).
                tracing::error!(run_id = %run_id, "the run's producer panicked");
                runs.active.remove(&run_id);
                let failed = RunEvent::Failed {
                    message: "the run failed: an internal error stopped it".into(),
                };
                runs.log.append(&run_id, failed).await;
            }
        };
        self.tasks.spawn(produced.instrument(span));
    }

    /// Stops a run; `false` when it is not going. A run produced by another
    /// replica is cancelled there (through Redis).
    pub async fn cancel(&self, run_id: &str) -> bool {
        if self.active.cancel(run_id) {
            return true;
        }
        match &self.handover {
            Some(handover) => handover.request_cancel(run_id).await,
            None => false,
        }
    }

    /// Stops taking runs and lets running ones finish for up to `deadline`;
    /// then hands the rest to other replicas (with Redis) or cancels them.
    pub async fn shutdown(&self, deadline: Duration) {
        self.admission.drain();
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            let left = self.active.ids();
            self.active.stop_all(self.handover.is_some());
            self.tasks.wait().await;
            self.release_all(&left).await;
        }
        self.closed.cancel();
    }
}
