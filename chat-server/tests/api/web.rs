//! The web chat served from the binary: the page with its CSP, the embedded
//! assets with content types, hashed URLs cached for good and ETags; path
//! traversal finding nothing; the 404 page and the JSON 404 under `/api/`;
//! and `/api/status`.

use serde_json::Value;

use crate::support::TestApp;

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
    let app = TestApp::spawn().await;
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
