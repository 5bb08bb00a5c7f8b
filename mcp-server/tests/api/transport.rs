//! The Streamable HTTP transport and the operational endpoints, over raw HTTP.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const ACCEPT: &str = "application/json, text/event-stream";

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
    })
}

/// The JSON-RPC messages of a JSON or SSE response body.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

#[tokio::test]
async fn a_2025_session_is_created_used_and_ended_with_delete() {
    let app = TestApp::embedded().await;
    let http = reqwest::Client::new();
    let url = format!("{}/mcp", app.base);
    let response = http
        .post(&url)
        .header(header::ACCEPT, ACCEPT)
        .json(&initialize())
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let post = |body: Value| {
        http.post(&url)
            .header(header::ACCEPT, ACCEPT)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body)
    };
    let ack = post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .send()
        .await
        .expect("initialized");
    assert_eq!(ack.status(), StatusCode::ACCEPTED);
    let list = post(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .send()
        .await
        .expect("list");
    let body = list.text().await.expect("body");
    let tools = &messages(&body)[0]["result"]["tools"];
    assert_eq!(tools.as_array().map(Vec::len), Some(7), "{body}");

    let deleted = http
        .delete(&url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let after = post(json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list" }))
        .send()
        .await
        .expect("after");
    assert_eq!(
        after.status(),
        StatusCode::NOT_FOUND,
        "an ended session is gone"
    );
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_against_dns_rebinding() {
    let app = TestApp::embedded().await;
    let response = reqwest::Client::new()
        .post(format!("{}/mcp", app.base))
        .header(header::ACCEPT, ACCEPT)
        .header(header::HOST, "evil.example.com")
        .json(&initialize())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn malformed_json_rpc_is_refused_and_the_server_keeps_serving() {
    let app = TestApp::embedded().await;
    let http = reqwest::Client::new();
    let url = format!("{}/mcp", app.base);
    for body in [
        "{not json",
        "[]",
        "{\"jsonrpc\":\"2.0\"}",
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"initialize\"}",
        "\u{0}\u{1}",
    ] {
        let response = http
            .post(&url)
            .header(header::ACCEPT, ACCEPT)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_client_error(),
            "{body:?} -> {}",
            response.status()
        );
    }
    let oversized = "x".repeat(3 * 1024 * 1024);
    let response = http
        .post(&url)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json")
        .body(oversized)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = app
        .ok("search_schools", json!({ "query": "Bekibon" }))
        .await;
    assert_eq!(page["schools"][0]["id"], "KE-2");
}

#[tokio::test]
async fn tools_list_is_stable_and_described_for_a_model() {
    let app = TestApp::embedded().await;
    let tools = app.client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "find_schools_near",
            "get_content",
            "get_school",
            "list_regions",
            "school_statistics",
            "search_content",
            "search_schools"
        ]
    );
    for tool in &tools {
        assert!(
            tool.output_schema.is_some(),
            "{} has an output schema",
            tool.name
        );
    }
    insta::assert_json_snapshot!("tools_list", tools);
}

#[tokio::test]
async fn health_and_metrics_report_on_the_server() {
    let app = TestApp::embedded().await;
    app.ok("search_schools", json!({ "query": "moi" })).await;
    let response = reqwest::get(format!("{}/health", app.base))
        .await
        .expect("health");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(response.headers()[name], value, "{name}");
    }
    assert!(
        !response.headers().contains_key("server"),
        "no server banner"
    );
    let health: Value = response.json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backend"], "embedded");
    assert_eq!(health["schools"], 42_267);
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("mas_tool_executions_total{tool_name=\"search_schools\",status=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("mas_tool_execution_seconds_bucket{tool_name=\"search_schools\""));
    assert!(metrics.contains("mas_requests_total{method=\"POST\",endpoint=\"/mcp\""));
    let ready = reqwest::get(format!("{}/ready", app.base))
        .await
        .expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn resources_prompts_and_completions_serve_the_data() {
    let app = TestApp::embedded().await;
    let school = app
        .client
        .read_resource(rmcp::model::ReadResourceRequestParams::new("school://KE-1"))
        .await
        .expect("read");
    let text = serde_json::to_value(&school.contents[0]).expect("json");
    assert!(text["text"].as_str().expect("text").contains("Bakwanin"));
    let missing = app
        .client
        .read_resource(rmcp::model::ReadResourceRequestParams::new("school://KE-0"))
        .await;
    assert!(
        missing.is_err(),
        "an unknown school is a resource-not-found error"
    );

    let story = app
        .client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "content://asp-ha-0001",
        ))
        .await
        .expect("story");
    let text = serde_json::to_value(&story.contents[0]).expect("json")["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        text.contains("African Storybook (africanstorybook.org), licensed"),
        "{text}"
    );

    let prompts = app.client.list_all_prompts().await.expect("prompts");
    assert!(prompts.len() >= 3);
    let profile = app
        .client
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("school_profile").with_arguments(
                json!({ "school_id": "US-120000207976" })
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("prompt");
    assert!(
        serde_json::to_string(&profile)
            .expect("json")
            .contains("FLORIDA VIRTUAL ELEMENTARY SCHOOL")
    );

    let completion = app
        .client
        .complete_prompt_argument("compare_counties", "county_a", "Nai", None)
        .await
        .expect("completion");
    let values: Vec<String> = completion.values;
    assert!(
        values.contains(&"Nairobi".to_owned()) && values.contains(&"Nairobi North".to_owned()),
        "{values:?}"
    );
}
