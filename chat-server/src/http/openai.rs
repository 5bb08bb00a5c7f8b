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

use std::{
    convert::Infallible,
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Path, Request, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, error::AppError};
use crate::{
    agent::RunEvent,
    auth::{Principal, Scope},
    providers::{Message, ToolCall, ToolResult, ToolSpec, Usage},
    ratelimit::Class,
    runs::{TurnRequest, log::follow},
};

/// Model ids are the agents' names with this prefix.
const PREFIX: &str = "mas-";

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route("/v1/chat/completions", post(completions))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

/// An error in OpenAI's envelope: `{ "error": { message, type, param, code } }`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
            retry_after: None,
        }
    }

    fn unknown_model(model: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("The model `{model}` does not exist; GET /v1/models lists the agents"),
            kind: "invalid_request_error",
            param: Some("model"),
            code: Some("model_not_found"),
            retry_after: None,
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let message = error.to_string();
        let (status, kind, code, retry_after) = match &error {
            AppError::BadRequest(_) | AppError::TooLarge(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request_error", None, None)
            }
            AppError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                Some("invalid_api_key"),
                None,
            ),
            AppError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                Some("insufficient_scope"),
                None,
            ),
            AppError::NotFound(_) | AppError::Gone(_) => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("not_found"),
                None,
            ),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "invalid_request_error", None, None),
            AppError::TooManyRequests { retry_after, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                Some("rate_limit_exceeded"),
                Some(*retry_after),
            ),
            AppError::Busy(_) | AppError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                None,
                Some(5),
            ),
            AppError::Upstream(_) => (StatusCode::BAD_GATEWAY, "server_error", None, None),
            AppError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                None,
            ),
        };
        ApiError {
            status,
            message,
            kind,
            param: None,
            code,
            retry_after,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        AppError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code,
        } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Middleware: an API key (cookies are for the web UI, not this API), then
/// the request budgets, with errors in OpenAI's envelope.
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // OpenAI clients insist on a key: locally (no auth required) one that is
    // not a MAS key is ignored; a MAS key is still checked.
    let foreign = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim_start_matches("Bearer ").starts_with("mas_"));
    if foreign && !state.auth.required() {
        request.headers_mut().remove(header::AUTHORIZATION);
    }
    let principal = match state.auth.authenticate(request.headers()).await {
        Ok(principal) if principal.csrf.is_none() => principal,
        Ok(_) => {
            return ApiError::from(AppError::Unauthorized(
                "send an API key: Authorization: Bearer mas_...".into(),
            ))
            .into_response();
        }
        Err(e) => {
            state
                .auth
                .audit(
                    "invalid_credentials",
                    None,
                    None,
                    crate::auth::client_address(&request).as_deref(),
                    request.uri().path(),
                )
                .await;
            return ApiError::from(e).into_response();
        }
    };
    if let Some(limiter) = &state.limiter {
        let class = if request.method() == axum::http::Method::POST {
            Class::Chat
        } else {
            Class::Api
        };
        let mut keys = Vec::new();
        if let Some(user) = &principal.user_id {
            keys.push(format!("user:{user}"));
        }
        if let Some(address) = crate::auth::client_address(&request) {
            keys.push(format!("ip:{address}"));
        }
        let decision = limiter.check(class, &keys).await;
        if !decision.allowed {
            return ApiError::from(AppError::TooManyRequests {
                message: format!(
                    "Rate limit reached; try again in {} s",
                    decision.retry_after
                ),
                retry_after: decision.retry_after,
            })
            .into_response();
        }
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

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
    let runner = state.manager.runner();
    let agent = runner.agents().get(name);
    json!({
        "id": format!("{PREFIX}{name}"),
        "object": "model",
        "created": created(),
        "owned_by": "mas",
        "description": agent.map(|a| a.description.clone()),
    })
}

