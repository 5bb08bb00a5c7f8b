//! `web_search` against a local fake Tavily that speaks its real request and
//! response shape; upstream failures and timeouts are tool errors.

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use mcp_server::{cache::NoCache, tools::ServerState, tools::Tavily};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::{TestApp, embedded_backend};

/// What the fake does for the next request.
#[derive(Clone, Copy)]
enum Behaviour {
    Answer,
    Status(u16),
    Stall,
}

/// Each request the fake received: its Authorization header and JSON body.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[derive(Clone)]
struct Fake {
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Seen,
}

async fn search(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.seen.lock().await.push((auth, body.clone()));
    match *fake.behaviour.lock().await {
        Behaviour::Answer => (
            StatusCode::OK,
            Json(json!({
                "query": body["query"],
                "follow_up_questions": null,
                "answer": "Kenya introduced the Competency Based Curriculum in 2017.",
                "images": [],
                "results": [
                    { "title": "Competency Based Curriculum", "url": "https://example.org/cbc",
                      "content": "The CBC replaced the 8-4-4 system.", "score": 0.91, "raw_content": null },
                    { "title": "KICD", "url": "https://example.org/kicd",
                      "content": "Curriculum development institute.", "score": 0.74, "raw_content": null }
                ],
                "response_time": 1.02
            })),
        ),
        Behaviour::Status(code) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({ "detail": { "error": "fake upstream failure" } })),
        ),
        Behaviour::Stall => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, Json(json!({ "results": [] })))
        }
    }
}

async fn app_with_fake_tavily() -> (TestApp, Fake) {
    let fake = Fake {
        behaviour: Arc::new(Mutex::new(Behaviour::Answer)),
        seen: Arc::default(),
    };
    let router = Router::new()
        .route("/search", post(search))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let tavily = Tavily::new(
        &base,
        "tvly-test-key".to_owned().into(),
        Duration::from_millis(800),
    )
    .expect("client");
    let state = ServerState {
        backend: embedded_backend(),
        cache: Arc::new(NoCache),
        tavily: Some(tavily),
        tool_timeout: Duration::from_secs(10),
        fixtures: None,
    };
    (TestApp::with_state(state).await, fake)
}

#[tokio::test]
async fn web_search_is_listed_only_when_a_key_is_configured() {
    let without = TestApp::embedded().await;
    let tools = without.client.list_all_tools().await.expect("tools");
    assert!(!tools.iter().any(|t| t.name == "web_search"));
    let (with, _) = app_with_fake_tavily().await;
    let tools = with.client.list_all_tools().await.expect("tools");
    assert!(tools.iter().any(|t| t.name == "web_search"));
}

#[tokio::test]
async fn web_search_sends_tavily_requests_and_returns_its_results() {
    let (app, fake) = app_with_fake_tavily().await;
    let result = app
        .ok(
            "web_search",
            json!({ "query": "Kenya CBC curriculum", "max_results": 2 }),
        )
        .await;
    assert_eq!(
        result["answer"],
        "Kenya introduced the Competency Based Curriculum in 2017."
    );
    assert_eq!(result["results"][0]["url"], "https://example.org/cbc");
    assert_eq!(result["results"].as_array().map(Vec::len), Some(2));
    let seen = fake.seen.lock().await;
    let (auth, body) = &seen[0];
    assert_eq!(auth.as_deref(), Some("Bearer tvly-test-key"));
    assert_eq!(body["query"], "Kenya CBC curriculum");
    assert_eq!(body["max_results"], 2);
    assert_eq!(body["search_depth"], "basic");
}

#[tokio::test]
async fn upstream_errors_and_timeouts_are_tool_errors() {
    let (app, fake) = app_with_fake_tavily().await;
    for (code, expected) in [
        (401, "refused the API key"),
        (429, "rate limited"),
        (500, "failed upstream (HTTP 500)"),
    ] {
        *fake.behaviour.lock().await = Behaviour::Status(code);
        let error = app.err("web_search", json!({ "query": "anything" })).await;
        assert!(error.contains(expected), "{code}: {error}");
    }
    *fake.behaviour.lock().await = Behaviour::Stall;
    let error = app.err("web_search", json!({ "query": "slow" })).await;
    assert!(error.contains("timed out"), "{error}");
    let error = app
        .err(
            "web_search",
            json!({ "query": "x", "search_depth": "deep" }),
        )
        .await;
    assert!(error.contains("search_depth"), "{error}");
}
