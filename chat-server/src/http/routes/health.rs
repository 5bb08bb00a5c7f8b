//! Operations and discovery: `/health` (the process is up), `/ready` (it
//! can serve: the database and the EMIS MCP server answer and it is not
//! shutting down), `/metrics` (Prometheus), `/api/status` (who answers) and
//! `/api` (what this API offers).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::http::AppState;

/// `GET /health`
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`
pub async fn metrics() -> impl IntoResponse {
    platform::telemetry::render()
}

/// `GET /ready`: 503 unless ready. An extra MCP server that is down only
/// costs its own tools, and Redis (when configured) is shared by every
/// replica alike, so they are reported, not fatal.
pub async fn ready(State(state): State<AppState>) -> Response {
    let (ready, body) = probe(&state).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Checks what the replica depends on, sets `mas_dependency_up{dependency}`
/// (for alerts), and says whether it is ready.
pub async fn probe(state: &AppState) -> (bool, Value) {
    let database = state.store.ping().await.is_ok();
    let servers = state.runs.tool_health().await;
    let tools_up = servers.first().is_some_and(|(_, up)| *up);
    let draining = state.runs.draining();
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
        "active_runs": state.runs.active(),
    });
    if let Ok(depth) = state.jobs.depth().await {
        body["jobs"] =
            json!({ "queued": depth.queued, "running": depth.running, "failed": depth.failed });
    }
    // Every replica depends on Redis alike (limits fall back to each
    // replica's own; runs wait for it to come back): reported, not a reason
    // to take one replica out of the rotation.
    let redis = match state.runs.redis_up().await {
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

/// `GET /api/status`: the entry agent's provider and model (`offline` when
/// no LLM is configured), and the agents.
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let runner = state.runs.runner();
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

/// `GET /api`: what this API offers.
pub async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "service": "MAS chat server",
        "agents": state.runs.agent_names(),
        "endpoints": {
            "POST /chat/stream": "start a run; Server-Sent Events in the AI SDK UI message stream protocol",
            "GET /api/runs/{run_id}/stream": "follow or resume a run (Last-Event-ID)",
            "POST /api/runs/{run_id}/cancel": "stop a run, keeping its partial answer",
            "POST /api/chat": "the same run without streaming",
            "GET /api/sessions": "conversations",
            "GET /api/status": "the provider, model and agents answering",
            "POST /v1/chat/completions": "the agents as OpenAI-compatible models (GET /v1/models)",
            "GET /": "the web chat",
            "GET /health, /ready, /metrics": "operations"
        }
    }))
}
