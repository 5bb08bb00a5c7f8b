//! Logging, traces and metrics set-up. Logs go to stderr (stdout belongs to
//! the stdio transport and to `ask` answers); spans are exported over OTLP
//! when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`)
//! is set, with the W3C trace context carried in and out; the Prometheus
//! recorder is installed once per process.

use std::{collections::HashMap, sync::OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, filter::Targets, fmt, prelude::*};

/// The exporter of this process's spans, when traces are on: shut it down
/// last, so the spans still buffered are sent.
pub struct Traces(Option<SdkTracerProvider>);

impl Traces {
    /// Sends what is buffered and stops exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.0 {
            // The blocking exporter must not run on an async worker.
            let _ = std::thread::spawn(move || provider.shutdown()).join();
        }
    }
}

/// Whether the standard variables ask for traces.
fn traces_wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|v| !v.trim().is_empty()))
        && std::env::var("OTEL_SDK_DISABLED").map_or(true, |v| v != "true")
}

/// The OTLP/HTTP exporter the `OTEL_*` variables describe (protocol
/// `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL` says `http/json`;
/// endpoint, headers and timeout read by the exporter itself), in a tracer
/// provider naming this process `service` unless `OTEL_SERVICE_NAME` does.
fn tracer_provider(service: &str) -> Result<SdkTracerProvider, String> {
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        Ok("http/json") => Protocol::HttpJson,
        Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
        Ok(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL {other} is not supported (http/protobuf or http/json)"
            ));
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    // The blocking HTTP client is made off the async runtime (it has one of its own).
    let exporter = std::thread::spawn(move || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .build()
    })
    .join()
    .map_err(|_| "the OTLP exporter could not be made".to_owned())?
    .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}

/// Buckets for request and tool latencies, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the global tracing subscriber for `service` with `filter` (a
/// level or `RUST_LOG`-style directives, as the caller's settings say) on
/// the logs; `json` selects JSON lines. Spans of the MAS crates at info and
/// above also go to OTLP when the `OTEL_*` variables ask for it, whatever
/// the log filter; an exporter that cannot be made is logged, and the
/// process runs on without traces.
pub fn init(service: &str, filter: &str, json: bool) -> Traces {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (provider, trouble) = match traces_wanted().then(|| tracer_provider(service)) {
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let otel = provider.as_ref().map(|provider| {
        let ours = Targets::new()
            .with_target("chat_server", tracing::Level::INFO)
            .with_target("mcp_server", tracing::Level::INFO)
            .with_target("platform", tracing::Level::INFO);
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service.to_owned()))
            .with_filter(ours)
    });
    let logs = if json {
        fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .with_filter(filter)
            .boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(otel)
        .try_init();
    if let Some(e) = trouble {
        tracing::warn!(error = %e, "traces are off: the OTLP exporter could not be made");
    }
    Traces(provider)
}

/// Text map over HTTP headers, for the propagator.
struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Text map over a JSON object (an MCP request's `_meta`).
struct Meta<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The span of one HTTP request, named and described as OpenTelemetry's
/// HTTP conventions say (`{method} {route}`, the route template, never the
/// raw path), in the trace of the client's `traceparent` when it sent one;
/// the caller records `http.response.status_code` (and may record
/// `request_id`).
pub fn http_span(method: &str, route: &str, headers: &axum::http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = tracing::field::Empty,
    );
    continue_from_headers(&span, headers);
    span
}

/// Makes `span` continue the trace a client's `traceparent` header names
/// (W3C trace context; nothing happens without one, or with traces off).
fn continue_from_headers(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        span.set_parent(parent);
    }
}

/// Makes `span` continue the trace an MCP request's `_meta` carries
/// (`traceparent` and `tracestate`, as W3C trace context).
pub fn continue_from_meta(span: &tracing::Span, meta: &serde_json::Map<String, serde_json::Value>) {
    if meta.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Meta(meta));
        span.set_parent(parent);
    }
}

/// Links `span` to the span a W3C `traceparent` names (the trace a run
/// began in, when another process carries it on).
pub fn link_to(span: &tracing::Span, traceparent: &str) {
    let fields = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&fields);
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// The W3C trace context of `span` (`traceparent`, and `tracestate` when
/// there is one), to carry in an outgoing request; empty with traces off.
pub fn trace_context(span: &tracing::Span) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut fields);
    fields
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is already installed (e.g. by an embedding process): render an empty one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Prometheus text exposition of every metric of the process.
pub fn render() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics_handle().render(),
    )
}