async fn models(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .manager
        .agent_names()
        .iter()
        .map(|name| model_object(&state, name))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

fn agent_of(state: &AppState, model: &str) -> Result<String, ApiError> {
    model
        .strip_prefix(PREFIX)
        .filter(|name| state.manager.agent_names().iter().any(|a| a == name))
        .map(str::to_owned)
        .ok_or_else(|| ApiError::unknown_model(model))
}

async fn model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = agent_of(&state, &id)?;
    Ok(Json(model_object(&state, &name)))
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Vec<InTool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum InMessage {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Vec<InToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: Content,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    fn text(&self) -> Result<String, ApiError> {
        match self {
            Content::Text(text) => Ok(text.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match (p.kind.as_str(), &p.text) {
                    ("text", Some(text)) => Ok(text.as_str()),
                    (kind, _) => Err(ApiError::invalid(
                        format!("content parts of type {kind:?} are not supported; send text"),
                        Some("messages"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("")),
        }
    }
}

#[derive(Debug, Deserialize)]
struct InToolCall {
    id: String,
    function: InFunctionCall,
}

#[derive(Debug, Deserialize)]
struct InFunctionCall {
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct InTool {
    #[serde(rename = "type")]
    kind: String,
    function: InFunction,
}

#[derive(Debug, Deserialize)]
struct InFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// What a completion request becomes: a turn, and how to answer.
struct Plan {
    turn: TurnRequest,
    stream: bool,
    include_usage: bool,
    /// `None`: the session exists only for this request.
    keep: bool,
}

async fn plan(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    request: CompletionRequest,
) -> Result<Plan, ApiError> {
    let agent = agent_of(state, &request.model)?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("only n = 1 is supported", Some("n")));
    }
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages must not be empty",
            Some("messages"),
        ));
    }
    let server_tools = state.manager.runner().tool_names();
    let mut client_tools = Vec::new();
    for tool in request.tools {
        if tool.kind != "function" {
            return Err(ApiError::invalid(
                format!("tools of type {:?} are not supported", tool.kind),
                Some("tools"),
            ));
        }
        if server_tools.contains(&tool.function.name)
            || tool.function.name.starts_with("transfer_to_")
        {
            return Err(ApiError::invalid(
                format!(
                    "the tool name {:?} is taken by MAS's own tools",
                    tool.function.name
                ),
                Some("tools"),
            ));
        }
        client_tools.push(ToolSpec {
            name: tool.function.name,
            description: tool.function.description.unwrap_or_default(),
            parameters: tool
                .function
                .parameters
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
        });
    }
    let mut instructions = Vec::new();
    let mut history: Vec<Message> = Vec::new();
    let mut question = None;
    for message in request.messages {
        match message {
            InMessage::System { content } | InMessage::Developer { content } => {
                instructions.push(content.text()?);
            }
            InMessage::User { content } => {
                let text = content.text()?;
                question = Some(text.clone());
                history.push(Message::User { text });
            }
            InMessage::Assistant {
                content,
                tool_calls,
            } => {
                let text = match content {
                    Some(content) => content.text()?,
                    None => String::new(),
                };
                let calls = tool_calls
                    .into_iter()
                    .map(|call| {
                        let arguments: Value = serde_json::from_str(&call.function.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .ok_or_else(|| {
                                ApiError::invalid(
                                    format!(
                                        "the arguments of tool call {:?} are not a JSON object",
                                        call.id
                                    ),
                                    Some("messages"),
                                )
                            })?;
                        Ok(ToolCall {
                            id: call.id,
                            name: call.function.name,
                            arguments,
                            signature: None,
                        })
                    })
                    .collect::<Result<Vec<_>, ApiError>>()?;
                history.push(Message::Assistant {
                    text,
                    tool_calls: calls,
                });
            }
            InMessage::Tool {
                tool_call_id,
                content,
            } => {
                let name = history
                    .iter()
                    .rev()
                    .find_map(|m| match m {
                        Message::Assistant { tool_calls, .. } => tool_calls
                            .iter()
                            .find(|c| c.id == tool_call_id)
                            .map(|c| c.name.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        ApiError::invalid(
                            format!("tool message for unknown tool_call_id {tool_call_id:?}"),
                            Some("messages"),
                        )
                    })?;
                let result = ToolResult {
                    call_id: tool_call_id,
                    name,
                    content: content.text()?,
                    is_error: false,
                };
                match history.last_mut() {
                    Some(Message::Tool { results }) => results.push(result),
                    _ => history.push(Message::Tool {
                        results: vec![result],
                    }),
                }
            }
        }
    }
    if !matches!(
        history.last(),
        Some(Message::User { .. } | Message::Tool { .. })
    ) {
        return Err(ApiError::invalid(
            "the last message must be from the user or a tool",
            Some("messages"),
        ));
    }
    let Some(question) = question else {
        return Err(ApiError::invalid(
            "the conversation has no user message",
            Some("messages"),
        ));
    };
    let session_header = headers
        .get("x-mas-session")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (session_id, title) = match (session_header, &request.user) {
        (Some(id), _) => {
            let visible = state
                .store
                .session(&id)
                .await?
                .is_some_and(|s| principal.may_see(s.owner.as_deref()));
            if !visible {
                return Err(AppError::NotFound(format!("no session has id {id:?}")).into());
            }
            (Some(id), None)
        }
        (None, Some(user)) => {
            let title = format!("API · {}", user.chars().take(60).collect::<String>());
            let sessions = state.store.list_sessions(principal.owner(), 200, 0).await?;
            let found = sessions
                .into_iter()
                .find(|s| s.title == title)
                .map(|s| s.id);
            (found, Some(title))
        }
        (None, None) => (None, None),
    };
    let keep = session_id.is_some() || title.is_some();
    Ok(Plan {
        turn: TurnRequest {
            session_id,
            owner: principal.owner().map(str::to_owned),
            message: question,
            agent: Some(agent),
            history: Some(history),
            instructions: (!instructions.is_empty()).then(|| instructions.join("\n\n")),
            client_tools,
            title,
        },
        stream: request.stream,
        include_usage: request.stream_options.is_some_and(|o| o.include_usage),
        keep,
    })
}

async fn completions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Chat)?;
    let Json(request) = body.map_err(|e| ApiError::invalid(e.body_text(), None))?;
    let model = request.model.clone();
    let plan = plan(&state, &principal, &headers, request).await?;
    let handle = state
        .manager
        .start_turn(plan.turn)
        .await
        .map_err(|e| ApiError::from(AppError::from(e)))?;
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
        stream(&state, handle.run_id, completion, plan.include_usage)
    } else {
        whole(&state, &handle.run_id, completion).await?
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
        state.manager.log(),
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

struct Completion {
    id: String,
    model: String,
    created: u64,
}

/// What a run said, gathered for a completion.
#[derive(Default)]
struct Outcome {
    text: String,
    calls: Vec<ToolCall>,
    usage: (u64, u64),
    failed: Option<String>,
}

impl Outcome {
    fn add(&mut self, event: &RunEvent) {
        match event {
            RunEvent::TextDelta { text } => self.text.push_str(text),
            RunEvent::ClientToolCalls { calls } => self.calls.extend(calls.iter().cloned()),
            RunEvent::Usage { usage, .. } => add_usage(&mut self.usage, usage),
            RunEvent::StepDiscarded { .. } => {}
            RunEvent::Failed { message } => self.failed = Some(message.clone()),
            RunEvent::Cancelled => self.failed = Some("the run was cancelled".into()),
            _ => {}
        }
    }

    fn finish_reason(&self) -> &'static str {
        if self.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }
}

fn add_usage(total: &mut (u64, u64), usage: &Usage) {
    total.0 += usage.input_tokens.unwrap_or(0);
    total.1 += usage.output_tokens.unwrap_or(0);
}

fn usage_json(usage: (u64, u64)) -> Value {
    json!({ "prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1 })
}

fn tool_calls_json(calls: &[ToolCall]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({ "index": i, "id": c.id, "type": "function",
                "function": { "name": c.name, "arguments": c.arguments.to_string() } })
        })
        .collect()
}

/// A run's discarded step leaves a partial text behind: it is cut back to
/// where that step began.
fn whole_text(events: &[(u64, RunEvent)]) -> Outcome {
    let mut outcome = Outcome::default();
    let mut mark = 0;
    for (_, event) in events {
        match event {
            RunEvent::StepStarted { .. } => mark = outcome.text.len(),
            RunEvent::StepDiscarded { .. } => outcome.text.truncate(mark),
            event => outcome.add(event),
        }
    }
    outcome
}

async fn whole(
    state: &AppState,
    run_id: &str,
    completion: Completion,
) -> Result<Response, ApiError> {
    let events: Vec<(u64, RunEvent)> = follow(state.manager.log(), run_id.to_owned(), 0)
        .collect()
        .await;
    let outcome = whole_text(&events);
    if let Some(message) = outcome.failed {
        return Err(AppError::Upstream(message).into());
    }
    let mut message = json!({ "role": "assistant", "content": outcome.text, "refusal": null });
    if !outcome.calls.is_empty() {
        message["tool_calls"] = json!(tool_calls_json(&outcome.calls));
        if outcome.text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    Ok(Json(json!({
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "system_fingerprint": null,
        "choices": [{ "index": 0, "message": message, "logprobs": null,
            "finish_reason": outcome.finish_reason() }],
        "usage": usage_json(outcome.usage),
    }))
    .into_response())
}

/// Cancels the run if the client goes away before its end.
struct CancelOnDrop {
    state: AppState,
    run_id: String,
    done: bool,
}

impl CancelOnDrop {
    fn finished(&mut self) {
        self.done = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.done {
            let (manager, run_id) = (self.state.manager.clone(), self.run_id.clone());
            tracing::info!(run_id = %run_id, "API client left mid-stream; cancelling the run");
            tokio::spawn(async move { manager.cancel(&run_id).await });
        }
    }
}

/// One `chat.completion.chunk` event.
fn chunk(completion: &Completion, choices: Value, usage: Option<Value>) -> Bytes {
    let mut body = json!({
        "id": completion.id, "object": "chat.completion.chunk", "created": completion.created,
        "model": completion.model, "system_fingerprint": null, "choices": choices,
    });
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    Bytes::from(format!("data: {body}\n\n"))
}

fn stream(
    state: &AppState,
    run_id: String,
    completion: Completion,
    include_usage: bool,
) -> Response {
    let events = follow(state.manager.log(), run_id.clone(), 0);
    let guard = CancelOnDrop {
        state: state.clone(),
        run_id,
        done: false,
    };
    // With include_usage every chunk has `usage: null` but the last.
    let null_usage = include_usage.then_some(Value::Null);
    let delta = move |completion: &Completion, delta: Value, finish: Option<&str>| {
        let choices =
            json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
        chunk(completion, choices, null_usage.clone())
    };
    let body = async_stream::stream! {
        // The whole guard moves into the stream: dropped with it.
        let mut guard = guard;
        let mut events = std::pin::pin!(events);
        let mut outcome = Outcome::default();
        yield Ok::<_, Infallible>(delta(&completion, json!({ "role": "assistant", "content": "" }), None));
        while let Some((_, event)) = events.next().await {
            match &event {
                RunEvent::TextDelta { text } => yield Ok(delta(&completion, json!({ "content": text }), None)),
                RunEvent::ClientToolCalls { calls } => {
                    yield Ok(delta(&completion, json!({ "tool_calls": tool_calls_json(calls) }), None));
                }
                // A run that changed replicas mid-step starts that step
                // again; an OpenAI client cannot take text back, so it is told.
                RunEvent::StepDiscarded { .. } => {
                    yield Ok(delta(&completion, json!({ "content": "\n\n[interrupted; answering again]\n\n" }), None));
                }
                _ => {}
            }
            outcome.add(&event);
            if event.is_terminal() {
                break;
            }
        }
        guard.finished();
        if let Some(message) = outcome.failed {
            let error = json!({ "error": { "message": message, "type": "server_error", "param": null, "code": null } });
            yield Ok(Bytes::from(format!("data: {error}\n\n")));
        } else {
            yield Ok(delta(&completion, json!({}), Some(outcome.finish_reason())));
            if include_usage {
                yield Ok(chunk(&completion, json!([]), Some(usage_json(outcome.usage))));
            }
        }
        yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
    };
    super::event_stream(body)
}
