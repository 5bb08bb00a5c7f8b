//! The chat server's HTTP API: runs streamed over SSE (Vercel AI SDK UI
//! message stream v1), resumable with `Last-Event-ID`; cancel; a non-streaming
//! chat call; sessions; health, readiness and metrics.

pub mod account;
pub mod admin;
pub mod error;
pub mod hardening;
pub mod openai;
pub mod protocol;
pub mod telemetry;
pub mod web;

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension, Json, Router,
    body::{Body, Bytes},
    extract::{Path, Query, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use self::{error::AppError, protocol::Mapper};
use crate::{
    agent::RunEvent,
    auth::{self, Auth, Principal, Scope},
    runs::{
        RunManager,
        log::{follow, follow_batches},
    },
    store::{ChatStore, Session},
};

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

#[derive(Clone)]
pub struct AppState {
    pub manager: Arc<RunManager>,
    pub store: Arc<dyn ChatStore>,
    pub auth: Auth,
    /// Request budgets (`None`: unlimited).
    pub limiter: Option<Arc<crate::ratelimit::RateLimiter>>,
    /// Interval of SSE heartbeat comments.
    pub heartbeat: Duration,
    /// Trusted hosts, CORS and the time limit of non-streaming routes.
    pub hardening: mcp_server::hardening::Hardening,
}

/// Largest request body accepted (a longest message, escaped, fits); more is a 413.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// Time `POST /api/chat` may wait for a whole answer (the run goes on after it).
pub const CHAT_TIMEOUT: Duration = Duration::from_secs(300);

pub fn router(state: AppState) -> Router {
    router_with_mcp(state, None)
}

/// The router, with `/mcp` (the EMIS tools over MCP) when given.
pub fn router_with_mcp(state: AppState, mcp: Option<Router<AppState>>) -> Router {
    mcp_server::telemetry::metrics_handle();
    // Every API route needs a principal (an API key, or the local user when
    // auth is not required); pages, assets and operations do not.
    let hardening = state.hardening.clone();
    let answers = Router::new().route("/api/chat", post(chat)).route_layer(
        axum::middleware::from_fn_with_state(CHAT_TIMEOUT, mcp_server::hardening::time_limit),
    );
    let streams = Router::new()
        .route("/chat/stream", post(chat_stream))
        .route("/api/runs/{run_id}/stream", get(run_stream));
    let api = Router::new()
        .route("/api", get(api_index))
        .route("/api/status", get(status))
        .route("/api/runs/{run_id}/cancel", post(cancel))
        .route("/api/sessions", get(list_sessions))
        .route("/api/auth/me", get(account::me))
        .route("/api/admin/security-report", get(account::security_report))
        .route(
            "/api/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/api/admin/keys",
            get(admin::list_keys).post(admin::create_key),
        )
        .route(
            "/api/admin/keys/{id}",
            axum::routing::delete(admin::revoke_key),
        )
        .route("/logout", post(account::sign_out))
        .route(
            "/api/sessions/{id}",
            get(get_session)
                .patch(rename_session)
                .delete(delete_session),
        );
    let api = hardening.time_limited(api).merge(answers).merge(streams);
    // Layers run outside in: authentication first, then the budgets (which
    // charge the authenticated user as well as the address).
    let api = match &state.limiter {
        Some(limiter) => api.route_layer(axum::middleware::from_fn_with_state(
            limiter.clone(),
            crate::ratelimit::limit,
        )),
        None => api,
    }
    .route_layer(axum::middleware::from_fn_with_state(
        state.auth.clone(),
        auth::authenticate,
    ));
    let pages = Router::new()
        .route("/", get(web::index))
        .route("/c/{session_id}", get(web::conversation))
        .route("/static/{*path}", get(web::asset))
        .route("/login", get(account::page).post(account::sign_in))
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .route("/metrics", get(telemetry::metrics));
    let router = hardening
        .time_limited(pages)
        .merge(api)
        .merge(mcp.unwrap_or_default())
        .merge(openai::routes(state.clone()))
        .fallback(|uri: axum::http::Uri| async move { web::not_found(&uri) })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
    hardening
        .apply(router)
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            hardening::headers,
        ))
        .layer(axum::middleware::from_fn(telemetry::track))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub message: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
}

