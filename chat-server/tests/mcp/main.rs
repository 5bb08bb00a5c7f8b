//! The agents' MCP client: a remote EMIS server over Streamable HTTP, extra
//! servers namespaced, a server that is down at start-up, and one that dies
//! in the middle of a run.

#[path = "../support/mod.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use chat_server::{
    agent::{AgentRunner, AgentSet, RunEvent, RunInput, RunLimits},
    providers::{
        Message, ToolCall,
        registry::{ProviderSettings, Registry},
    },
    toolbox::{McpServerConfig, Toolbox},
};
use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The MCP server on its own runtime and thread, so stopping it closes every
/// connection at once, as a crash would.
struct RemoteMcp {
    url: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RemoteMcp {
    fn start() -> Self {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let settings = mcp_server::settings::Settings::from_figment(
                    mcp_server::settings::Settings::defaults(),
                )
                .expect("settings");
                let router =
                    mcp_server::http::router(support::state(), &settings, CancellationToken::new());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                url_tx
                    .send(format!(
                        "http://{}/mcp",
                        listener.local_addr().expect("addr")
                    ))
                    .expect("url");
                tokio::spawn(async move { axum::serve(listener, router).await });
                tokio::task::spawn_blocking(move || stop_rx.recv())
                    .await
                    .ok();
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        RemoteMcp {
            url: url_rx.recv().expect("server url"),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Kills the server and every connection it had.
    fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RemoteMcp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn call(name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        id: "c1".into(),
        name: name.into(),
        arguments: args,
        signature: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_emis_server_serves_the_same_tools() {
    let remote = RemoteMcp::start();
    let toolbox = Toolbox::remote(&remote.url, &[])
        .await
        .expect("remote toolbox");
    assert_eq!(toolbox.tools().len(), 7);
    let result = toolbox
        .call(&call("search_schools", json!({ "query": "bakwanim" })))
        .await;
    assert!(
        !result.is_error && result.content.contains("KE-1"),
        "{}",
        result.content
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_servers_add_namespaced_tools_and_a_dead_one_costs_only_its_own() {
    let remote = RemoteMcp::start();
    let extra = vec![
        McpServerConfig {
            name: "mirror".into(),
            url: Some(remote.url.clone()),
            headers: Default::default(),
            command: None,
            args: vec![],
        },
        McpServerConfig {
            name: "gone".into(),
            url: Some("http://127.0.0.1:9/mcp".into()),
            headers: Default::default(),
            command: None,
            args: vec![],
        },
    ];
    let toolbox = Toolbox::with_extra(support::state(), &extra)
        .await
        .expect("toolbox");
    let names: Vec<&str> = toolbox.tools().iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"search_schools") && names.contains(&"mirror__search_schools"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("gone__")),
        "the unreachable server adds nothing"
    );
    let result = toolbox
        .call(&call("mirror__get_school", json!({ "id": "KE-2" })))
        .await;
    assert!(
        !result.is_error && result.content.contains("Bekibon"),
        "{}",
        result.content
    );
    let unknown = toolbox.call(&call("gone__anything", json!({}))).await;
    assert!(unknown.is_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_run_gives_a_tool_error_not_a_hang() {
    let mut remote = RemoteMcp::start();
    let toolbox = Arc::new(
        Toolbox::remote(&remote.url, &[])
            .await
            .expect("remote toolbox"),
    );
    remote.kill();
    let direct = tokio::time::timeout(
        Duration::from_secs(10),
        toolbox.call(&call("list_regions", json!({}))),
    )
    .await
    .expect("no hang");
    assert!(direct.is_error, "{}", direct.content);

    let registry = Arc::new(
        Registry::from_settings(&ProviderSettings::default(), support::known_values())
            .expect("registry"),
    );
    let runner = Arc::new(AgentRunner::new(
        AgentSet::builtin(),
        registry,
        toolbox,
        RunLimits {
            tool_timeout: Duration::from_secs(5),
            ..RunLimits::default()
        },
    ));
    let input = RunInput {
        history: vec![Message::User {
            text: "How many schools are in Lamu county?".into(),
        }],
        agent: None,
        cancel: CancellationToken::new(),
    };
    let events: Vec<RunEvent> =
        tokio::time::timeout(Duration::from_secs(20), runner.run(input).collect())
            .await
            .expect("the run ends");
    assert!(events.iter().any(|e| matches!(e, RunEvent::ToolOutput { tool, is_error: true, .. } if tool == "school_statistics")), "{events:?}");
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })));
}
