//! The built binary over stdio, driven by an MCP client as Claude Desktop would.

use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::json;
use tokio::process::Command;

#[tokio::test]
async fn the_binary_serves_mcp_over_stdio() {
    let command = Command::new(env!("CARGO_BIN_EXE_mcp-server")).configure(|c| {
        c.arg("stdio").env("LOG_LEVEL", "warn");
    });
    let client =
        ().serve(TokioChildProcess::new(command).expect("spawn"))
            .await
            .expect("initialize over stdio");
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().expect("implementation").name,
        "mas-mcp-server"
    );
    let tools = client.list_all_tools().await.expect("tools");
    assert_eq!(tools.len(), 7);
    let result = client
        .call_tool(
            CallToolRequestParams::new("school_statistics").with_arguments(
                json!({ "group_by": "country" })
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("call");
    let groups = &result.structured_content.expect("structured")["groups"];
    assert_eq!(groups[0]["key"], "KE");
    assert_eq!(groups[0]["schools"], 37_930);
    assert_eq!(groups[1]["schools"], 4_337);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn the_http_server_drains_and_exits_cleanly_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-server"))
        .args(["serve", "--port", &port.to_string()])
        .env("LOG_LEVEL", "warn")
        .spawn()
        .expect("spawn");
    let health = format!("http://127.0.0.1:{port}/health");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "server came up");
    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time");
    assert!(exit.expect("status").success(), "exit code 0 after SIGTERM");
}
