//! Starts runs, feeds their events into the run log, saves the conversation as
//! it progresses (a crash loses at most the text since the last save), and
//! stops runs on an explicit cancel. A client disconnect is not a cancel.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    RunLog,
    log::Numbered,
    redis::{Bus, LEASE_TICK, Leases},
};
use crate::{
    agent::{AgentRunner, Resume, RunEvent, RunInput},
    providers::{Message, ToolCall, ToolResult, ToolSpec},
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
    /// This replica is shutting down; another one takes new runs.
    #[error("this server is shutting down; try again")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct RunManager {
    store: Arc<dyn ChatStore>,
    runner: Arc<AgentRunner>,
    log: Arc<dyn RunLog>,
    /// Runs going on this replica.
    active: Mutex<HashMap<String, Active>>,
    max_concurrent: usize,
    /// Runs per user and tokens per day (shared between replicas through Redis).
    quotas: Arc<Quotas>,
    /// Leases and cancel requests shared between replicas (`None`: this replica alone).
    shared: Option<Shared>,
    /// Shutting down: no new runs, not ready.
    draining: AtomicBool,
    /// Cancelled once this replica's runs are finished or handed over:
    /// streams served here end, and their clients reconnect elsewhere.
    closed: CancellationToken,
    tasks: TaskTracker,
}

/// A run going on this replica.
struct Active {
    /// An explicit cancel: the run ends as cancelled.
    cancel: CancellationToken,
    /// The run leaves this replica (shutdown, or its lease went to another):
    /// production stops without ending the run.
    abandon: CancellationToken,
    owner: Option<String>,
}

struct Shared {
    leases: Arc<Leases>,
    bus: Arc<Bus>,
}

/// What a replica taking a run over needs to know, kept with its lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ticket {
    session: Session,
    new_session: bool,
    owner: Option<String>,
    message: String,
    /// The conversation before the run, ending with the user's message.
    history: Vec<Message>,
    /// The agent the run started with.
    agent: String,
    provider: String,
    model: String,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    client_tools: Vec<ToolSpec>,
}

/// A turn to start.
#[derive(Debug, Clone, Default)]
pub struct TurnRequest {
    /// The session to continue; a new one when `None`.
    pub session_id: Option<String>,
    pub owner: Option<String>,
    /// The user's message, saved as the turn's question.
    pub message: String,
    /// The agent to answer (the session's, else the entry agent).
    pub agent: Option<String>,
    /// The conversation to answer, ending with the user's message (an API
    /// client's own); the session's saved messages when `None`.
    pub history: Option<Vec<Message>>,
    /// More instructions for the model.
    pub instructions: Option<String>,
    /// Tools the client runs itself.
    pub client_tools: Vec<ToolSpec>,
    /// A new session's title (from the message when `None`).
    pub title: Option<String>,
}

impl Ticket {
    fn turn<'a>(&'a self, run_id: &'a str) -> NewTurn<'a> {
        NewTurn {
            session: &self.session,
            new_session: self.new_session,
            message: &self.message,
            run_id,
            agent: &self.agent,
            provider: &self.provider,
            model: &self.model,
        }
    }
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
            shared: None,
            draining: AtomicBool::new(false),
            closed: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Shares runs with the other replicas: leases in Redis, cancel requests
    /// and wake-ups on `bus` (the log should be a `RedisRunLog`).
    pub fn with_leases(mut self, leases: Arc<Leases>, bus: Arc<Bus>) -> Self {
        self.shared = Some(Shared { leases, bus });
        self
    }

    /// Whether the replica is shutting down (not ready, no new runs).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether Redis answers, when runs are shared through it.
    pub async fn redis_up(&self) -> Option<bool> {
        Some(self.shared.as_ref()?.leases.ping().await)
    }

    /// Cancelled when the replica has finished or handed over its runs.
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Sets the per-user limits: runs at once and tokens per day.
    pub fn with_quotas(mut self, quotas: Arc<Quotas>) -> Self {
        self.quotas = quotas;
        self
    }

