//! What every handler shares: one `Clone` state of `Arc`s.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::Auth, conversations::usage::Prices, jobs::Jobs, limits::RateLimiter, memory::Memories,
    runs::Runs, store::ChatStore,
};

#[derive(Clone)]
pub struct AppState {
    pub runs: Arc<Runs>,
    pub store: Arc<dyn ChatStore>,
    pub auth: Auth,
    /// Request budgets (`None`: unlimited).
    pub limiter: Option<Arc<RateLimiter>>,
    /// Interval of SSE heartbeat comments.
    pub heartbeat: Duration,
    /// Trusted hosts, CORS and the time limit of non-streaming routes.
    pub hardening: platform::Hardening,
    /// Time `POST /api/chat` may wait for a whole answer (the run goes on after it).
    pub chat_timeout: Duration,
    /// Days the audit log is kept (`AUDIT_RETENTION_DAYS`), for the security report.
    pub audit_retention_days: u32,
    /// The users' memories and profiles.
    pub memories: Arc<Memories>,
    /// The background job queue (its depth is a metric).
    pub jobs: Arc<Jobs>,
    /// Model prices, for conversations' estimated cost.
    pub prices: Arc<Prices>,
}