fn validated(body: Result<Json<ChatBody>, JsonRejection>) -> Result<ChatBody, AppError> {
    let Json(body) = body?;
    let chars = body.message.chars().count();
    if body.message.trim().is_empty() {
        return Err(AppError::BadRequest("message must not be empty".into()));
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(AppError::BadRequest(format!(
            "message is too long ({chars} characters; at most {MAX_MESSAGE_CHARS})"
        )));
    }
    Ok(body)
}

/// The session `id` if `principal` may see it; 404 otherwise, so another
/// user's ids do not even show that they exist.
async fn visible_session(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Session, AppError> {
    state
        .store
        .session(id)
        .await?
        .filter(|s| principal.may_see(s.owner.as_deref()))
        .ok_or_else(|| AppError::NotFound(format!("no session has id {id:?}")))
}

/// The session of run `run_id` if `principal` may see it (404 otherwise),
/// and whether the run's events are still in the log.
async fn visible_run(
    state: &AppState,
    principal: &Principal,
    run_id: &str,
) -> Result<(Session, bool), AppError> {
    let missing = || AppError::NotFound(format!("no run has id {run_id:?}"));
    let (session_id, logged) = match state.manager.log().session(run_id).await {
        Some(session_id) => (session_id, true),
        None => (
            state
                .store
                .run(run_id)
                .await?
                .ok_or_else(missing)?
                .session_id,
            false,
        ),
    };
    let session = visible_session(state, principal, &session_id)
        .await
        .map_err(|_| missing())?;
    Ok((session, logged))
}

async fn start(
    state: &AppState,
    principal: &Principal,
    body: &ChatBody,
) -> Result<crate::runs::RunHandle, AppError> {
    principal.require(Scope::Chat)?;
    if let Some(id) = &body.session_id {
        visible_session(state, principal, id).await?;
    }
    if let Some(agent) = &body.agent
        && state.manager.agent_names().iter().all(|a| a != agent)
    {
        return Err(AppError::BadRequest(format!(
            "unknown agent {agent:?}; agents: {}",
            state.manager.agent_names().join(", ")
        )));
    }
    state
        .manager
        .start(
            body.session_id.as_deref(),
            principal.owner(),
            &body.message,
            body.agent.as_deref(),
        )
        .await
        .map_err(AppError::from)
}

/// SSE of a run from just after `after` (event number, part index).
///
/// The body is written by hand rather than with axum's `Sse`: one `Event` per
/// part means one write per token, while a batch of the run log (everything
/// logged since the reader last looked) is encoded here as one chunk, which
/// keeps a busy server's writes few. The format is three fixed lines.
fn sse(state: &AppState, run_id: String, session_id: String, after: (u64, usize)) -> Response {
    let batches = follow_batches(state.manager.log(), run_id.clone(), 0);
    let chunks = protocol_chunks(batches, run_id, session_id, after);
    let heartbeat = state.heartbeat;
    // A replica that shuts down ends its streams; clients resume elsewhere.
    let chunks = chunks.take_until(state.manager.closed().cancelled_owned());
    let body = async_stream::stream! {
        let mut chunks = std::pin::pin!(chunks);
        loop {
            match tokio::time::timeout(heartbeat, chunks.next()).await {
                Ok(Some(chunk)) => yield Ok::<_, Infallible>(chunk),
                Ok(None) => break,
                Err(_) => yield Ok(Bytes::from_static(b": heartbeat\n\n")),
            }
        }
    };
    let mut response = event_stream(body);
    response.headers_mut().insert(
        protocol::HEADER.0,
        HeaderValue::from_static(protocol::HEADER.1),
    );
    response
}

/// An SSE response: not cached, not buffered by nginx.
pub fn event_stream(
    body: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The protocol's SSE events for each batch of run events, one chunk per
/// batch, ending with `data: [DONE]` after the terminal event.
fn protocol_chunks(
    batches: impl Stream<Item = Vec<(u64, RunEvent)>> + Send + 'static,
    run_id: String,
    session_id: String,
    after: (u64, usize),
) -> impl Stream<Item = Bytes> + Send + 'static {
    let mut mapper = Mapper::default();
    batches.filter_map(move |batch| {
        let mut out = String::new();
        for (seq, event) in batch {
            let parts = mapper.parts(seq, &event, &run_id, &session_id);
            for (i, part) in parts.into_iter().enumerate() {
                // Events are numbered from 1, so (0, 0) means "from the start".
                if (seq, i) > after {
                    out.push_str(&format!("id: {seq}.{i}\ndata: {part}\n\n"));
                }
            }
            if event.is_terminal() {
                out.push_str("data: [DONE]\n\n");
            }
        }
        std::future::ready((!out.is_empty()).then(|| Bytes::from(out)))
    })
}

async fn chat_stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let body = validated(body)?;
    let handle = start(&state, &principal, &body).await?;
    Ok(sse(&state, handle.run_id, handle.session_id, (0, 0)))
}

