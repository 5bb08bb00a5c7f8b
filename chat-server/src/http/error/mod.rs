//! One error type for every route, one classification of it (status, code,
//! retry-after), and two renderings: the MAS envelope
//! `{ "error": { "code", "message" } }` here, and OpenAI's for `/v1`
//! (`openai`). Client errors say what was wrong; server errors stay opaque
//! while their cause is logged once.

pub mod openai;

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    auth::AuthError, limits::Refusal, memory::MemoryError, runs::StartError, store::StoreError,
};

/// Largest request body accepted (a longest message, escaped, fits); more is a 413.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without the needed scope.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    /// The body is over `MAX_BODY_BYTES`.
    #[error("{0}")]
    TooLarge(String),
    /// Over a rate limit: 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// Too many runs in progress (`MAX_CONCURRENT_SESSIONS`), or shutting down.
    #[error("{0}")]
    Busy(String),
    /// The database is down.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Waiting for an answer took longer than allowed.
    #[error("{0}")]
    TimedOut(String),
    /// The LLM provider failed.
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal,
}

/// How an error is answered, whatever the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub status: StatusCode,
    pub code: &'static str,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn class(&self) -> Class {
        let (status, code, retry_after) = match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            AppError::Gone(_) => (StatusCode::GONE, "gone", None),
            AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", None),
            AppError::TooManyRequests { retry_after, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Some(*retry_after),
            ),
            AppError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy", Some(5)),
            AppError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(5)),
            AppError::TimedOut(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout", Some(5)),
            AppError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error", None),
            AppError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        Class {
            status,
            code,
            retry_after,
        }
    }
}

/// `response` with the `Retry-After` its class asks for.
pub fn with_retry_after(mut response: Response, class: Class) -> Response {
    if let Some(seconds) = class.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let class = self.class();
        let body = json!({ "error": { "code": class.code, "message": self.to_string() } });
        with_retry_after((class.status, Json(body)).into_response(), class)
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::TooLarge(format!(
                "the request body is larger than {} KiB",
                MAX_BODY_BYTES / 1024
            ));
        }
        AppError::BadRequest(rejection.body_text())
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => AppError::NotFound("not found".into()),
            StoreError::Conflict => AppError::Conflict("it exists already".into()),
            StoreError::Unavailable(e) => {
                tracing::error!(error = %e, "chat database unavailable");
                AppError::Unavailable
            }
            StoreError::Internal(e) => {
                tracing::error!(error = %e, "chat database error");
                AppError::Internal
            }
        }
    }
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(message) => AppError::Unauthorized(message),
            AuthError::Forbidden(message) => AppError::Forbidden(message),
            AuthError::Malformed(message) => AppError::BadRequest(message),
            AuthError::Locked { retry_after } => AppError::TooManyRequests {
                message: error.to_string(),
                retry_after: retry_after.as_secs().max(1),
            },
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<MemoryError> for AppError {
    fn from(error: MemoryError) -> Self {
        match error {
            MemoryError::Invalid(message) => AppError::BadRequest(message),
            MemoryError::Full(_) | MemoryError::Off => AppError::Conflict(error.to_string()),
            MemoryError::NotFound(_) => AppError::NotFound(error.to_string()),
            MemoryError::Store(e) => e.into(),
        }
    }
}

impl From<StartError> for AppError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Busy(_) | StartError::ShuttingDown => AppError::Busy(error.to_string()),
            StartError::Quota(refusal) => AppError::TooManyRequests {
                message: refusal.to_string(),
                retry_after: match refusal {
                    Refusal::Runs(_) => 5,
                    Refusal::Tokens { retry_after, .. } => retry_after,
                },
            },
            StartError::SessionNotFound(_) => AppError::NotFound(error.to_string()),
            StartError::Store(e) => e.into(),
        }
    }
}
