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
