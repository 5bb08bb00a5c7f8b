//! Errors in OpenAI's envelope, `{ "error": { message, type, param, code } }`:
//! the same classification as every other route, written
//! the way OpenAI clients read it.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{AppError, with_retry_after};
use crate::{auth::AuthError, runs::StartError, store::StoreError};

/// An error for an OpenAI client: what went wrong, and the request field at fault.
#[derive(Debug)]
pub struct OpenAiError {
    error: AppError,
    param: Option<&'static str>,
    /// OpenAI's own code, where it has one for the case.
    code: Option<&'static str>,
}

impl OpenAiError {
    /// A bad request naming the field at fault.
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        OpenAiError {
            error: AppError::BadRequest(message.into()),
            param,
            code: None,
        }
    }

    pub fn unknown_model(model: &str) -> Self {
        OpenAiError {
            error: AppError::NotFound(format!(
                "The model `{model}` does not exist; GET /v1/models lists the agents"
            )),
            param: Some("model"),
            code: Some("model_not_found"),
        }
    }
}

impl From<AppError> for OpenAiError {
    fn from(error: AppError) -> Self {
        OpenAiError {
            error,
            param: None,
            code: None,
        }
    }
}

impl From<StoreError> for OpenAiError {
    fn from(error: StoreError) -> Self {
        AppError::from(error).into()
    }
}

impl From<AuthError> for OpenAiError {
    fn from(error: AuthError) -> Self {
        AppError::from(error).into()
    }
}

impl From<StartError> for OpenAiError {
    fn from(error: StartError) -> Self {
        AppError::from(error).into()
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let class = self.error.class();
        let (kind, code) = match class.status {
            StatusCode::UNAUTHORIZED => ("invalid_request_error", Some("invalid_api_key")),
            StatusCode::FORBIDDEN => ("permission_error", Some("insufficient_scope")),
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                ("invalid_request_error", Some("not_found"))
            }
            StatusCode::TOO_MANY_REQUESTS => ("requests", Some("rate_limit_exceeded")),
            status if status.is_server_error() => ("server_error", None),
            _ => ("invalid_request_error", None),
        };
        let body = json!({ "error": {
            "message": self.error.to_string(), "type": kind, "param": self.param,
            "code": self.code.or(code),
        } });
        with_retry_after((class.status, Json(body)).into_response(), class)
    }
}