async fn run_stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    // The log knows the runs it holds; the store, runs whose events have expired.
    let (session, logged) = visible_run(&state, &principal, &run_id).await?;
    if !logged {
        return Err(AppError::Gone(format!(
            "the events of run {run_id} are no longer kept; read the session instead"
        )));
    }
    let session_id = session.id;
    let after = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        None => (0, 0),
        Some(id) => protocol::parse_event_id(id).ok_or_else(|| {
            AppError::BadRequest(format!(
                "Last-Event-ID {id:?} is not an event id of this API"
            ))
        })?,
    };
    Ok(sse(&state, run_id, session_id, after))
}

async fn cancel(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(run_id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_run(&state, &principal, &run_id).await?;
    if state.manager.cancel(&run_id).await {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": run_id, "status": "cancelling" })),
        )
            .into_response());
    }
    match state.store.run(&run_id).await? {
        Some(run) => Err(AppError::Conflict(format!(
            "run {run_id} is not running (status {:?})",
            run.status
        ))),
        None => Err(AppError::NotFound(format!("no run has id {run_id:?}"))),
    }
}

async fn chat(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let body = validated(body)?;
    let handle = start(&state, &principal, &body).await?;
    let mut text = String::new();
    let mut tool_calls: Vec<Value> = Vec::new();
    let mut usage = json!({ "input_tokens": null, "output_tokens": null });
    let mut agent = None;
    let mut outcome = json!("completed");
    let mut events = Box::pin(follow(state.manager.log(), handle.run_id.clone(), 0));
    while let Some((_, event)) = events.next().await {
        match event {
            RunEvent::TextDelta { text: t } => text.push_str(&t),
            RunEvent::AgentChanged { agent: a, .. } => agent = Some(a),
            RunEvent::ToolInputAvailable {
                call_id,
                tool,
                input,
            } => tool_calls.push(json!({ "id": call_id, "tool": tool, "arguments": input })),
            RunEvent::ToolOutput {
                call_id,
                output,
                is_error,
                duration_ms,
                ..
            } => {
                if let Some(call) = tool_calls.iter_mut().find(|c| c["id"] == call_id) {
                    call["result"] = json!(output);
                    call["is_error"] = json!(is_error);
                    call["duration_ms"] = json!(duration_ms);
                }
            }
            RunEvent::Usage { usage: u, .. } => {
                let add = |old: &Value, new: Option<u64>| match (old.as_u64(), new) {
                    (o, Some(n)) => json!(o.unwrap_or(0) + n),
                    (_, None) => old.clone(),
                };
                usage["input_tokens"] = add(&usage["input_tokens"], u.input_tokens);
                usage["output_tokens"] = add(&usage["output_tokens"], u.output_tokens);
            }
            RunEvent::Failed { message } => {
                return Err(AppError::Upstream(message));
            }
            RunEvent::Cancelled => outcome = json!("cancelled"),
            _ => {}
        }
    }
    Ok(Json(json!({
        "session_id": handle.session_id,
        "run_id": handle.run_id,
        "status": outcome,
        "agent": agent,
        "message": text,
        "tool_calls": tool_calls,
        "usage": usage,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_sessions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::SessionsRead)?;
    let Query(page) = page.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(50);
    let offset = page.offset.unwrap_or(0);
    if !(1..=200).contains(&limit) || offset < 0 {
        return Err(AppError::BadRequest(
            "limit must be 1 to 200 and offset 0 or more".into(),
        ));
    }
    let owner = if principal.sees_all() {
        None
    } else {
        principal.owner()
    };
    let sessions = state.store.list_sessions(owner, limit, offset).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

async fn get_session(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::SessionsRead)?;
    let session = visible_session(&state, &principal, &id).await?;
    let messages = state.store.messages(&id).await?;
    let calls = state.store.tool_calls(&id).await?;
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let mine: Vec<&crate::store::ToolCallRecord> =
                calls.iter().filter(|c| c.message_id == m.id).collect();
            let mut v = json!(m);
            v["tool_calls"] = json!(mine);
            v
        })
        .collect();
    Ok(Json(json!({ "session": session, "messages": messages })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    title: String,
}

async fn rename_session(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<Rename>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_session(&state, &principal, &id).await?;
    let Json(body) = body?;
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "title must be 1 to 200 characters".into(),
        ));
    }
    if !state.store.rename_session(&id, title).await? {
        return Err(AppError::NotFound(format!("no session has id {id:?}")));
    }
    get_session(State(state), Extension(principal), Path(id)).await
}

