//! Bearer auth on `/mcp` (the MCP authorization spec's resource-server
//! side): 401 with a `resource_metadata` challenge, RFC 9728 metadata, a
//! static token list, and production refusing to start without tokens.

use std::{collections::HashMap, sync::Arc};

use figment::providers::Serialized;
use mcp_server::{Application, settings::Settings};
use reqwest::{StatusCode, header};
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{self, embedded_backend};

fn settings(pairs: &[(&str, Value)]) -> Settings {
    let mut figment = Settings::defaults();
    for (key, value) in pairs {
        figment = figment.merge(Serialized::default(key, value));
    }
    Settings::from_figment(figment).expect("settings")
}

/// The embedded tools served with `settings`: base URL and stop token.
async fn serve(settings: &Settings) -> (String, CancellationToken) {
    let state = mcp_server::tools::ServerState {
        backend: embedded_backend(),
        cache: Arc::new(mcp_server::cache::NoCache),
        tavily: None,
        tool_timeout: std::time::Duration::from_secs(10),
        fixtures: None,
    };
    helpers::serve(state, settings).await
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
    })
}

#[tokio::test]
async fn a_static_token_list_guards_mcp_and_the_metadata_says_how() {
    let (base, shutdown) =
        serve(&settings(&[("mcp_auth_tokens", json!("tok-one, tok-two"))])).await;
    let http = reqwest::Client::new();
    let post = |token: Option<&str>| {
        let mut request = http
            .post(format!("{base}/mcp"))
            .header(header::ACCEPT, "application/json, text/event-stream")
            .json(&initialize());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");

    let response = post(None).await.expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        format!("Bearer resource_metadata=\"{metadata_url}\"").as_str()
    );
    let response = post(Some("tok-three")).await.expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\"")
            && challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(post(Some("tok-two")).await.expect("post").status(), 200);

    // RFC 9728 metadata, at the path-suffixed and the root well-known URLs, without a token.
    for url in [
        metadata_url.clone(),
        format!("{base}/.well-known/oauth-protected-resource"),
    ] {
        let metadata: Value = http
            .get(&url)
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        assert_eq!(metadata["resource"], format!("{base}/mcp"));
        assert_eq!(metadata["scopes_supported"], json!(["mcp"]));
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    }
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .expect("health")
            .status(),
        200,
        "probes need no token"
    );

    // A real MCP client with the token lists and calls the tools.
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
        .custom_headers(HashMap::from([(
            header::AUTHORIZATION,
            "Bearer tok-one".parse().expect("value"),
        )]));
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("the client connects with its token");
    let tools = client.list_all_tools().await.expect("tools");
    assert_eq!(tools.len(), 7);
    // Without it, the client cannot even start.
    let refused = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "{base}/mcp"
        )))
        .await;
    assert!(refused.is_err());
    shutdown.cancel();
}

#[tokio::test]
async fn the_public_url_and_authorization_servers_go_into_the_metadata() {
    let (base, shutdown) = serve(&settings(&[
        ("mcp_auth_tokens", json!("tok")),
        ("mcp_public_url", json!("https://mas.example.org/")),
        (
            "mcp_authorization_servers",
            json!("https://auth.example.org"),
        ),
    ]))
    .await;
    let response = reqwest::get(format!("{base}/mcp")).await.expect("get");
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer resource_metadata=\"https://mas.example.org/.well-known/oauth-protected-resource/mcp\""
    );
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["resource"], "https://mas.example.org/mcp");
    assert_eq!(
        metadata["authorization_servers"],
        json!(["https://auth.example.org"])
    );
    shutdown.cancel();
}

#[tokio::test]
async fn production_refuses_to_start_an_open_mcp_server() {
    let open = settings(&[("environment", json!("production")), ("mcp_port", json!(0))]);
    let error = Application::build(&open, CancellationToken::new())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("MCP_AUTH_TOKENS"), "{error}");
    let guarded = settings(&[
        ("environment", json!("production")),
        ("mcp_port", json!(0)),
        ("mcp_auth_tokens", json!("tok")),
    ]);
    assert!(
        Application::build(&guarded, CancellationToken::new())
            .await
            .is_ok()
    );
}
