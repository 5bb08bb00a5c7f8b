//! Starting runs: a streamed run in the AI SDK UI message stream protocol,
//! saved as it goes; the JSON chat call; bad input; a provider that fails
//! mid-stream; the model's 429s; heartbeats on a quiet stream.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    FakeModel, TestApp, Turn, data,
    sse::{events, parts, text},
};

#[tokio::test]
async fn a_streamed_run_speaks_the_ai_sdk_protocol_and_is_saved() {
    let app = TestApp::spawn().await;
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
    assert_eq!(
        ids.len(),
        events.len() - 1,
        "every event but [DONE] has an id"
    );
    let unique: std::collections::HashSet<&String> = ids.iter().copied().collect();
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
    let text = text(&parts);
    let lamu = data::kenya_schools_in("Lamu");
    assert!(
        text.contains(&format!("**{lamu}** schools in all")),
        "Lamu has {lamu} schools in the data: {text}"
    );

    let session_id = parts[1]["data"]["sessionId"].as_str().expect("session id");
    let session = app.session(session_id).await;
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

    let (_, metrics) = app.get("/metrics", None).await;
    let metrics = metrics.as_str().expect("text");
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
async fn the_json_chat_call_and_the_session_routes() {
    let app = TestApp::spawn().await;
    let (status, reply) = app
        .chat(json!({ "message": "Find Moi Girls in Nairobi" }), None)
        .await;
    assert_eq!(status, 200, "{reply}");
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

    let (_, list) = app.get("/api/sessions", None).await;
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
    assert_eq!(app.get(&format!("/api/sessions/{id}"), None).await.0, 404);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_message() {
    let app = TestApp::spawn().await;
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
        (
            "/chat/stream",
            "{not json".into(),
            400,
            "Failed to parse the request body as JSON",
        ),
        (
            "/chat/stream",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'].into(),
            400,
            "Failed to parse the request body as JSON",
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
            "unknown field `mesage`",
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
    assert_eq!(app.get("/api/runs/nope/stream", None).await.0, 404);
    assert_eq!(app.get("/api/sessions?limit=0", None).await.0, 400);
}

#[tokio::test]
async fn provider_garbage_ends_the_run_with_an_error_event_and_a_failed_run() {
    let fake = FakeModel::always(Turn::Garbage).await;
    let app = TestApp::builder().model(&fake).spawn().await;
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
    let session = app
        .session(parts[1]["data"]["sessionId"].as_str().expect("session"))
        .await;
    assert_eq!(session["messages"][1]["status"], "failed");
    assert_eq!(session["messages"][1]["content"], "Hal");

    let (status, envelope) = app.chat(json!({ "message": "Hello" }), None).await;
    assert_eq!(status, 502);
    assert_eq!(envelope["error"]["code"], "upstream_error");

    // The stream said 200, so the failure shows in the run and provider metrics.
    let (_, metrics) = app.get("/metrics", None).await;
    let metrics = metrics.as_str().expect("text");
    for series in [
        "mas_runs_total{agent=\"coordinator\",status=\"failed\"}",
        "mas_provider_errors_total{provider=\"openai\",kind=\"protocol\"}",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}

fn rate_limited(retry_after: &'static str) -> Turn {
    Turn::Status(
        429,
        vec![("retry-after", retry_after.into())],
        json!({ "error": { "message": "Rate limit reached for requests. Please try again in 1s.", "type": "requests", "param": null, "code": "rate_limit_exceeded" } }).to_string(),
    )
}

#[tokio::test]
async fn a_429_from_the_model_is_retried_after_its_retry_after_header() {
    let fake = FakeModel::start(vec![
        rate_limited("1"),
        Turn::Text("Lamu county has schools."),
    ])
    .await;
    let app = TestApp::builder()
        .model(&fake)
        .set("llm_max_retries", 2)
        .spawn()
        .await;
    let started = Instant::now();
    let (status, reply) = app
        .chat(json!({ "message": "How many schools are in Lamu?" }), None)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["message"], "Lamu county has schools.");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
    assert_eq!(fake.requests().await, 2);
}

#[tokio::test]
async fn a_429_that_outlasts_the_retries_fails_the_run_with_a_clear_error() {
    let fake = FakeModel::start(vec![rate_limited("0"), rate_limited("0")]).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("llm_max_retries", 1)
        .spawn()
        .await;
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
    let session = app
        .session(parts[1]["data"]["sessionId"].as_str().expect("session"))
        .await;
    assert_eq!(session["messages"][1]["status"], "failed");
    assert_eq!(fake.requests().await, 2, "one try and one retry");
}

#[tokio::test]
async fn a_quiet_stream_carries_heartbeat_comments() {
    let fake = FakeModel::start(vec![Turn::Slow(
        "one two three",
        Duration::from_millis(300),
    )])
    .await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let body = app.stream("Count slowly").await;
    assert!(body.contains("\n: heartbeat\n\n") || body.starts_with(": heartbeat\n\n"));
    assert_eq!(text(&parts(&events(&body))), "one two three");
}
