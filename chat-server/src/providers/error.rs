//! The one error type providers return, with the variants an agent acts on.

use std::time::Duration;

/// Which timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Connect,
    FirstByte,
    /// No bytes for longer than the idle limit in the middle of a stream.
    Idle,
    /// The whole call, retries included, ran past its deadline.
    Deadline,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429: slow down, then retry (after `retry_after` if the vendor says).
    #[error("rate limited by the provider: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 503 / 529 / overloaded: the vendor is busy; retry later.
    #[error("the provider is overloaded: {message}")]
    Overloaded {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Billing or daily quota exhausted: retrying cannot help.
    #[error("the provider quota is exhausted: {message}")]
    QuotaExhausted { message: String },
    /// The conversation does not fit the model's context window.
    #[error("the conversation is too long for the model: {message}")]
    ContextTooLong { message: String },
    /// The request itself is wrong (400/404/422).
    #[error("the provider rejected the request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    /// Missing or wrong API key (401/403).
    #[error("the provider refused the credentials ({status}): {message}")]
    Auth { status: u16, message: String },
    /// Other 5xx.
    #[error("the provider failed ({status}): {message}")]
    Server {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// An error event inside an HTTP 200 stream.
    #[error("the provider stream reported an error: {message}")]
    Stream {
        code: Option<String>,
        message: String,
        retryable: bool,
    },
    /// The prompt or answer was blocked by the vendor's safety system.
    #[error("the provider blocked the content: {reason}")]
    Blocked { reason: String },
    /// A tool call's arguments are not a valid JSON object (e.g. cut off by max_tokens).
    #[error("the model's call to {tool} has invalid arguments: {detail}")]
    InvalidToolArguments { tool: String, detail: String },
    #[error("the provider timed out ({0:?})")]
    Timeout(Timeout),
    /// Connection-level failure.
    #[error("could not reach the provider: {0}")]
    Transport(String),
    /// Data that is not what the vendor's format promises.
    #[error("the provider sent data that could not be read: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Whether trying the same request again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::Overloaded { .. }
            | ProviderError::Server { .. }
            | ProviderError::Transport(_) => true,
            ProviderError::Timeout(t) => *t != Timeout::Deadline,
            ProviderError::Stream { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The error's kind, for `mas_provider_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Overloaded { .. } => "overloaded",
            ProviderError::QuotaExhausted { .. } => "quota_exhausted",
            ProviderError::ContextTooLong { .. } => "context_too_long",
            ProviderError::BadRequest { .. } => "bad_request",
            ProviderError::Auth { .. } => "auth",
            ProviderError::Server { .. } => "server",
            ProviderError::Stream { .. } => "stream",
            ProviderError::Blocked { .. } => "blocked",
            ProviderError::InvalidToolArguments { .. } => "invalid_tool_arguments",
            ProviderError::Timeout(_) => "timeout",
            ProviderError::Transport(_) => "transport",
            ProviderError::Protocol(_) => "protocol",
        }
    }

    /// The wait the vendor asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Overloaded { retry_after, .. }
            | ProviderError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
