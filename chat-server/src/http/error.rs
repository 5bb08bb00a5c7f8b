//! One error type for every route, one JSON envelope:
//! `{ "error": { "code", "message" } }`. Client errors say what was wrong;
//! server errors stay opaque while their cause is logged once.

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::store::StoreError;

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
    /// Too many runs in progress (`MAX_CONCURRENT_SESSIONS`).
    #[error("{0}")]
    Busy(String),
    /// The database is down.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// The LLM provider failed.
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal,
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::TooLarge(format!(
                "the request body is larger than {} KiB",
                crate::http::MAX_BODY_BYTES / 1024
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

impl From<crate::runs::StartError> for AppError {
    fn from(error: crate::runs::StartError) -> Self {
        use crate::{quota::Refusal, runs::StartError};
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

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Gone(_) => (StatusCode::GONE, "gone"),
            AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AppError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            AppError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            AppError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut response = (
            status,
            Json(json!({ "error": { "code": code, "message": self.to_string() } })),
        )
            .into_response();
        if let AppError::TooManyRequests { retry_after, .. } = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert("retry-after", value);
        }
        if matches!(self, AppError::Busy(_) | AppError::Unavailable) {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("5"));
        }
        response
    }
}
