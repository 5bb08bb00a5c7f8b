//! Conversation storage: sessions, messages (saved as a run progresses), tool
//! calls with their results and durations, and runs with status, usage and
//! timings. One trait; `sql::SqlStore` implements it on SQLite (the default,
//! a local file) and on PostgreSQL (`DATABASE_URL`), with the schema in
//! `migrations/<engine>/chat`. Beside it, the same database holds accounts
//! (`users`), long-term memory (`memories`) and background jobs (`jobs`).
//! One conformance suite runs on both engines.

pub mod jobs;
pub mod memories;
pub mod sql;
pub mod users;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    /// The user it belongs to (`None` in single-user local mode).
    pub owner: Option<String>,
    pub title: String,
    pub agent: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Reads and writes no memory.
    #[serde(default)]
    pub temporary: bool,
    /// Kept at the top of the sidebar.
    #[serde(default)]
    pub pinned: bool,
}

impl Session {
    /// A new session, not yet saved: its id is known before the database
    /// answers, so a run can start streaming while it is written.
    pub fn new(owner: Option<&str>, title: &str, agent: Option<&str>) -> Self {
        let now = now_ms();
        Session {
            id: uuid::Uuid::new_v4().to_string(),
            owner: owner.map(str::to_owned),
            title: title.to_owned(),
            agent: agent.map(str::to_owned),
            created_at: now,
            updated_at: now,
            temporary: false,
            pinned: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// Where a message stands: assistant text is saved while it streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Streaming,
    Complete,
    Cancelled,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: String,
    pub session_id: String,
    pub run_id: Option<String>,
    /// Position in the session, from 1.
    pub seq: i64,
    pub role: Role,
    pub agent: Option<String>,
    pub content: String,
    pub reasoning: String,
    pub status: MessageStatus,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Running,
    Ok,
    Error,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    pub id: String,
    pub session_id: String,
    pub run_id: String,
    pub message_id: String,
    /// The model's id for the call.
    pub call_id: String,
    pub name: String,
    /// JSON text.
    pub arguments: String,
    pub result: Option<String>,
    pub status: ToolStatus,
    pub started_at: i64,
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub session_id: String,
    pub status: RunStatus,
    pub agent: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub error: Option<String>,
    pub first_token_ms: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A long conversation's summary of its turns up to message `through_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub through_seq: i64,
    /// How many turns it covers.
    pub turns: i64,
    pub text: String,
    /// `model` or `extractive`.
    pub made_by: String,
    pub updated_at: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub error: Option<String>,
    pub first_token_ms: Option<i64>,
}

/// What one user spent over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRecord {
    /// `None`: the local user.
    pub owner: Option<String>,
    pub runs: i64,
    pub tokens: i64,
}

/// Usage is counted by the hour.
pub const USAGE_HOUR_MS: i64 = 3_600_000;

/// The start of a chat turn, written at once: the session (when new), the
/// user's message, the run, and the answer's (empty, streaming) message.
#[derive(Debug, Clone, Copy)]
pub struct NewTurn<'a> {
    pub session: &'a Session,
    pub new_session: bool,
    pub message: &'a str,
    pub run_id: &'a str,
    pub agent: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or the pool is exhausted: 503.
    #[error("the chat database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The row referred to does not exist.
    #[error("not found")]
    NotFound,
    /// A row with that unique value exists already.
    #[error("already exists")]
    Conflict,
    #[error("the chat database failed")]
    Internal(#[source] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait ChatStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn session(&self, id: &str) -> StoreResult<Option<Session>>;
    /// Pinned first, then newest first; `owner = None` lists every session
    /// (admin or local mode).
    async fn list_sessions(
        &self,
        owner: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Session>>;
    async fn rename_session(&self, id: &str, title: &str) -> StoreResult<bool>;
    async fn pin_session(&self, id: &str, pinned: bool) -> StoreResult<bool>;
    async fn session_summary(&self, session_id: &str) -> StoreResult<Option<SessionSummary>>;
    /// Saves `summary` unless one covering as much or more is kept already;
    /// whether it was saved.
    async fn save_session_summary(&self, summary: &SessionSummary) -> StoreResult<bool>;
    /// The most recent `limit` finished messages of `owner`'s sessions
    /// (`None`: the local user's, never anyone else's) holding every one of
    /// `terms` (the longer as word prefixes), newest first.
    async fn search_messages(
        &self,
        owner: Option<&str>,
        terms: &[String],
        limit: i64,
    ) -> StoreResult<Vec<MessageRecord>>;
    /// Removes the session with its messages, runs and tool calls.
    async fn delete_session(&self, id: &str) -> StoreResult<bool>;

    async fn start_run(
        &self,
        run_id: &str,
        session_id: &str,
        agent: &str,
        provider: &str,
        model: &str,
    ) -> StoreResult<RunRecord>;
    /// Records a turn's start in one transaction; returns the answer's message.
    async fn start_turn(&self, turn: &NewTurn<'_>) -> StoreResult<MessageRecord>;
    async fn finish_run(&self, run_id: &str, outcome: &RunOutcome) -> StoreResult<()>;
    async fn run(&self, run_id: &str) -> StoreResult<Option<RunRecord>>;
    /// The session's runs, oldest first.
    async fn session_runs(&self, session_id: &str) -> StoreResult<Vec<RunRecord>>;

    /// Appends a message at the end of the session.
    async fn append_message(
        &self,
        session_id: &str,
        run_id: Option<&str>,
        role: Role,
        agent: Option<&str>,
        content: &str,
        status: MessageStatus,
    ) -> StoreResult<MessageRecord>;
    /// Saves streamed text as it grows, and the final status.
    async fn update_message(
        &self,
        id: &str,
        content: &str,
        reasoning: &str,
        status: MessageStatus,
    ) -> StoreResult<()>;
    async fn messages(&self, session_id: &str) -> StoreResult<Vec<MessageRecord>>;

    async fn start_tool_call(
        &self,
        message: &MessageRecord,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> StoreResult<ToolCallRecord>;
    async fn finish_tool_call(
        &self,
        id: &str,
        status: ToolStatus,
        result: &str,
        duration_ms: i64,
    ) -> StoreResult<()>;
    async fn tool_calls(&self, session_id: &str) -> StoreResult<Vec<ToolCallRecord>>;

    /// Counts what a run cost its owner (`None`: the local user) at `at`:
    /// one more run when `run` is true, and `tokens`.
    async fn record_usage(
        &self,
        owner: Option<&str>,
        at: i64,
        run: bool,
        tokens: u64,
    ) -> StoreResult<()>;
    /// The users who spent the most since `at` (runs, then tokens), at most `limit`.
    async fn usage_since(&self, at: i64, limit: i64) -> StoreResult<Vec<UsageRecord>>;
    /// Removes usage counted before `before`; how many rows went.
    async fn prune_usage(&self, before: i64) -> StoreResult<u64>;

    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
