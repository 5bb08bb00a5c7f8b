//! The hardening every request passes: trusted hosts (probes exempt),
//! header and body limits, CORS for configured origins only, and the time
//! limits: a stream outlives them, a slow whole answer is cut at its limit.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    FakeModel, TestApp, Turn,
    sse::{events, parts, text},
};

#[tokio::test]
async fn hosts_origins_sizes_and_time_limits_are_enforced() {
    let fake = FakeModel::always(Turn::Words(8, Duration::from_millis(100))).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("allowed_hosts", "127.0.0.1,mas.example.org")
        .set("cors_origins", "https://app.example.org")
        .set("request_timeout", 0.3)
        .set("chat_timeout", 0.3)
        .spawn()
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
    assert_eq!(text(&parts(&events(&body))), "w0 w1 w2 w3 w4 w5 w6 w7 ");

    // The same answer asked for whole is cut at the limit: 503, in time.
    let started = Instant::now();
    let (status, body) = app.chat(json!({ "message": "Tell me slowly" }), None).await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(750),
        "answered at the limit, not when the 800 ms answer ended: {waited:?}"
    );
}
