//! The producer of one run: it feeds the agent's events into the run log
//! (readers follow from there), folds them into the run's transcript, and
//! saves the conversation as it goes (a crash loses at most the text since
//! the last save). It writes nothing before the model's first event, logs
//! events that arrive together in one append, and logs the terminal event
//! only after the final save, so a client that reads the session when its
//! stream ends sees the finished answer.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt};
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{Runs, admission::Permit};
use crate::{
    agent::{RunEvent, RunInput, Transcript, transcript::Outcome},
    store::{
        ChatStore, MessageRecord, MessageStatus, RunOutcome, RunStatus, StoreError, ToolStatus,
    },
};

/// Streamed text is saved at most this often.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// Most events logged in one go.
const LOG_BATCH: usize = 32;

/// The turn's first writes (session, question, run, empty answer), running
/// beside the model call; they yield the answer's row.
pub type FirstWrites = JoinHandle<Result<MessageRecord, StoreError>>;

/// What a producer is given.
pub struct Production {
    pub run_id: String,
    pub input: RunInput,
    pub first_writes: FirstWrites,
    /// Told when the model has said something (the first writes wait for it).
    pub answered: Arc<Notify>,
    /// What the run said before (a run taken over from another replica).
    pub transcript: Transcript,
    /// Stops production here without ending the run (it moves elsewhere).
    pub abandon: CancellationToken,
    pub permit: Permit,
    /// Queued once the run has finished: what it teaches of its user.
    pub learn: Option<crate::memory::extract::TurnJob>,
    /// The session's older turns to summarise after this one.
    pub summarise: Option<super::SummaryJob>,
    /// The trace the run began in, on another replica (a run taken over).
    pub began_in: Option<String>,
}

/// Saves a run against its answer's row, once the first writes are done.
struct Saver {
    store: Arc<dyn ChatStore>,
    run_id: String,
    first_writes: Option<FirstWrites>,
    answer: Option<MessageRecord>,
    saved: Instant,
    /// Tool calls saved as running: the model's call id -> row id.
    calls: HashMap<String, String>,
}

impl Saver {
    /// Waits for the first writes when `now` (something is about to be
    /// saved against the answer) or when they are done anyway.
    async fn ready(&mut self, now: bool) -> Result<(), String> {
        let Some(handle) = self.first_writes.take_if(|h| now || h.is_finished()) else {
            return Ok(());
        };
        let record = match handle.await {
            Ok(saved) => saved.map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        };
        self.answer = Some(record);
        Ok(())
    }

    /// Whether the streamed text is due to be saved again.
    fn text_due(&self) -> bool {
        self.saved.elapsed() >= SAVE_EVERY
    }

