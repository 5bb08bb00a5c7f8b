//! Runs that outlive their replica (with Redis): the producing replica
//! holds a lease on each of its runs, with the run's plan as its ticket, and
//! renews it every `LEASE_TICK`; every replica looks for lapsed leases and
//! takes those runs over from their checkpoint (the steps they finished stay,
//! the step they were in is discarded and requested again, reusing the tool
//! results it had); cancel requests reach the producing replica through
//! Redis; a replica shutting down hands its unfinished runs over.

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use super::{
    Runs,
    log::Numbered,
    producer::Production,
    redis::{Bus, LEASE_TICK, Leases},
    turn::TurnPlan,
};
use crate::{
    agent::{Resume, RunEvent, RunInput, Transcript},
    domain::{ToolCall, ToolResult},
    store::{Role, ToolStatus},
};

/// The Redis side of runs shared between replicas.
pub struct Handover {
    leases: Arc<Leases>,
    bus: Arc<Bus>,
}

impl Handover {
    pub fn new(leases: Arc<Leases>, bus: Arc<Bus>) -> Self {
        Handover { leases, bus }
    }

    /// Takes the lease of a new run, with its plan as the ticket.
    pub(super) async fn hold(&self, run_id: &str, plan: &TurnPlan) {
        let ticket = serde_json::to_string(plan).unwrap_or_default();
        if !self.leases.hold(run_id, &ticket).await {
            tracing::warn!(run_id = %run_id, "no lease for the run: another replica cannot take it over");
        }
    }

    /// The run is over.
    pub(super) async fn end(&self, run_id: &str) {
        self.leases.end(run_id).await;
    }

    /// Asks whichever replica produces `run_id` to cancel it.
    pub(super) async fn request_cancel(&self, run_id: &str) -> bool {
        self.leases.request_cancel(run_id).await
    }

    pub(super) async fn redis_up(&self) -> bool {
        self.leases.ping().await
    }
}

/// Where a run taken over carries on, read from its log.
#[derive(Debug)]
struct Checkpoint {
    /// What the run said up to the interruption, the interrupted step cut out.
    transcript: Transcript,
    /// The step to request (again).
    step: usize,
    /// The interrupted step streamed something that must be discarded.
    discard: bool,
    /// The interrupted step's tool calls that finished.
    done: Vec<(ToolCall, ToolResult)>,
}

impl Checkpoint {
    fn from_log(events: &[Numbered]) -> Self {
        let mut transcript = Transcript::of(events.iter().map(|(_, e)| e));
        let interrupted = transcript.interrupted().cloned();
        let step = match &interrupted {
            Some(step) => step.number,
            None => transcript.steps().last().map_or(1, |s| s.number + 1),
        };
        let done = interrupted
            .iter()
            .flat_map(|s| s.calls.iter())
            .filter_map(|call| {
                let result = call.to_result().filter(|r| r.content != "cancelled")?;
                Some((call.to_call(), result))
            })
            .collect();
        let discard = interrupted.is_some();
        if discard {
            transcript.apply(&RunEvent::StepDiscarded { step });
        }
        Checkpoint {
            transcript,
            step,
            discard,
            done,
        }
    }
}

