//! The HTTP face of the MCP server: Streamable HTTP at `/mcp` (2025-11-25
//! sessions and 2026-07-28 stateless requests on one endpoint), `/health`,
//! `/ready` and Prometheus `/metrics`, with request metrics on every route.

use std::{sync::Arc, time::Instant};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    settings::Settings,
    tools::{EmisServer, ServerState},
};

/// Largest JSON-RPC request body accepted on `/mcp` (a 1 MB argument still fits; larger is a 413).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
struct AppState {
    server: Arc<ServerState>,
}

/// Builds the router; `shutdown` ends open MCP sessions and streams.
pub fn router(state: Arc<ServerState>, settings: &Settings, shutdown: CancellationToken) -> Router {
    // Install the recorder before the first request so no early metric is lost.
    platform::telemetry::metrics_handle();
    let hardening = settings.hardening();
    let mcp = mcp_routes(state.clone(), &hardening, shutdown, settings.mcp_auth(None));
    let operations = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(|| async { platform::telemetry::render() }));
    let router = hardening.apply(hardening.time_limited(operations).merge(mcp));
    platform::headers::secured(router, false)
        .layer(middleware::from_fn(track))
        .with_state(AppState { server: state })
}

/// `/mcp` over `state` (behind `auth` when given, with its metadata routes),
/// for this server and for a chat server that serves the tools itself.
pub fn mcp_routes<S: Clone + Send + Sync + 'static>(
    state: Arc<ServerState>,
    hardening: &platform::Hardening,
    shutdown: CancellationToken,
    auth: Option<crate::auth::McpAuth>,
) -> Router<S> {
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hardening.allowed_hosts.clone())
        .with_cancellation_token(shutdown)
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    if !hardening.cors_origins.is_empty() {
        config = config.with_allowed_origins(hardening.cors_origins.clone());
    }
    if hardening.allowed_hosts.iter().any(|h| h == "*") {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(EmisServer::new(state.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    let mcp = Router::new().route_service("/mcp", service);
    match auth {
        Some(auth) => auth.protect(mcp),
        None => mcp,
    }
}

async fn health(State(app): State<AppState>) -> impl IntoResponse {
    let catalog = app.server.backend.catalog();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": app.server.backend.kind(),
        "cache": app.server.cache.kind(),
        "schools": catalog.school_count,
        "stories": catalog.story_count,
    }))
}

async fn ready(State(app): State<AppState>) -> Response {
    match app.server.backend.ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": e.to_string() })),
            )
                .into_response()
        }
    }
}

/// Counts and times every request by route template (never the raw path).
async fn track(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/mcp") {
                "/mcp".into()
            } else {
                "unmatched".into()
            }
        });
    let method = request.method().to_string();
    let span = platform::telemetry::http_span(&method, &endpoint, request.headers());
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    let status = response.status().as_u16().to_string();
    metrics::counter!("mas_requests_total", "method" => method.clone(), "endpoint" => endpoint.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("mas_request_duration_seconds", "method" => method, "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    response
}
