//! Starts runs, feeds their events into the run log, saves the conversation as
//! it progresses (a crash loses at most the text since the last save), and
//! stops runs on an explicit cancel. A client disconnect is not a cancel.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt};
use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::RunLog;
use crate::{
    agent::{AgentRunner, RunEvent, RunInput},
    providers::Message,
    quota::Quotas,
    store::{
        ChatStore, MessageRecord, MessageStatus, NewTurn, Role, RunOutcome, RunStatus, Session,
        StoreError, ToolStatus,
    },
};

/// Streamed text is saved at most this often.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// Runs one user may have going at once, unless set otherwise.
pub const DEFAULT_RUNS_PER_USER: usize = 3;

/// Most events logged in one go.
const LOG_BATCH: usize = 32;

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
    Quota(#[from] crate::quota::Refusal),
    #[error("no session has id {0:?}")]
    SessionNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct RunManager {
    store: Arc<dyn ChatStore>,
    runner: Arc<AgentRunner>,
    log: Arc<dyn RunLog>,
    /// Running runs: their cancel token and owner.
    active: Mutex<HashMap<String, (CancellationToken, Option<String>)>>,
    max_concurrent: usize,
    /// Runs per user and tokens per day (shared between replicas through Redis).
    quotas: Arc<Quotas>,
    tasks: TaskTracker,
}

impl RunManager {
    pub fn new(
        store: Arc<dyn ChatStore>,
        runner: Arc<AgentRunner>,
        log: Arc<dyn RunLog>,
        max_concurrent: usize,
    ) -> Self {
        RunManager {
            store,
            runner,
            log,
            active: Mutex::default(),
            max_concurrent,
            quotas: Arc::default(),
            tasks: TaskTracker::new(),
        }
    }

    /// Sets the per-user limits: runs at once and tokens per day.
    pub fn with_quotas(mut self, quotas: Arc<Quotas>) -> Self {
        self.quotas = quotas;
        self
    }

    /// Keeps the run slots of this replica's runs alive (a replica that dies
    /// frees them when their lease ends); stops when the manager is dropped.
    pub fn renew_leases(self: &Arc<Self>) {
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::quota::RUN_LEASE_RENEWAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                let runs: Vec<(String, String)> = manager.active.lock().map_or_else(
                    |_| Vec::new(),
                    |active| {
                        active
                            .iter()
                            .filter_map(|(run, (_, owner))| Some((owner.clone()?, run.clone())))
                            .collect()
                    },
                );
                manager.quotas.renew(&runs).await;
            }
        });
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

    /// Runs in progress on this replica.
    pub fn active(&self) -> usize {
        self.active.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Starts a run for `message` in `session_id` (a new session when `None`).
    pub async fn start(
        self: &Arc<Self>,
        session_id: Option<&str>,
        owner: Option<&str>,
        message: &str,
        agent: Option<&str>,
    ) -> Result<RunHandle, StartError> {
        let running = self.active();
        if running >= self.max_concurrent {
            return Err(StartError::Busy(running));
        }
        // Nothing is written before the model is called: a new session needs
        // no read at all, and every write happens beside the model call, off
        // the time-to-first-token path (see `produce`).
        let (session, is_new) = match session_id {
            Some(id) => (
                self.store
                    .session(id)
                    .await?
                    .ok_or_else(|| StartError::SessionNotFound(id.to_owned()))?,
                false,
            ),
            None => {
                let title: String = message
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(60)
                    .collect();
                (Session::new(owner, &title, agent), true)
            }
        };
        let mut history: Vec<Message> = Vec::new();
        if !is_new {
            history = self
                .store
                .messages(&session.id)
                .await?
                .into_iter()
                .filter(|m| !m.content.is_empty())
                .map(|m| match m.role {
                    Role::User => Message::User { text: m.content },
                    Role::Assistant => Message::Assistant {
                        text: m.content,
                        tool_calls: Vec::new(),
                    },
                })
                .collect();
        }
        history.push(Message::User {
            text: message.to_owned(),
        });
        let agent_name = agent.map(str::to_owned).or(session.agent.clone());
        let entry = agent_name
            .clone()
            .unwrap_or_else(|| self.runner.agents().entry().name.clone());
        let provider = self.runner.provider_for_name(&entry);
        let run_id = uuid::Uuid::new_v4().to_string();
        if let Some(owner) = owner {
            let mine = self.active.lock().map_or(0, |active| {
                active
                    .values()
                    .filter(|(_, o)| o.as_deref() == Some(owner))
                    .count()
            });
            self.quotas.begin_run(owner, &run_id, mine).await?;
        }
        self.log.create(&run_id, &session.id).await;
        let cancel = CancellationToken::new();
        if let Ok(mut active) = self.active.lock() {
            active.insert(run_id.clone(), (cancel.clone(), owner.map(str::to_owned)));
            metrics::gauge!("mas_active_sessions").set(active.len() as f64);
        }
        tracing::info!(run_id = %run_id, session_id = %session.id, agent = %entry, "run started");
        let answered = Arc::new(Notify::new());
        let setup = {
            let (store, run_id, message, agent) = (
                self.store.clone(),
                run_id.clone(),
                message.to_owned(),
                entry.clone(),
            );
            let session = session.clone();
            let model = self
                .runner
                .agents()
                .get(&entry)
                .and_then(|a| a.model.clone())
                .unwrap_or_else(|| provider.model().to_owned());
            let provider = provider.name().to_owned();
            let answered = answered.clone();
            tokio::spawn(async move {
                // The model's first word goes out before the first write
                // competes with it for the CPU; a model slower than
                // FIRST_WRITE_DELAY waits for the writes instead.
                tokio::select! {
                    () = answered.notified() => {}
                    () = tokio::time::sleep(FIRST_WRITE_DELAY) => {}
                }
                store
                    .start_turn(&NewTurn {
                        session: &session,
                        new_session: is_new,
                        message: &message,
                        run_id: &run_id,
                        agent: &agent,
                        provider: &provider,
                        model: &model,
                    })
                    .await
            })
        };
        let handle = RunHandle {
            run_id: run_id.clone(),
            session_id: session.id.clone(),
        };
        let manager = self.clone();
        let input = RunInput {
            history,
            agent: agent_name,
            cancel,
        };
        self.tasks
            .spawn(async move { manager.produce(run_id, setup, answered, input).await });
        Ok(handle)
    }

    /// Stops a run; `false` when it is not running here.
    pub fn cancel(&self, run_id: &str) -> bool {
        match self
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(run_id).map(|(token, _)| token.clone()))
        {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Waits (up to `deadline`) for running runs to finish, then cancels the rest.
    pub async fn shutdown(&self, deadline: Duration) {
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            if let Ok(active) = self.active.lock() {
                active.values().for_each(|(token, _)| token.cancel());
            }
            self.tasks.wait().await;
        }
    }

    async fn produce(
        self: Arc<Self>,
        run_id: String,
        setup: tokio::task::JoinHandle<Result<MessageRecord, StoreError>>,
        answered: Arc<Notify>,
        input: RunInput,
    ) {
        let started = Instant::now();
        let mut events = Box::pin(self.runner.clone().run(input));
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut saved = Instant::now();
        let mut first_token: Option<i64> = None;
        let (mut input_tokens, mut output_tokens) = (None::<i64>, None::<i64>);
        let mut calls: HashMap<String, String> = HashMap::new();
        let mut setup = Some(setup);
        let mut ending = None;
        let mut record: Option<MessageRecord> = None;
        // Events that are ready together (a burst from one network read) are
        // logged together, so readers wake once per burst, not once per token.
        let mut unlogged: Vec<RunEvent> = Vec::new();
        loop {
            let event = match events.next().now_or_never() {
                Some(Some(event)) if unlogged.len() < LOG_BATCH => event,
                Some(None) => break,
                ready => {
                    self.log_all(&run_id, &mut unlogged).await;
                    match ready {
                        Some(Some(event)) => event,
                        _ => match events.next().await {
                            Some(event) => event,
                            None => break,
                        },
                    }
                }
            };
            let is_terminal = event.is_terminal();
            // A terminal event is logged after the save below, so a client that
            // reads the session when its stream ends sees the final state.
            if !is_terminal {
                unlogged.push(event.clone());
            }
            // The first word is never held back for the rest of its burst.
            if first_token.is_none() && matches!(event, RunEvent::TextDelta { .. }) {
                self.log_all(&run_id, &mut unlogged).await;
            }
            if !matches!(
                event,
                RunEvent::AgentChanged { .. } | RunEvent::StepStarted { .. }
            ) {
                answered.notify_one();
            }
            // Streamed text never waits for the first writes; anything that
            // saves against the answer's row does.
            let needs_record = !matches!(
                event,
                RunEvent::AgentChanged { .. }
                    | RunEvent::StepStarted { .. }
                    | RunEvent::TextDelta { .. }
                    | RunEvent::ToolInputStart { .. }
                    | RunEvent::ToolInputDelta { .. }
                    | RunEvent::ReasoningDelta { .. }
                    | RunEvent::Usage { .. }
            );
            // Whatever waits on the database goes out to readers first.
            if needs_record
                || (matches!(event, RunEvent::TextDelta { .. }) && saved.elapsed() >= SAVE_EVERY)
            {
                self.log_all(&run_id, &mut unlogged).await;
            }
            if let Some(handle) = setup.take_if(|h| needs_record || h.is_finished()) {
                let saved = match handle.await {
                    Ok(saved) => saved.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match saved {
                    Ok(message) => record = Some(message),
                    Err(error) => {
                        // A conversation that cannot be saved is not carried on
                        // as if it were.
                        tracing::error!(run_id = %run_id, error = %error, "saving the run failed; the run is stopped");
                        ending = Some(RunEvent::Failed {
                            message:
                                "the chat database is unavailable; the answer could not be saved"
                                    .into(),
                        });
                        break;
                    }
                }
            }
            let result = match &event {
                RunEvent::TextDelta { text: piece } => {
                    if first_token.is_none() {
                        metrics::histogram!("mas_llm_time_to_first_token_seconds")
                            .record(started.elapsed().as_secs_f64());
                    }
                    first_token.get_or_insert(started.elapsed().as_millis() as i64);
                    text.push_str(piece);
                    if let Some(message) = record.as_ref().filter(|_| saved.elapsed() >= SAVE_EVERY)
                    {
                        saved = Instant::now();
                        self.store
                            .update_message(
                                &message.id,
                                &text,
                                &reasoning,
                                MessageStatus::Streaming,
                            )
                            .await
                    } else {
                        Ok(())
                    }
                }
                RunEvent::ReasoningDelta { text: piece } => {
                    reasoning.push_str(piece);
                    Ok(())
                }
                RunEvent::ToolInputAvailable {
                    call_id,
                    tool,
                    input,
                } => match record.as_ref() {
                    Some(message) => self
                        .store
                        .start_tool_call(message, call_id, tool, &input.to_string())
                        .await
                        .map(|saved| {
                            calls.insert(call_id.clone(), saved.id);
                        }),
                    None => Ok(()),
                },
                RunEvent::ToolOutput {
                    call_id,
                    tool,
                    output,
                    is_error,
                    duration_ms,
                } => match calls.remove(call_id) {
                    Some(id) => {
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
                    None => Ok(()),
                },
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
                    let add = |a: Option<i64>, b: Option<u64>| match (a, b) {
                        (a, Some(b)) => Some(a.unwrap_or(0) + b as i64),
                        (a, None) => a,
                    };
                    input_tokens = add(input_tokens, usage.input_tokens);
                    output_tokens = add(output_tokens, usage.output_tokens);
                    Ok(())
                }
                RunEvent::Finished { .. } | RunEvent::Failed { .. } | RunEvent::Cancelled => {
                    let (status, message_status, error) = match &event {
                        RunEvent::Finished { .. } => {
                            (RunStatus::Completed, MessageStatus::Complete, None)
                        }
                        RunEvent::Failed { message } => (
                            RunStatus::Failed,
                            MessageStatus::Failed,
                            Some(message.clone()),
                        ),
                        _ => (RunStatus::Cancelled, MessageStatus::Cancelled, None),
                    };
                    self.finish(
                        &run_id,
                        record.as_ref(),
                        &text,
                        &reasoning,
                        message_status,
                        &mut calls,
                        RunOutcome {
                            status,
                            input_tokens,
                            output_tokens,
                            error,
                            first_token_ms: first_token,
                        },
                    )
                    .await
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::error!(run_id = %run_id, error = %e, "saving the run failed");
            }
            if is_terminal {
                ending = Some(event);
                break;
            }
        }
        self.log_all(&run_id, &mut unlogged).await;
        // The run stops counting as running before its last event is logged,
        // so a reader that saw the end cannot still cancel it.
        let owner = self.active.lock().ok().and_then(|mut active| {
            let (_, owner) = active.remove(&run_id)?;
            metrics::gauge!("mas_active_sessions").set(active.len() as f64);
            owner
        });
        if let Some(owner) = owner {
            let spent = input_tokens.unwrap_or(0) + output_tokens.unwrap_or(0);
            self.quotas
                .end_run(&owner, &run_id, u64::try_from(spent).unwrap_or(0))
                .await;
        }
        let ending = ending.unwrap_or_else(|| RunEvent::Failed {
            message: "the run ended unexpectedly".into(),
        });
        self.log.append(&run_id, ending).await;
        tracing::info!(run_id = %run_id, elapsed_ms = started.elapsed().as_millis() as u64, "run ended");
    }

    async fn log_all(&self, run_id: &str, events: &mut Vec<RunEvent>) {
        if !events.is_empty() {
            self.log.append_all(run_id, std::mem::take(events)).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        run_id: &str,
        message: Option<&MessageRecord>,
        text: &str,
        reasoning: &str,
        status: MessageStatus,
        open_calls: &mut HashMap<String, String>,
        outcome: RunOutcome,
    ) -> Result<(), StoreError> {
        for (_, id) in open_calls.drain() {
            self.store
                .finish_tool_call(&id, ToolStatus::Cancelled, "cancelled", 0)
                .await?;
        }
        if let Some(message) = message {
            self.store
                .update_message(&message.id, text, reasoning, status)
                .await?;
        }
        self.store.finish_run(run_id, &outcome).await
    }
}