    async fn save(&mut self, event: &RunEvent, transcript: &Transcript) -> Result<(), StoreError> {
        let Some(answer) = &self.answer else {
            return Ok(());
        };
        match event {
            RunEvent::TextDelta { .. } if self.text_due() => {
                self.saved = Instant::now();
                self.store
                    .update_message(
                        &answer.id,
                        &transcript.text(),
                        &transcript.reasoning,
                        MessageStatus::Streaming,
                    )
                    .await
            }
            RunEvent::ToolInputAvailable {
                call_id,
                tool,
                input,
            } => {
                let saved = self
                    .store
                    .start_tool_call(answer, call_id, tool, &input.to_string())
                    .await?;
                self.calls.insert(call_id.clone(), saved.id);
                Ok(())
            }
            RunEvent::ToolOutput {
                call_id,
                tool,
                output,
                is_error,
                duration_ms,
            } => {
                let Some(id) = self.calls.remove(call_id) else {
                    return Ok(());
                };
                let status = match (*is_error, output.as_str()) {
                    (true, "cancelled") => ToolStatus::Cancelled,
                    (true, _) => ToolStatus::Error,
                    _ => ToolStatus::Ok,
                };
                let label = match status {
                    ToolStatus::Ok => "ok",
                    ToolStatus::Cancelled => "cancelled",
                    _ => "error",
                };
                metrics::counter!("mas_agent_tool_calls_total", "tool_name" => tool.clone(), "status" => label).increment(1);
                self.store
                    .finish_tool_call(&id, status, output, *duration_ms as i64)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// The final save: open tool calls closed as cancelled, the answer and the run.
    async fn finish(
        &mut self,
        transcript: &Transcript,
        first_token_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        for (_, id) in self.calls.drain() {
            self.store
                .finish_tool_call(&id, ToolStatus::Cancelled, "cancelled", 0)
                .await?;
        }
        let (status, message_status, error) = match &transcript.outcome {
            Some(Outcome::Finished) => (RunStatus::Completed, MessageStatus::Complete, None),
            Some(Outcome::Failed(message)) => (
                RunStatus::Failed,
                MessageStatus::Failed,
                Some(message.clone()),
            ),
            _ => (RunStatus::Cancelled, MessageStatus::Cancelled, None),
        };
        if let Some(answer) = &self.answer {
            self.store
                .update_message(
                    &answer.id,
                    &transcript.text(),
                    &transcript.reasoning,
                    message_status,
                )
                .await?;
        }
        let tokens = |n: Option<u64>| n.and_then(|n| i64::try_from(n).ok());
        let outcome = RunOutcome {
            status,
            input_tokens: tokens(transcript.input_tokens),
            output_tokens: tokens(transcript.output_tokens),
            error,
            first_token_ms,
        };
        self.store.finish_run(&self.run_id, &outcome).await
    }
}

/// Events of the agent that are not logged yet, logged together.
struct Outbox {
    events: Vec<RunEvent>,
}

impl Outbox {
    async fn flush(&mut self, runs: &Runs, run_id: &str) {
        if !self.events.is_empty() {
            runs.log
                .append_all(run_id, std::mem::take(&mut self.events))
                .await;
        }
    }
}

/// Events that change nothing saved against the answer's row.
fn saves_nothing(event: &RunEvent) -> bool {
    matches!(
        event,
        RunEvent::AgentChanged { .. }
            | RunEvent::StepStarted { .. }
            | RunEvent::TextDelta { .. }
            | RunEvent::ToolInputStart { .. }
            | RunEvent::ToolInputDelta { .. }
            | RunEvent::ReasoningDelta { .. }
            | RunEvent::Usage { .. }
    )
}

/// One run being produced here.
struct Producer {
    runs: Arc<Runs>,
    run_id: String,
    saver: Saver,
    outbox: Outbox,
    transcript: Transcript,
    answered: Arc<Notify>,
    started: Instant,
    first_token: Option<i64>,
    /// Tokens the run had spent before it came here (a takeover): charged
    /// by the replica that spent them.
    spent_elsewhere: u64,
}

impl Producer {
    /// Tokens this replica spent on the run.
    fn spent_here(&self) -> u64 {
        self.transcript
            .tokens()
            .saturating_sub(self.spent_elsewhere)
    }

    /// The next event of `events`: one that is ready waits in the outbox
    /// with the others of its burst (readers wake once per burst), anything
    /// else flushes the outbox first.
    async fn next(
        &mut self,
        events: &mut (impl futures::Stream<Item = RunEvent> + Unpin),
    ) -> Option<RunEvent> {
        match events.next().now_or_never() {
            Some(Some(event)) if self.outbox.events.len() < LOG_BATCH => Some(event),
            Some(None) => None,
            ready => {
                self.outbox.flush(&self.runs, &self.run_id).await;
                match ready {
                    Some(Some(event)) => Some(event),
                    _ => events.next().await,
                }
            }
        }
    }

    /// Takes one event in: logs it (a terminal one only after the final
    /// save), folds it into the transcript, saves it. `Err` ends the run
    /// here with that event.
    async fn take(&mut self, event: RunEvent) -> Result<(), RunEvent> {
        self.transcript.apply(&event);
        let is_text = matches!(event, RunEvent::TextDelta { .. });
        if !event.is_terminal() {
            self.outbox.events.push(event.clone());
        }
        if !matches!(
            event,
            RunEvent::AgentChanged { .. } | RunEvent::StepStarted { .. }
        ) {
            self.answered.notify_one();
        }
        let needs_answer = !saves_nothing(&event);
        // The first word is never held back for the rest of its burst, and
        // whatever waits on the database goes out to readers first.
        if (is_text && (self.first_token.is_none() || self.saver.text_due())) || needs_answer {
            self.outbox.flush(&self.runs, &self.run_id).await;
        }
        if let Err(error) = self.saver.ready(needs_answer).await {
            // A conversation that cannot be saved is not carried on as if it were.
            tracing::error!(run_id = %self.run_id, error = %error, "saving the run failed; the run is stopped");
            return Err(RunEvent::Failed {
                message: "the chat database is unavailable; the answer could not be saved".into(),
            });
        }
        self.measure(&event);
        let saved = if event.is_terminal() {
            self.saver.finish(&self.transcript, self.first_token).await
        } else {
            self.saver.save(&event, &self.transcript).await
        };
        if let Err(e) = saved {
            tracing::error!(run_id = %self.run_id, error = %e, "saving the run failed");
        }
        if event.is_terminal() {
            return Err(event);
        }
        Ok(())
    }

    /// The time to the first token and the tokens used, as metrics.
    fn measure(&mut self, event: &RunEvent) {
        match event {
            RunEvent::TextDelta { .. } if self.first_token.is_none() => {
                let elapsed = self.started.elapsed();
                metrics::histogram!("mas_llm_time_to_first_token_seconds")
                    .record(elapsed.as_secs_f64());
                self.first_token = Some(elapsed.as_millis() as i64);
            }
            RunEvent::Usage {
                usage,
                provider,
                model,
            } => {
                for (direction, n) in [
                    ("input", usage.input_tokens),
                    ("output", usage.output_tokens),
                ] {
                    if let Some(n) = n {
                        metrics::counter!("mas_llm_tokens_total", "provider" => provider.clone(), "model" => model.clone(), "direction" => direction).increment(n);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Runs {
    /// Produces the run until it ends (or moves to another replica).
    pub(super) async fn produce(self: Arc<Self>, production: Production) {
        let Production {
            run_id,
            input,
            first_writes,
            answered,
            transcript,
            abandon,
            permit,
            learn,
            summarise,
            ..
        } = production;
        let agent = input.agent.clone().unwrap_or_default();
        // A panic in the loop (a tool adapter's, a parser's) ends the run as
        // failed, through the same path as any other end.
        let mut events = Box::pin(
            std::panic::AssertUnwindSafe(self.runner.clone().run(input))
                .catch_unwind()
                .map(|event| {
                    event.unwrap_or_else(|_| RunEvent::Failed {
                        message: "the run failed: an internal error stopped it".into(),
                    })
                })
                .take_until(abandon.clone().cancelled_owned()),
        );
        let mut producer = Producer {
            saver: Saver {
                store: self.store.clone(),
                run_id: run_id.clone(),
                first_writes: Some(first_writes),
                answer: None,
                saved: Instant::now(),
                calls: HashMap::new(),
            },
            runs: self.clone(),
            run_id,
            outbox: Outbox { events: Vec::new() },
            spent_elsewhere: transcript.tokens(),
            transcript,
            answered,
            started: Instant::now(),
            first_token: None,
        };
        let mut ending = None;
        while let Some(event) = producer.next(&mut events).await {
            if let Err(last) = producer.take(event).await {
                ending = Some(last);
                break;
            }
        }
        let run_id = producer.run_id.clone();
        let abandoned = abandon.is_cancelled() && ending.is_none();
        if !abandoned {
            producer.outbox.flush(&self, &run_id).await;
        }
        // The run stops counting as running before its last event is logged,
        // so a reader that saw the end cannot still cancel it.
        self.active.remove(&run_id);
        let (owner, tokens) = (permit.owner().map(str::to_owned), producer.spent_here());
        self.admission.release(permit, tokens).await;
        // A run is counted where it ends; its tokens wherever they were spent.
        let counted = self
            .store
            .record_usage(owner.as_deref(), crate::store::now_ms(), !abandoned, tokens)
            .await;
        if let Err(e) = counted {
            tracing::warn!(run_id = %run_id, error = %e, "counting the run's usage failed");
        }
        if abandoned {
            // Another replica carries it on from the log; what was not logged
            // yet belongs to the step it requests again.
            tracing::info!(run_id = %run_id, "run left this replica");
            return;
        }
        let ending = ending.unwrap_or_else(|| RunEvent::Failed {
            message: "the run ended unexpectedly".into(),
        });
        let status = match &ending {
            RunEvent::Finished { .. } => "completed",
            RunEvent::Cancelled => "cancelled",
            _ => "failed",
        };
        metrics::counter!("mas_runs_total", "agent" => agent, "status" => status).increment(1);
        if let (Some(jobs), "completed") = (&self.jobs, status) {
            // Off the answer's path: the jobs run after the turn, on any replica.
            let jobs = jobs.clone();
            let learn = learn.filter(|_| self.remembering.is_some());
            tokio::spawn(async move {
                if let Some(job) = learn
                    && let Err(e) = jobs.enqueue(crate::memory::extract::KIND, &job).await
                {
                    tracing::warn!(run_id = %job.run_id, error = %e, "queueing the memory extraction failed");
                }
                if let Some(job) = summarise
                    && let Err(e) = jobs.enqueue(super::SUMMARY_JOB, &job).await
                {
                    tracing::warn!(session_id = %job.session_id, error = %e, "queueing the summary failed");
                }
            });
        }
        self.log.append(&run_id, ending).await;
        if let Some(handover) = &self.handover {
            handover.end(&run_id).await;
        }
        let elapsed_ms = producer.started.elapsed().as_millis() as u64;
        tracing::info!(run_id = %run_id, elapsed_ms, "run ended");
    }
}