    /// Starts the background work: every `LEASE_TICK`, renew the leases and
    /// run slots of this replica's runs and take over runs whose replica
    /// died; carry out cancel requests made on other replicas. Stops when
    /// the manager is dropped.
    pub fn renew_leases(self: &Arc<Self>) {
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE_TICK);
            loop {
                tick.tick().await;
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                manager.tick().await;
            }
        });
        if let Some(shared) = &self.shared {
            let mut cancels = shared.bus.cancels();
            let manager = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    let run_id = match cancels.recv().await {
                        Ok(run_id) => run_id,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let Some(manager) = manager.upgrade() else {
                        return;
                    };
                    manager.cancel_here(&run_id);
                }
            });
        }
    }

    async fn tick(self: &Arc<Self>) {
        let (runs, slots): (Vec<String>, Vec<(String, String)>) = self.active.lock().map_or_else(
            |_| Default::default(),
            |active| {
                (
                    active.keys().cloned().collect(),
                    active
                        .iter()
                        .filter_map(|(run, a)| Some((a.owner.clone()?, run.clone())))
                        .collect(),
                )
            },
        );
        self.quotas.renew(&slots).await;
        let Some(shared) = &self.shared else { return };
        for run_id in shared.leases.renew(&runs).await {
            tracing::warn!(run_id = %run_id, "lost the run's lease to another replica; stopping here");
            self.abandon(&run_id);
        }
        if self.draining() || self.active() >= self.max_concurrent {
            return;
        }
        for (run_id, ticket) in shared.leases.claim_orphans().await {
            match serde_json::from_str::<Ticket>(&ticket) {
                Ok(ticket) => self.take_over(run_id, ticket).await,
                Err(e) => {
                    tracing::error!(run_id = %run_id, error = %e, "unreadable run ticket");
                    shared.leases.end(&run_id).await;
                }
            }
        }
    }

    fn abandon(&self, run_id: &str) {
        if let Some(active) = self
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(run_id).map(|a| a.abandon.clone()))
        {
            active.cancel();
        }
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
        self.start_turn(TurnRequest {
            session_id: session_id.map(str::to_owned),
            owner: owner.map(str::to_owned),
            message: message.to_owned(),
            agent: agent.map(str::to_owned),
            ..TurnRequest::default()
        })
        .await
    }

    /// Starts a run for `turn`.
    pub async fn start_turn(self: &Arc<Self>, turn: TurnRequest) -> Result<RunHandle, StartError> {
        let TurnRequest {
            session_id,
            owner,
            message,
            agent,
            history: given,
            instructions,
            client_tools,
            title,
        } = turn;
        let (session_id, owner, message, agent) = (
            session_id.as_deref(),
            owner.as_deref(),
            message.as_str(),
            agent.as_deref(),
        );
        if self.draining() {
            return Err(StartError::ShuttingDown);
        }
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
                let title: String = title.unwrap_or_else(|| {
                    message
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(60)
                        .collect()
                });
                (Session::new(owner, &title, agent), true)
            }
        };
        let given_history = given.is_some();
        let mut history: Vec<Message> = Vec::new();
        if let Some(given) = given {
            history = given;
        } else if !is_new {
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
        if !given_history {
            history.push(Message::User {
                text: message.to_owned(),
            });
        }
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
                    .filter(|a| a.owner.as_deref() == Some(owner))
                    .count()
            });
            self.quotas.begin_run(owner, &run_id, mine).await?;
        }
        let model = self
            .runner
            .agents()
            .get(&entry)
            .and_then(|a| a.model.clone())
            .unwrap_or_else(|| provider.model().to_owned());
        let ticket = Ticket {
            session: session.clone(),
            new_session: is_new,
            owner: owner.map(str::to_owned),
            message: message.to_owned(),
            history: history.clone(),
            agent: entry.clone(),
            provider: provider.name().to_owned(),
            model,
            instructions: instructions.clone(),
            client_tools: client_tools.clone(),
        };
        self.log.create(&run_id, &session.id).await;
        if let Some(shared) = &self.shared {
            let ticket = serde_json::to_string(&ticket).unwrap_or_default();
            if !shared.leases.hold(&run_id, &ticket).await {
                tracing::warn!(run_id = %run_id, "no lease for the run: another replica cannot take it over");
            }
        }
        tracing::info!(run_id = %run_id, session_id = %session.id, agent = %entry, "run started");
        let answered = Arc::new(Notify::new());
        let setup = {
            let (store, run_id, answered) = (self.store.clone(), run_id.clone(), answered.clone());
            let ticket = ticket.clone();
            tokio::spawn(async move {
                // The model's first word goes out before the first write
                // competes with it for the CPU; a model slower than
                // FIRST_WRITE_DELAY waits for the writes instead.
                tokio::select! {
                    () = answered.notified() => {}
                    () = tokio::time::sleep(FIRST_WRITE_DELAY) => {}
                }
                store.start_turn(&ticket.turn(&run_id)).await
            })
        };
        let handle = RunHandle {
            run_id: run_id.clone(),
            session_id: session.id.clone(),
        };
        let input = RunInput {
            history,
            agent: agent_name,
            cancel: CancellationToken::new(),
            instructions,
            client_tools,
            ..RunInput::default()
        };
        self.launch(run_id, ticket.owner, setup, answered, input, String::new());
        Ok(handle)
    }

    /// Registers a run as going here and spawns its producer.
    fn launch(
        self: &Arc<Self>,
        run_id: String,
        owner: Option<String>,
        setup: tokio::task::JoinHandle<Result<MessageRecord, StoreError>>,
        answered: Arc<Notify>,
        input: RunInput,
        text: String,
    ) {
        let abandon = CancellationToken::new();
        if let Ok(mut active) = self.active.lock() {
            active.insert(
                run_id.clone(),
                Active {
                    cancel: input.cancel.clone(),
                    abandon: abandon.clone(),
                    owner,
                },
            );
            metrics::gauge!("mas_active_sessions").set(active.len() as f64);
        }
        let manager = self.clone();
        self.tasks.spawn(async move {
            manager
                .produce(run_id, setup, answered, input, text, abandon)
                .await
        });
    }

    /// Carries on a run whose replica died (or handed it over) from its
    /// checkpoint: the steps it finished stay; the step it was in is
    /// discarded and requested again, reusing the tool results it had.
    async fn take_over(self: &Arc<Self>, run_id: String, ticket: Ticket) {
        let Some(shared) = &self.shared else { return };
        // Its lease lapsed (Redis was away) while it still runs here: the
        // claim made the lease ours again, and nothing else is needed.
        if self.active.lock().is_ok_and(|a| a.contains_key(&run_id)) {
            return;
        }
        let events = match self.log.read(&run_id, 0).await {
            Some((events, false)) => events,
            _ => {
                shared.leases.end(&run_id).await;
                return;
            }
        };
        let checkpoint = Checkpoint::from_log(&events);
        tracing::info!(run_id = %run_id, step = checkpoint.step, "taking the run over");
        metrics::counter!("mas_runs_taken_over_total").increment(1);
        let saved = match self.store.messages(&ticket.session.id).await {
            Ok(messages) => messages
                .into_iter()
                .find(|m| m.role == Role::Assistant && m.run_id.as_deref() == Some(&run_id)),
            Err(e) => {
                // The database is down: leave the run for a later tick.
                tracing::warn!(run_id = %run_id, error = %e, "cannot take the run over yet");
                shared.leases.release(&run_id).await;
                return;
            }
        };
        if let Some(record) = &saved {
            // Tool calls the other replica left running will never finish.
            if let Ok(calls) = self.store.tool_calls(&ticket.session.id).await {
                for call in calls
                    .iter()
                    .filter(|c| c.message_id == record.id && c.status == ToolStatus::Running)
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
        }
        let setup = {
            let (store, id, ticket) = (self.store.clone(), run_id.clone(), ticket.clone());
            tokio::spawn(async move {
                match saved {
                    Some(record) => Ok(record),
                    None => store.start_turn(&ticket.turn(&id)).await,
                }
            })
        };
        if checkpoint.discard {
            self.log
                .append(
                    &run_id,
                    RunEvent::StepDiscarded {
                        step: checkpoint.step,
                    },
                )
                .await;
        }
        let mut history = ticket.history.clone();
        history.extend(checkpoint.messages);
        let input = RunInput {
            history,
            agent: Some(checkpoint.agent.unwrap_or_else(|| ticket.agent.clone())),
            cancel: CancellationToken::new(),
            resume: Some(Resume {
                step: checkpoint.step,
                answer: checkpoint.answer.clone(),
                done: checkpoint.done,
            }),
            instructions: ticket.instructions.clone(),
            client_tools: ticket.client_tools.clone(),
        };
        let answered = Arc::new(Notify::new());
        self.launch(
            run_id,
            ticket.owner,
            setup,
            answered,
            input,
            checkpoint.answer,
        );
    }

    /// Stops a run; `false` when it is not going. A run produced by another
    /// replica is cancelled there (through Redis).
    pub async fn cancel(&self, run_id: &str) -> bool {
        if self.cancel_here(run_id) {
            return true;
        }
        match &self.shared {
            Some(shared) => shared.leases.request_cancel(run_id).await,
            None => false,
        }
    }

    /// Stops a run produced here; `false` when it is not.
    fn cancel_here(&self, run_id: &str) -> bool {
        match self
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(run_id).map(|a| a.cancel.clone()))
        {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops taking runs and lets running ones finish for up to `deadline`;
    /// then hands the rest to other replicas (with Redis) or cancels them.
    pub async fn shutdown(&self, deadline: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_ok()
        {
            self.closed.cancel();
            return;
        }
        let left: Vec<String> = self
            .active
            .lock()
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default();
        if let Ok(active) = self.active.lock() {
            for run in active.values() {
                match &self.shared {
                    Some(_) => run.abandon.cancel(),
                    None => run.cancel.cancel(),
                }
            }
        }
        self.tasks.wait().await;
        if let Some(shared) = &self.shared {
            for run_id in &left {
                tracing::info!(run_id = %run_id, "handing the run to another replica");
                shared.leases.release(run_id).await;
            }
        }
        self.closed.cancel();
    }

    async fn produce(
        self: Arc<Self>,
        run_id: String,
        setup: tokio::task::JoinHandle<Result<MessageRecord, StoreError>>,
        answered: Arc<Notify>,
        input: RunInput,
        text: String,
        abandon: CancellationToken,
    ) {
        let started = Instant::now();
        let mut events = Box::pin(
            self.runner
                .clone()
                .run(input)
                .take_until(abandon.clone().cancelled_owned()),
        );
        // A run carried on from a checkpoint starts with its earlier steps' text.
        let mut text = text;
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
        let abandoned = abandon.is_cancelled() && ending.is_none();
        if !abandoned {
            self.log_all(&run_id, &mut unlogged).await;
        }
        // The run stops counting as running before its last event is logged,
        // so a reader that saw the end cannot still cancel it.
        let owner = self.active.lock().ok().and_then(|mut active| {
            let run = active.remove(&run_id)?;
            metrics::gauge!("mas_active_sessions").set(active.len() as f64);
            run.owner
        });
        if let Some(owner) = owner {
            let spent = input_tokens.unwrap_or(0) + output_tokens.unwrap_or(0);
            self.quotas
                .end_run(&owner, &run_id, u64::try_from(spent).unwrap_or(0))
                .await;
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
        self.log.append(&run_id, ending).await;
        if let Some(shared) = &self.shared {
            shared.leases.end(&run_id).await;
        }
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

/// Where a run taken over carries on, read from its log: the messages of
/// the steps it finished, the agent speaking, the step to request again,
/// and the finished tool calls of that step.
#[derive(Debug, Default)]
struct Checkpoint {
    messages: Vec<Message>,
    agent: Option<String>,
    step: usize,
    answer: String,
    /// The interrupted step streamed something that must be discarded.
    discard: bool,
    done: Vec<(ToolCall, ToolResult)>,
}

impl Checkpoint {
    fn from_log(events: &[Numbered]) -> Self {
        let mut checkpoint = Checkpoint {
            step: 1,
            ..Checkpoint::default()
        };
        // The step in progress: (number, text, calls, results).
        let mut open: Option<(usize, String, Vec<ToolCall>, Vec<ToolResult>)> = None;
        for (_, event) in events {
            match event {
                RunEvent::AgentChanged { agent, .. } => checkpoint.agent = Some(agent.clone()),
                RunEvent::StepStarted { step } => {
                    open = Some((*step, String::new(), Vec::new(), Vec::new()));
                    checkpoint.step = *step;
                }
                RunEvent::TextDelta { text } => {
                    if let Some(step) = open.as_mut() {
                        step.1.push_str(text);
                    }
                }
                RunEvent::ToolInputAvailable {
                    call_id,
                    tool,
                    input,
                } => {
                    if let Some(step) = open.as_mut() {
                        step.2.push(ToolCall {
                            id: call_id.clone(),
                            name: tool.clone(),
                            arguments: input.clone(),
                            signature: None,
                        });
                    }
                }
                RunEvent::ToolOutput {
                    call_id,
                    tool,
                    output,
                    is_error,
                    ..
                } => {
                    if let Some(step) = open.as_mut() {
                        step.3.push(ToolResult {
                            call_id: call_id.clone(),
                            name: tool.clone(),
                            content: output.clone(),
                            is_error: *is_error,
                        });
                    }
                }
                RunEvent::StepFinished { .. } => {
                    if let Some((step, text, calls, results)) = open.take() {
                        checkpoint.answer.push_str(&text);
                        checkpoint.messages.push(Message::Assistant {
                            text,
                            tool_calls: calls,
                        });
                        checkpoint.messages.push(Message::Tool { results });
                        checkpoint.step = step + 1;
                    }
                }
                // A step discarded earlier starts again with the next StepStarted.
                RunEvent::StepDiscarded { .. } => open = None,
                _ => {}
            }
        }
        if let Some((_, _, calls, results)) = open {
            checkpoint.discard = true;
            checkpoint.done = calls
                .into_iter()
                .filter_map(|call| {
                    let result = results
                        .iter()
                        .find(|r| r.call_id == call.id && r.content != "cancelled")?
                        .clone();
                    Some((call, result))
                })
                .collect();
        }
        checkpoint
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
        assert_eq!(checkpoint.agent.as_deref(), Some("schools"));
        assert_eq!(checkpoint.answer, "Let me look. ");
        assert!(checkpoint.discard);
        assert_eq!(
            checkpoint.messages.len(),
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
        assert_eq!((again.step, again.answer.as_str()), (2, "Let me look. "));
        assert!(again.done.is_empty(), "results before the discard are gone");
    }
}
