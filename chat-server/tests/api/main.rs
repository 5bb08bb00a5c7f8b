//! The chat HTTP API on a real socket: streaming runs in the AI SDK UI message
//! stream protocol, resuming with Last-Event-ID after a disconnect, cancel,
//! the JSON chat call, sessions, and bad input.

#[path = "../support/mod.rs"]
mod support;

use mcp_server::hardening::Hardening;
use support::fake_openai::{FakeOpenAi, Turn};

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chat_server::{
    agent::{AgentRunner, AgentSet, RunLimits},
    http::{self, AppState},
    providers::{
        ChatRequest, EventStream, FinishReason, LlmProvider, ProviderError, ProviderEvent,
        registry::{ProviderSettings, Registry},
    },
    runs::{MemoryRunLog, RunManager},
    store::sql::SqlStore,
};
use futures::StreamExt;
use serde_json::{Value, json};

/// A model that answers with `n` words, one every `gap`.
struct Slow {
    n: usize,
    gap: Duration,
}

#[async_trait]
impl LlmProvider for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn model(&self) -> &str {
        "slow-1"
    }
    async fn stream(&self, _: &ChatRequest) -> Result<EventStream, ProviderError> {
        let (n, gap) = (self.n, self.gap);
        let words = futures::stream::iter(0..n).then(move |i| async move {
            tokio::time::sleep(gap).await;
            Ok(ProviderEvent::TextDelta {
                text: format!("w{i} "),
            })
        });
        let end = futures::stream::iter([Ok(ProviderEvent::Finish {
            reason: FinishReason::Stop,
            raw: "stop".into(),
        })]);
        Ok(words.chain(end).boxed())
    }
}

/// A model that sends a little text, then bytes that cannot be parsed.
struct Garbage;

#[async_trait]
impl LlmProvider for Garbage {
    fn name(&self) -> &str {
        "garbage"
    }
    fn model(&self) -> &str {
        "garbage-1"
    }
    async fn stream(&self, _: &ChatRequest) -> Result<EventStream, ProviderError> {
        let items = vec![
            Ok(ProviderEvent::TextDelta { text: "Hal".into() }),
            Err(ProviderError::Protocol(
                "bad chunk: expected value at line 1 column 1".into(),
            )),
        ];
        Ok(futures::stream::iter(items).boxed())
    }
}

struct App {
    base: String,
    http: reqwest::Client,
}

impl App {
    /// The whole SSE body of a run started with `message`.
    async fn stream(&self, message: &str) -> String {
        self.http
            .post(format!("{}/chat/stream", self.base))
            .json(&json!({ "message": message }))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("body")
    }
}

async fn app(registry: Registry) -> App {
    app_hardened(registry, Hardening::default()).await
}

async fn app_hardened(registry: Registry, hardening: Hardening) -> App {
    let dir = std::env::temp_dir().join(format!("mas-api-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Arc::new(
        SqlStore::connect(&format!("sqlite://{}", dir.join("chat.db").display()), 4)
            .await
            .expect("store"),
    );
    let runner = Arc::new(AgentRunner::new(
        AgentSet::builtin(),
        Arc::new(registry),
        support::toolbox().await,
        RunLimits::default(),
    ));
    let manager = Arc::new(RunManager::new(
        store.clone(),
        runner,
        Arc::new(MemoryRunLog::new(Duration::from_secs(60))),
        8,
    ));
    let router = http::router(AppState {
        manager,
        auth: chat_server::auth::Auth::new(store.clone(), false),
        limiter: None,
        store,
        heartbeat: Duration::from_millis(200),
        hardening,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        base,
        http: reqwest::Client::new(),
    }
}

async fn offline() -> Registry {
    Registry::from_settings(
        &ProviderSettings::default(),
        support::toolbox().await.known_values(),
    )
    .expect("registry")
}

/// (id, data) pairs of an SSE body, comments skipped.
fn events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(v.to_owned());
                }
            }
            data.map(|d| (id, d))
        })
        .collect()
}

fn parts(events: &[(Option<String>, String)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).expect("json part"))
        .collect()
}