async fn delete_session(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_session(&state, &principal, &id).await?;
    if state.store.delete_session(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::NotFound(format!("no session has id {id:?}")))
    }
}

/// Ready when the database answers and the EMIS MCP server does; an extra
/// MCP server that is down only costs its own tools, and Redis (when
/// configured) only shares rate limits, so they are reported, not fatal.
async fn ready(State(state): State<AppState>) -> Response {
    let (ready, body) = probe(&state).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Checks what the replica depends on, sets `mas_dependency_up{dependency}`
/// (for alerts), and says whether it is ready: the database and the EMIS
/// MCP server answer and it is not shutting down.
pub async fn probe(state: &AppState) -> (bool, Value) {
    let database = state.store.ping().await.is_ok();
    let servers = state.manager.tool_health().await;
    let tools_up = servers.first().is_some_and(|(_, up)| *up);
    let draining = state.manager.draining();
    let ready = database && tools_up && !draining;
    let gauge = |dependency: String, up: bool| {
        metrics::gauge!("mas_dependency_up", "dependency" => dependency)
            .set(f64::from(u8::from(up)));
    };
    gauge("database".into(), database);
    for (name, up) in &servers {
        gauge(format!("mcp:{name}"), *up);
    }
    let mcp: serde_json::Map<String, Value> = servers
        .into_iter()
        .map(|(name, up)| (name, json!(if up { "up" } else { "down" })))
        .collect();
    let mut body = json!({
        "status": if draining { "draining" } else if ready { "ready" } else { "not_ready" },
        "database": if database { "up" } else { "down" },
        "mcp_servers": mcp,
        "active_runs": state.manager.active(),
    });
    // Every replica depends on Redis alike (limits fall back to each
    // replica's own; runs wait for it to come back): reported, not a reason
    // to take one replica out of the rotation.
    let redis = match state.manager.redis_up().await {
        Some(up) => Some(up),
        None => match &state.limiter {
            Some(limiter) => limiter.redis_up().await,
            None => None,
        },
    };
    if let Some(up) = redis {
        gauge("redis".into(), up);
        body["redis"] = json!(if up { "up" } else { "down" });
    }
    (ready, body)
}

/// Who answers: the entry agent's provider and model (`offline` when no LLM
/// is configured), and the agents.
async fn status(State(state): State<AppState>) -> Json<Value> {
    let runner = state.manager.runner();
    let entry = runner.agents().entry();
    let provider = runner.provider_for_name(&entry.name);
    let agents: Vec<Value> = runner
        .agents()
        .all()
        .iter()
        .map(|a| json!({ "name": a.name, "title": a.title, "description": a.description }))
        .collect();
    Json(json!({
        "provider": provider.name(),
        "model": entry.model.as_deref().unwrap_or(provider.model()),
        "offline": provider.name() == "offline",
        "agents": agents,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// What this API offers.
async fn api_index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "service": "MAS chat server",
        "agents": state.manager.agent_names(),
        "endpoints": {
            "POST /chat/stream": "start a run; Server-Sent Events in the AI SDK UI message stream protocol",
            "GET /api/runs/{run_id}/stream": "follow or resume a run (Last-Event-ID)",
            "POST /api/runs/{run_id}/cancel": "stop a run, keeping its partial answer",
            "POST /api/chat": "the same run without streaming",
            "GET /api/sessions": "conversations",
            "GET /api/status": "the provider, model and agents answering",
            "GET /": "the web chat",
            "GET /health, /ready, /metrics": "operations"
        }
    }))
}
