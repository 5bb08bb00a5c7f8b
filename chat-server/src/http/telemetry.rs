//! Request metrics, logs and spans for the chat API: every request counted
//! and timed by route template (never the raw path), logged with a request
//! id, and a span of the trace its client started (or a new one).
//!
//! The request id is handled here rather than with tower-http's
//! `SetRequestId`, which keeps whatever id a client sends: this accepts only
//! short `[A-Za-z0-9-]` ids (they go into every log line) and makes up the
//! rest.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

/// Counts, times and logs one request; echoes or assigns `x-request-id`.
pub async fn track(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = request.method().to_string();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = platform::telemetry::http_span(&method, &endpoint, request.headers());
    span.record("request_id", request_id.as_str());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    metrics::counter!("mas_requests_total", "method" => method.clone(), "endpoint" => endpoint.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("mas_request_duration_seconds", "method" => method, "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