#[tokio::test]
async fn a_streamed_run_speaks_the_ai_sdk_protocol_and_is_saved() {
    let app = app(offline().await).await;
    let response = app
        .http
        .post(format!("{}/chat/stream", app.base))
        .json(&json!({ "message": "How many schools are in Lamu county?" }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-vercel-ai-ui-message-stream"], "v1");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let body = response.text().await.expect("body");
    let events = events(&body);
    assert_eq!(events.last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    let ids: Vec<&String> = events.iter().filter_map(|(id, _)| id.as_ref()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(
        ids.len(),
        events.len() - 1,
        "every event but [DONE] has an id"
    );
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    let parts = parts(&events);
    let kinds: Vec<&str> = parts
        .iter()
        .map(|p| p["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds[..3], ["start", "data-run", "data-agent"]);
    for kind in [
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"finish"));
    assert!(
        parts
            .iter()
            .any(|p| p["type"] == "data-agent" && p["data"]["title"] == "Schools specialist"),
        "the handoff is announced"
    );
    let text: String = parts
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .filter_map(|p| p["delta"].as_str())
        .collect();
    assert!(
        text.contains("Lamu") || text.contains("schools in all"),
        "{text}"
    );

    let session_id = parts[1]["data"]["sessionId"]
        .as_str()
        .expect("session id")
        .to_owned();
    let session: Value = app
        .http
        .get(format!("{}/api/sessions/{session_id}", app.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let messages = session["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["content"], text);
    assert_eq!(messages[1]["status"], "complete");
    let calls = messages[1]["tool_calls"].as_array().expect("tool calls");
    assert!(
        calls
            .iter()
            .any(|c| c["name"] == "school_statistics" && c["status"] == "ok")
    );

    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            "mas_requests_total{method=\"POST\",endpoint=\"/chat/stream\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("mas_agent_tool_calls_total{tool_name=\"school_statistics\",status=\"ok\"}")
    );
    assert!(metrics.contains("mas_llm_time_to_first_token_seconds"));
    assert!(metrics.contains("mas_active_sessions"));
}

#[tokio::test]
async fn a_client_that_disconnects_resumes_with_exactly_the_missing_events() {
    let app = app(Registry::single(Arc::new(Slow {
        n: 30,
        gap: Duration::from_millis(20),
    })))
    .await;
    let response = app
        .http
        .post(format!("{}/chat/stream", app.base))
        .json(&json!({ "message": "Talk slowly" }))
        .send()
        .await
        .expect("post");
    // Read part of the stream, then hang up.
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if seen.matches("text-delta").count() >= 5 {
            break;
        }
    }
    drop(body);
    // Only whole events count as received.
    let complete = &seen[..seen.rfind("\n\n").expect("a whole event") + 2];
    let before = events(complete);
    let run_id = parts(&before)[1]["data"]["runId"]
        .as_str()
        .expect("run id")
        .to_owned();
    let last_id = before
        .last()
        .and_then(|(id, _)| id.clone())
        .expect("last id");

    tokio::time::sleep(Duration::from_millis(200)).await; // the run goes on without a reader
    let resumed = app
        .http
        .get(format!("{}/api/runs/{run_id}/stream", app.base))
        .header("last-event-id", &last_id)
        .send()
        .await
        .expect("resume")
        .text()
        .await
        .expect("body");
    let after = events(&resumed);
    let whole = events(
        &app.http
            .get(format!("{}/api/runs/{run_id}/stream", app.base))
            .send()
            .await
            .expect("replay")
            .text()
            .await
            .expect("body"),
    );
    let mut joined = before.clone();
    joined.extend(after);
    assert_eq!(joined, whole, "no gap and no duplicate");
    let text: String = parts(&whole)
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .filter_map(|p| p["delta"].as_str())
        .collect();
    assert_eq!(text, (0..30).map(|i| format!("w{i} ")).collect::<String>());
}

#[tokio::test]
async fn cancelling_a_run_ends_its_stream_and_keeps_the_partial_answer() {
    let app = app(Registry::single(Arc::new(Slow {
        n: 1000,
        gap: Duration::from_millis(10),
    })))
    .await;
    let response = app
        .http
        .post(format!("{}/chat/stream", app.base))
        .json(&json!({ "message": "Go on forever" }))
        .send()
        .await
        .expect("post");
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let mut run_id = None;
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if run_id.is_none()
            && let Some(p) = parts(&events(&seen[..seen.rfind("\n\n").map_or(0, |i| i + 2)])).get(1)
        {
            run_id = p["data"]["runId"].as_str().map(str::to_owned);
        }
        if seen.matches("text-delta").count() >= 3 {
            break;
        }
    }
    let run_id = run_id.expect("run id");
    let cancel = app
        .http
        .post(format!("{}/api/runs/{run_id}/cancel", app.base))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status(), 202);
    let rest = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
        seen
    })
    .await
    .expect("the stream ends soon after the cancel");
    assert!(
        rest.contains("data-cancelled") && rest.trim_end().ends_with("data: [DONE]"),
        "{}",
        &rest[rest.len().saturating_sub(300)..]
    );
    let session_id = parts(&events(&rest))[1]["data"]["sessionId"]
        .as_str()
        .expect("session")
        .to_owned();
    let session: Value = app
        .http
        .get(format!("{}/api/sessions/{session_id}", app.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let answer = &session["messages"][1];
    assert_eq!(answer["status"], "cancelled");
    assert!(
        answer["content"]
            .as_str()
            .expect("content")
            .starts_with("w0 w1 w2 "),
        "{answer}"
    );
    let again = app
        .http
        .post(format!("{}/api/runs/{run_id}/cancel", app.base))
        .send()
        .await
        .expect("cancel");
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn the_json_chat_call_and_the_session_routes() {
    let app = app(offline().await).await;
    let reply: Value = app
        .http
        .post(format!("{}/api/chat", app.base))
        .json(&json!({ "message": "Find Moi Girls in Nairobi" }))
        .send()
        .await
        .expect("chat")
        .json()
        .await
        .expect("json");
    assert_eq!(reply["status"], "completed");
    assert_eq!(reply["agent"], "schools");
    assert!(
        reply["message"]
            .as_str()
            .expect("message")
            .contains("KE-23718"),
        "{reply}"
    );
    assert!(
        reply["tool_calls"]
            .as_array()
            .expect("calls")
            .iter()
            .any(|c| c["tool"] == "search_schools" && c["is_error"] == false)
    );
    let id = reply["session_id"].as_str().expect("session").to_owned();

    let list: Value = app
        .http
        .get(format!("{}/api/sessions", app.base))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["sessions"][0]["id"], id.as_str());
    let renamed = app
        .http
        .patch(format!("{}/api/sessions/{id}", app.base))
        .json(&json!({ "title": "Moi Girls" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(renamed.status(), 200);
    let session: Value = renamed.json().await.expect("json");
    assert_eq!(session["session"]["title"], "Moi Girls");
    assert_eq!(
        app.http
            .delete(format!("{}/api/sessions/{id}", app.base))
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );
    assert_eq!(
        app.http
            .get(format!("{}/api/sessions/{id}", app.base))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_message() {
    let app = app(offline().await).await;
    let post = |path: &str, body: reqwest::Body| {
        app.http
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, reqwest::Body, u16, &str)> = vec![
        (
            "/chat/stream",
            json!({ "message": "" }).to_string().into(),
            400,
            "must not be empty",
        ),
        (
            "/chat/stream",
            json!({ "message": "x".repeat(40_000) }).to_string().into(),
            400,
            "too long",
        ),
        ("/chat/stream", "{not json".into(), 400, ""),
        (
            "/chat/stream",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'].into(),
            400,
            "",
        ),
        (
            "/chat/stream",
            json!({ "message": "hi", "agent": "wizard" })
                .to_string()
                .into(),
            400,
            "unknown agent",
        ),
        (
            "/chat/stream",
            json!({ "message": "hi", "session_id": "nope" })
                .to_string()
                .into(),
            404,
            "no session",
        ),
        (
            "/api/chat",
            json!({ "mesage": "typo" }).to_string().into(),
            400,
            "",
        ),
        ("/api/runs/nope/cancel", "".into(), 404, "no run"),
    ];
    for (path, body, status, text) in cases {
        let response = post(path, body).await.expect("request");
        assert_eq!(response.status().as_u16(), status, "{path}");
        let error: Value = response.json().await.expect("the error envelope");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(text), "{path}: {message}");
        assert!(error["error"]["code"].is_string());
    }
    let resume = app
        .http
        .get(format!("{}/api/runs/nope/stream", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(resume.status(), 404);
    let page = app
        .http
        .get(format!("{}/api/sessions?limit=0", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 400);
}

#[tokio::test]
async fn provider_garbage_ends_the_run_with_an_error_event_and_a_failed_run() {
    let app = app(Registry::single(Arc::new(Garbage))).await;
    let body = app.stream("Hello").await;
    let events = events(&body);
    assert_eq!(events.last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    let parts = parts(&events);
    let error = parts
        .iter()
        .find(|p| p["type"] == "error")
        .expect("an error part");
    assert!(
        error["errorText"]
            .as_str()
            .expect("text")
            .contains("could not be read"),
        "{error}"
    );
    assert_eq!(parts.last().expect("parts")["type"], "finish");
    let session_id = parts[1]["data"]["sessionId"]
        .as_str()
        .expect("session")
        .to_owned();
    let session: Value = app
        .http
        .get(format!("{}/api/sessions/{session_id}", app.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(session["messages"][1]["status"], "failed");
    assert_eq!(session["messages"][1]["content"], "Hal");

    let reply = app
        .http
        .post(format!("{}/api/chat", app.base))
        .json(&json!({ "message": "Hello" }))
        .send()
        .await
        .expect("chat");
    assert_eq!(reply.status(), 502);
    let envelope: Value = reply.json().await.expect("json");
    assert_eq!(envelope["error"]["code"], "upstream_error");
}

/// A registry whose default provider is the fake OpenAI-format model server.
async fn fake_model(fake: &FakeOpenAi, retries: usize) -> Registry {
    let settings = ProviderSettings {
        openai_base_url: Some(fake.base.clone()),
        llm_max_retries: Some(retries),
        ..Default::default()
    };
    Registry::from_settings(&settings, support::known_values()).expect("registry")
}

fn rate_limited(retry_after: &'static str) -> Turn {
    Turn::Status(
        429,
        vec![("retry-after", retry_after)],
        json!({ "error": { "message": "Rate limit reached for requests. Please try again in 1s.", "type": "requests", "param": null, "code": "rate_limit_exceeded" } }),
    )
}

#[tokio::test]
async fn a_429_from_the_model_is_retried_after_its_retry_after_header() {
    let fake = FakeOpenAi::start(vec![
        rate_limited("1"),
        Turn::Text("Lamu county has schools."),
    ])
    .await;
    let app = app(fake_model(&fake, 2).await).await;
    let started = std::time::Instant::now();
    let response = app
        .http
        .post(format!("{}/api/chat", app.base))
        .json(&json!({ "message": "How many schools are in Lamu?" }))
        .send()
        .await
        .expect("chat");
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.expect("json");
    assert_eq!(reply["message"], "Lamu county has schools.");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
    assert_eq!(fake.requests.lock().await.len(), 2);
}

#[tokio::test]
async fn a_429_that_outlasts_the_retries_fails_the_run_with_a_clear_error() {
    let fake = FakeOpenAi::start(vec![rate_limited("0"), rate_limited("0")]).await;
    let app = app(fake_model(&fake, 1).await).await;
    let body = app.stream("Hello").await;
    let parts = parts(&events(&body));
    let error = parts
        .iter()
        .find(|p| p["type"] == "error")
        .unwrap_or_else(|| panic!("an error part in {parts:?}"));
    assert!(
        error["errorText"]
            .as_str()
            .expect("text")
            .to_lowercase()
            .contains("rate limit"),
        "{error}"
    );
    let session_id = parts[1]["data"]["sessionId"].as_str().expect("session");
    let session: Value = app
        .http
        .get(format!("{}/api/sessions/{session_id}", app.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(session["messages"][1]["status"], "failed");
    assert_eq!(fake.requests.lock().await.len(), 2, "one try and one retry");
}

#[tokio::test]
async fn a_quiet_stream_carries_heartbeat_comments() {
    let fake = FakeOpenAi::start(vec![Turn::Slow(
        "one two three",
        Duration::from_millis(300),
    )])
    .await;
    let app = app(fake_model(&fake, 0).await).await;
    let body = app.stream("Count slowly").await;
    assert!(body.contains("\n: heartbeat\n\n") || body.starts_with(": heartbeat\n\n"));
    let text: String = parts(&events(&body))
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .map(|p| p["delta"].as_str().expect("delta").to_owned())
        .collect();
    assert_eq!(text, "one two three");
}

/// Sends `GET {path}` exactly as written (clients normalise `..` away, so a
/// traversal attempt needs a raw request); returns the status code.
async fn raw_get(base: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let head = String::from_utf8_lossy(&response[..response.len().min(12)]).to_string();
    head[9..12].parse().expect("status code")
}

#[tokio::test]
async fn the_web_page_and_its_assets_are_served_from_the_binary() {
    let app = app(offline().await).await;
    let page = app.http.get(&app.base).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    assert!(
        !page.headers().contains_key("strict-transport-security"),
        "no HSTS over plain HTTP"
    );
    let html = page.text().await.expect("html");
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the script's URL")
        .to_owned();
    assert!(script.starts_with("/static/app.js?v="), "{script}");

    // The hashed URL is cached for good; the ETag revalidates.
    let js = app
        .http
        .get(format!("{}{script}", app.base))
        .send()
        .await
        .expect("js");
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert!(
        js.headers()["cache-control"]
            .to_str()
            .expect("cache")
            .contains("immutable")
    );
    let etag = js.headers()["etag"].clone();
    let again = app
        .http
        .get(format!("{}/static/app.js", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "no-cache");
    for (asset, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/vendor/purify.es.mjs", "text/javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let response = app
            .http
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["content-type"], kind, "{asset}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    // Traversal, plain and encoded, finds nothing.
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/static/vendor/../../README.md",
        "/static/..\\Cargo.toml",
        "/static/%252e%252e/Cargo.toml",
    ] {
        assert_eq!(raw_get(&app.base, path).await, 404, "{path}");
    }
    let missing = app
        .http
        .get(format!("{}/no/such/page", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.expect("html").contains("Not found"));
    let api_missing = app
        .http
        .get(format!("{}/api/nothing", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(api_missing.status(), 404);
    let error: Value = api_missing.json().await.expect("the JSON envelope");
    assert_eq!(error["error"]["code"], "not_found");
    let unknown_session = app
        .http
        .get(format!("{}/c/not-a-session", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown_session.status(), 404);

    let status: Value = app
        .http
        .get(format!("{}/api/status", app.base))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["offline"], true);
    assert_eq!(status["provider"], "offline");
    assert!(status["agents"].as_array().is_some_and(|a| a.len() >= 3));
}

#[tokio::test]
async fn hosts_origins_sizes_and_time_limits_are_enforced() {
    let app = app_hardened(
        Registry::single(Arc::new(Slow {
            n: 8,
            gap: Duration::from_millis(100),
        })),
        Hardening {
            allowed_hosts: vec!["127.0.0.1".into(), "mas.example.org".into()],
            cors_origins: vec!["https://app.example.org".into()],
            request_timeout: Duration::from_millis(300),
            ..Hardening::default()
        },
    )
    .await;
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = app.http.get(format!("{}{path}", app.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send()
    };
    // A host that is not ours (DNS rebinding) is refused; probes are not.
    let response = get("/api/sessions", &[("host", "evil.example")])
        .await
        .expect("get");
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "untrusted_host", "{body}");
    assert_eq!(
        get("/api/sessions", &[("host", "mas.example.org")])
            .await
            .expect("get")
            .status(),
        200
    );
    assert_eq!(
        get("/health", &[("host", "10.0.0.7:8000")])
            .await
            .expect("get")
            .status(),
        200,
        "a load balancer probing by IP"
    );

    // Oversized headers and bodies get 431 and 413 with a message.
    let big = "x".repeat(20 * 1024);
    let response = get("/api/sessions", &[("x-padding", &big)])
        .await
        .expect("get");
    assert_eq!(response.status(), 431);
    let response = app
        .http
        .post(format!("{}/api/chat", app.base))
        .json(&json!({ "message": "y".repeat(600 * 1024) }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("512 KiB")),
        "{body}"
    );

    // CORS: the configured origin may call the API from a browser; others get no grant.
    let preflight = |origin: &str| {
        app.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/sessions", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://app.example.org").await.expect("options");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .expect("ascii")
            .contains("authorization")
    );
    let refused = preflight("https://evil.example").await.expect("options");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A stream outlives the 300 ms time limit of ordinary requests: 8 words, 100 ms apart.
    let body = app.stream("Tell me slowly").await;
    let text: String = parts(&events(&body))
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .filter_map(|p| p["delta"].as_str())
        .collect();
    assert_eq!(text, "w0 w1 w2 w3 w4 w5 w6 w7 ");
}