impl Runs {
    /// Starts the background work: every `LEASE_TICK`, renew the leases and
    /// run slots of this replica's runs and take over runs whose replica
    /// died; carry out cancel requests made on other replicas. Stops when
    /// the runs are dropped.
    pub(super) fn start_background(self: &Arc<Self>) {
        let runs = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE_TICK);
            loop {
                tick.tick().await;
                let Some(runs) = runs.upgrade() else { return };
                runs.tick().await;
            }
        });
        if let Some(handover) = &self.handover {
            let mut cancels = handover.bus.cancels();
            let runs = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    let run_id = match cancels.recv().await {
                        Ok(run_id) => run_id,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let Some(runs) = runs.upgrade() else { return };
                    runs.active.cancel(&run_id);
                }
            });
        }
    }

    async fn tick(self: &Arc<Self>) {
        self.admission.renew(&self.active).await;
        let Some(handover) = &self.handover else {
            return;
        };
        for run_id in handover.leases.renew(&self.active.ids()).await {
            tracing::warn!(run_id = %run_id, "lost the run's lease to another replica; stopping here");
            self.active.abandon(&run_id);
        }
        if !self.admission.has_room(&self.active) {
            return;
        }
        for (run_id, ticket) in handover.leases.claim_orphans().await {
            match serde_json::from_str::<TurnPlan>(&ticket) {
                Ok(plan) => self.take_over(run_id, plan).await,
                Err(e) => {
                    tracing::error!(run_id = %run_id, error = %e, "unreadable run ticket");
                    handover.end(&run_id).await;
                }
            }
        }
    }

    /// Carries on a run whose replica died (or handed it over) from its
    /// checkpoint.
    async fn take_over(self: &Arc<Self>, run_id: String, plan: TurnPlan) {
        let Some(handover) = &self.handover else {
            return;
        };
        // Its lease lapsed (Redis was away) while it still runs here: the
        // claim made the lease ours again, and nothing else is needed.
        if self.active.contains(&run_id) {
            return;
        }
        let events = match self.log.read(&run_id, 0).await {
            Some((events, false)) => events,
            _ => {
                handover.end(&run_id).await;
                return;
            }
        };
        let checkpoint = Checkpoint::from_log(&events);
        tracing::info!(run_id = %run_id, step = checkpoint.step, "taking the run over");
        metrics::counter!("mas_runs_taken_over_total").increment(1);
        metrics::counter!("mas_runs_total", "agent" => plan.agent.clone(), "status" => "taken_over")
            .increment(1);
        let saved = match self.store.messages(&plan.session.id).await {
            Ok(messages) => messages
                .into_iter()
                .find(|m| m.role == Role::Assistant && m.run_id.as_deref() == Some(&run_id)),
            Err(e) => {
                // The database is down: leave the run for a later tick.
                tracing::warn!(run_id = %run_id, error = %e, "cannot take the run over yet");
                handover.leases.release(&run_id).await;
                return;
            }
        };
        if let Some(answer) = &saved {
            self.close_interrupted_calls(&plan.session.id, &answer.id)
                .await;
        }
        let first_writes = {
            let (store, id, plan) = (self.store.clone(), run_id.clone(), plan.clone());
            tokio::spawn(async move {
                match saved {
                    Some(record) => Ok(record),
                    None => store.start_turn(&plan.first_writes(&id)).await,
                }
            })
        };
        if checkpoint.discard {
            let discarded = RunEvent::StepDiscarded {
                step: checkpoint.step,
            };
            self.log.append(&run_id, discarded).await;
        }
        let Checkpoint {
            transcript,
            step,
            done,
            ..
        } = checkpoint;
        let mut history = plan.history.clone();
        history.extend(transcript.messages());
        let input = RunInput {
            history,
            summary: plan.summary.clone(),
            agent: Some(transcript.agent.clone().unwrap_or(plan.agent.clone())),
            cancel: CancellationToken::new(),
            resume: Some(Resume {
                step,
                answer: transcript.finished_text(),
                done,
            }),
            instructions: plan.instructions.clone(),
            client_tools: plan.client_tools.clone(),
            memory: self.memory_for(&plan),
        };
        let permit = self.admission.resume(plan.owner.as_deref(), &run_id);
        let learn = self.learning(&plan, &run_id);
        self.launch(Production {
            run_id,
            input,
            first_writes,
            answered: Arc::new(Notify::new()),
            transcript,
            abandon: CancellationToken::new(),
            permit,
            learn,
            // The replica that started the run judged it; a summary is
            // queued again by the session's next turn if it is still due.
            summarise: None,
            began_in: plan.trace.clone(),
        });
    }

    /// Tool calls the other replica left running will never finish.
    async fn close_interrupted_calls(&self, session_id: &str, answer_id: &str) {
        let Ok(calls) = self.store.tool_calls(session_id).await else {
            return;
        };
        for call in calls
            .iter()
            .filter(|c| c.message_id == answer_id && c.status == ToolStatus::Running)
        {
            let _ = self
                .store
                .finish_tool_call(
                    &call.id,
                    ToolStatus::Cancelled,
                    "interrupted: the run moved to another replica",
                    0,
                )
                .await;
        }
    }

    /// Hands the runs that are still going to other replicas.
    pub(super) async fn release_all(&self, run_ids: &[String]) {
        let Some(handover) = &self.handover else {
            return;
        };
        for run_id in run_ids {
            tracing::info!(run_id = %run_id, "handing the run to another replica");
            handover.leases.release(run_id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn numbered(events: Vec<RunEvent>) -> Vec<Numbered> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, e))
            .collect()
    }

    fn text(t: &str) -> RunEvent {
        RunEvent::TextDelta { text: t.into() }
    }

    #[test]
    fn a_checkpoint_keeps_finished_steps_and_the_interrupted_steps_tool_results() {
        let input = json!({ "query": "bakwanim" });
        let log = numbered(vec![
            RunEvent::AgentChanged {
                agent: "coordinator".into(),
                title: "Coordinator".into(),
            },
            RunEvent::StepStarted { step: 1 },
            text("Let me look. "),
            RunEvent::ToolInputAvailable {
                call_id: "c1".into(),
                tool: "transfer_to_schools".into(),
                input: json!({}),
            },
            RunEvent::ToolOutput {
                call_id: "c1".into(),
                tool: "transfer_to_schools".into(),
                output: "Transferred.".into(),
                is_error: false,
                duration_ms: 0,
            },
            RunEvent::StepFinished { step: 1 },
            RunEvent::AgentChanged {
                agent: "schools".into(),
                title: "Schools specialist".into(),
            },
            RunEvent::StepStarted { step: 2 },
            text("Searching"),
            RunEvent::ToolInputAvailable {
                call_id: "c2".into(),
                tool: "search_schools".into(),
                input: input.clone(),
            },
            RunEvent::ToolInputAvailable {
                call_id: "c3".into(),
                tool: "school_statistics".into(),
                input: json!({}),
            },
            RunEvent::ToolOutput {
                call_id: "c2".into(),
                tool: "search_schools".into(),
                output: "{\"schools\":[]}".into(),
                is_error: false,
                duration_ms: 12,
            },
        ]);
        let checkpoint = Checkpoint::from_log(&log);
        assert_eq!(
            checkpoint.step, 2,
            "the interrupted step is requested again"
        );
        assert_eq!(checkpoint.transcript.agent.as_deref(), Some("schools"));
        assert_eq!(checkpoint.transcript.finished_text(), "Let me look. ");
        assert_eq!(checkpoint.transcript.text(), "Let me look. ");
        assert!(checkpoint.discard);
        assert_eq!(
            checkpoint.transcript.messages().len(),
            2,
            "step 1: the call and its result"
        );
        assert_eq!(checkpoint.done.len(), 1, "only the call that finished");
        assert_eq!(checkpoint.done[0].0.name, "search_schools");
        assert_eq!(checkpoint.done[0].0.arguments, input);

        // A run that died between steps has nothing to discard.
        let between = Checkpoint::from_log(&log[..6]);
        assert_eq!((between.step, between.discard), (2, false));
        // A step discarded once and started again is read afresh.
        let mut again = log.clone();
        again.push((13, RunEvent::StepDiscarded { step: 2 }));
        again.push((14, RunEvent::StepStarted { step: 2 }));
        again.push((15, text("Found")));
        let again = Checkpoint::from_log(&again);
        assert_eq!(
            (again.step, again.transcript.finished_text().as_str()),
            (2, "Let me look. ")
        );
        assert!(again.done.is_empty(), "results before the discard are gone");
    }
}
