//! The OpenAI-compatible API: MAS's agents as models (`mas-coordinator`,
//! `mas-schools`, ...) for any OpenAI client.
//!
//! - `GET /v1/models`, `GET /v1/models/{id}`.
//! - `POST /v1/chat/completions`: the request's messages are the
//!   conversation; the agent runs its MCP tools server-side (not shown as
//!   `tool_calls`), and the client's own `tools` are offered too: a call to
//!   one ends the response with `tool_calls` / `finish_reason: "tool_calls"`,
//!   and the next request, with the results, carries on. `stream: true`
//!   sends `chat.completion.chunk` events ending with `data: [DONE]`
//!   (`stream_options.include_usage` adds the usage chunk).
//! - Errors in OpenAI's envelope and status codes; the same API keys.
//! - `X-MAS-Session: <id>` keeps the turn in that MAS session; `user` keeps
//!   it in that user's API session; otherwise nothing is kept.

mod request;
mod response;

use std::{
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue},
    response::Response,
};
use futures::StreamExt;
use serde_json::{Value, json};

use self::{request::CompletionRequest, response::Completion};
use crate::{
    domain::Scope,
    http::{AppState, caller::Caller, error::openai::OpenAiError},
    runs::log::follow,
};

/// Model ids are the agents' names with this prefix.
const PREFIX: &str = "mas-";

/// When the models "were created": when this server started.
fn created() -> u64 {
    static STARTED: OnceLock<u64> = OnceLock::new();
    *STARTED.get_or_init(now)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn model_object(state: &AppState, name: &str) -> Value {
    let runner = state.runs.runner();
    let agent = runner.agents().get(name);
    json!({
        "id": format!("{PREFIX}{name}"),
        "object": "model",
        "created": created(),
        "owned_by": "mas",
        "description": agent.map(|a| a.description.clone()),
    })
}

/// `GET /v1/models`
pub async fn models(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .runs
        .agent_names()
        .iter()
        .map(|name| model_object(&state, name))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

pub(super) fn agent_of(state: &AppState, model: &str) -> Result<String, OpenAiError> {
    model
        .strip_prefix(PREFIX)
        .filter(|name| state.runs.agent_names().iter().any(|a| a == name))
        .map(str::to_owned)
        .ok_or_else(|| OpenAiError::unknown_model(model))
}

/// `GET /v1/models/{id}`
pub async fn model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let name = agent_of(&state, &id)?;
    Ok(Json(model_object(&state, &name)))
}

/// `POST /v1/chat/completions`
pub async fn completions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    body: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, OpenAiError> {
    principal.require(Scope::Chat)?;
    let Json(request): Json<CompletionRequest> =
        body.map_err(|e| OpenAiError::invalid(e.body_text(), None))?;
    let model = request.model.clone();
    let plan = request::plan(&state, &principal, &headers, request).await?;
    let handle = state.runs.start(plan.turn).await?;
    let id = format!("chatcmpl-{}", handle.run_id);
    let completion = Completion {
        id,
        model,
        created: now(),
    };
    let session_header = HeaderValue::from_str(&handle.session_id).ok();
    if !plan.keep {
        forget_when_done(&state, &handle.run_id, &handle.session_id);
    }
    let mut response = if plan.stream {
        response::stream(&state, handle.run_id, completion, plan.include_usage)
    } else {
        response::whole(&state, &handle.run_id, completion).await?
    };
    if plan.keep
        && let Some(value) = session_header
    {
        response.headers_mut().insert("x-mas-session", value);
    }
    Ok(response)
}

/// Deletes a request's own session once its run has ended.
fn forget_when_done(state: &AppState, run_id: &str, session_id: &str) {
    let (log, store, run_id, session_id) = (
        state.runs.log(),
        state.store.clone(),
        run_id.to_owned(),
        session_id.to_owned(),
    );
    tokio::spawn(async move {
        let _ = follow(log, run_id, 0).collect::<Vec<_>>().await;
        if let Err(e) = store.delete_session(&session_id).await {
            tracing::warn!(error = %e, "removing an API request's session failed");
        }
    });
}
