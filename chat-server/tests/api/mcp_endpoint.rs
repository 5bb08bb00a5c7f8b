//! The chat server's own `/mcp` (the EMIS tools it runs in process), behind
//! its API keys with the `mcp` scope: 401 with the RFC 9728 challenge, 403
//! for a key without the scope, a real MCP client with the right key, a
//! revoked key refused at once, the refusal audited.

use chat_server::{
    auth::accounts,
    domain::UserRole,
    store::{now_ms, users::UserStore},
};
use serde_json::{Value, json};

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_on_the_chat_server_takes_api_keys_with_the_mcp_scope() {
    use rmcp::{
        ServiceExt,
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    let app = TestApp::builder().auth_required().spawn().await;
    let store = app.store.as_ref();
    app.user("root", UserRole::Admin).await;
    app.user("alice", UserRole::User).await;
    let (mcp_key, mcp_key_id) = accounts::create_key(store, "alice", "mcp", "ide", None)
        .await
        .expect("key");
    let (chat_key, _) = accounts::create_key(store, "alice", "chat", "app", None)
        .await
        .expect("key");
    let base = app.base.clone();

    let http = reqwest::Client::new();
    let initialize = |key: Option<&str>| {
        let mut request = http
            .post(format!("{base}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": { "name": "test", "version": "1" } } }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let metadata = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let response = initialize(None).await.expect("post");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer resource_metadata=\"{metadata}\"").as_str()
    );
    let response = initialize(Some(&chat_key)).await.expect("post");
    assert_eq!(response.status(), 403, "a chat-only key");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp\""),
        "{challenge}"
    );
    let resource: Value = http
        .get(&metadata)
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(resource["resource"], format!("{base}/mcp"));

    let connect = |key: String| {
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
            .custom_headers(std::collections::HashMap::from([(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {key}").parse().expect("value"),
            )]));
        ().serve(StreamableHttpClientTransport::from_config(config))
    };
    let client = connect(mcp_key.clone()).await.expect("an mcp key connects");
    let tools = client.list_all_tools().await.expect("tools");
    assert!(
        tools.iter().any(|t| t.name == "search_schools"),
        "{tools:?}"
    );
    client.cancel().await.expect("close");
    accounts::revoke_key(store, &mcp_key_id.id)
        .await
        .expect("revoke");
    assert!(
        connect(mcp_key).await.is_err(),
        "a revoked key is refused at once"
    );
    let report = store
        .events_since(now_ms() - 60_000, 100)
        .await
        .expect("events");
    assert!(
        report
            .iter()
            .any(|e| e.kind == "permission_denied" && e.detail.contains("/mcp")),
        "the scope refusal is audited"
    );
}
