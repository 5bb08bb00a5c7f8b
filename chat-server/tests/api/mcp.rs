//! The agents' MCP client: a remote EMIS server over Streamable HTTP (with
//! its bearer token, stateless), extra servers namespaced, a server that is
//! down at start-up, one that dies in the middle of a run, one that
//! announces new tools; `/ready` following the EMIS server.

use std::{sync::Arc, time::Duration};

use chat_server::{
    agent::{AgentSet, RunEvent, RunInput, RunLimits},
    domain::{Message, ToolCall},
    providers::registry::ProviderSettings,
    toolbox::{McpServerConfig, Toolbox},
};
use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{TestApp, emis};

/// The `MCP-Protocol-Version` and `Mcp-Session-Id` headers of each request.
type Seen = Arc<std::sync::Mutex<Vec<(Option<String>, Option<String>)>>>;

/// The MCP server on its own runtime and thread, so stopping it closes every
/// connection at once, as a crash would.
struct RemoteMcp {
    url: String,
    /// The `MCP-Protocol-Version` and `Mcp-Session-Id` headers of each request.
    seen: Seen,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RemoteMcp {
    fn start() -> Self {
        Self::start_with(None)
    }

    /// A remote EMIS server that accepts only `tokens` (comma-separated) when given.
    fn start_with(tokens: Option<&'static str>) -> Self {
        let seen: Seen = Arc::default();
        let recorder = seen.clone();
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut figment = mcp_server::settings::Settings::defaults();
                if let Some(tokens) = tokens {
                    figment = figment.merge(figment::providers::Serialized::default(
                        "mcp_auth_tokens",
                        tokens,
                    ));
                }
                let settings =
                    mcp_server::settings::Settings::from_figment(figment).expect("settings");
                let router =
                    mcp_server::http::router(emis::state(), &settings, CancellationToken::new())
                        .layer(axum::middleware::from_fn(
                            move |request: axum::extract::Request, next: axum::middleware::Next| {
                                let header = |name: &str| {
                                    request
                                        .headers()
                                        .get(name)
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_owned)
                                };
                                let entry =
                                    (header("mcp-protocol-version"), header("mcp-session-id"));
                                if let Ok(mut seen) = recorder.lock() {
                                    seen.push(entry);
                                }
                                next.run(request)
                            },
                        ));
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
            seen,
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
async fn the_client_sends_the_token_a_guarded_emis_server_needs() {
    let remote = RemoteMcp::start_with(Some("first-token,second-token"));
    let toolbox = Toolbox::remote(&remote.url, Some("second-token"), &[])
        .await
        .expect("remote toolbox");
    assert_eq!(toolbox.tools().len(), 7);
    let result = toolbox
        .call(&call("search_schools", json!({ "query": "bakwanim" })))
        .await;
    assert!(!result.is_error, "{}", result.content);
    for token in [None, Some("wrong-token")] {
        match Toolbox::remote(&remote.url, token, &[]).await {
            Err(_) => {}
            Ok(toolbox) => assert!(
                toolbox.tools().is_empty(),
                "no tools without the right token ({token:?})"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_emis_server_serves_the_same_tools() {
    let remote = RemoteMcp::start();
    let toolbox = Toolbox::remote(&remote.url, None, &[])
        .await
        .expect("remote toolbox");
    assert_eq!(toolbox.tools().len(), 7);
    let result = toolbox
        .call(&call("search_schools", json!({ "query": "bakwanim" })))
        .await;
    // Stateless 2026-07-28: no session to pin the client to one MCP replica.
    let seen = remote.seen.lock().expect("seen").clone();
    assert!(
        seen.iter().all(
            |(version, session)| version.as_deref() == Some("2026-07-28") && session.is_none()
        ),
        "{seen:?}"
    );
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
    let toolbox = Toolbox::with_extra(emis::state(), &extra)
        .await
        .expect("toolbox");
    let tools = toolbox.tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
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
        Toolbox::remote(&remote.url, None, &[])
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

    let limits = RunLimits {
        tool_timeout: Duration::from_secs(5),
        ..RunLimits::default()
    };
    let runner = emis::runner(
        AgentSet::builtin(),
        &ProviderSettings::default(),
        toolbox,
        limits,
    );
    let input = RunInput {
        history: vec![Message::User {
            text: "How many schools are in Lamu county?".into(),
        }],
        agent: None,
        cancel: CancellationToken::new(),
        ..RunInput::default()
    };
    let events: Vec<RunEvent> =
        tokio::time::timeout(Duration::from_secs(20), runner.run(input).collect())
            .await
            .expect("the run ends");
    assert!(events.iter().any(|e| matches!(e, RunEvent::ToolOutput { tool, is_error: true, .. } if tool == "school_statistics")), "{events:?}");
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })));
}

/// An MCP server whose `add_tool` tool adds a tool and announces the change,
/// to 2025-11-25 sessions (their GET stream) and to 2026-07-28
/// `subscriptions/listen` streams alike.
#[derive(Clone, Default)]
struct Growing {
    names: Arc<std::sync::Mutex<Vec<String>>>,
    listeners: Arc<tokio::sync::Mutex<Vec<rmcp::service::SubscriptionSink>>>,
}

fn tool(name: &str) -> rmcp::model::Tool {
    let schema = json!({ "type": "object", "properties": {} });
    let schema = match schema {
        serde_json::Value::Object(map) => Arc::new(map),
        _ => unreachable!("an object"),
    };
    rmcp::model::Tool::new(name.to_owned(), format!("The {name} tool"), schema)
}

impl rmcp::ServerHandler for Growing {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::InitializeResult::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<rmcp::model::PaginatedRequestParams>,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let names = self.names.lock().expect("names").clone();
        let mut tools = vec![tool("add_tool")];
        tools.extend(names.iter().map(|n| tool(n)));
        Ok(rmcp::model::ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let text = if request.name == "add_tool" {
            let name = {
                let mut names = self.names.lock().expect("names");
                let name = format!("extra_{}", names.len() + 1);
                names.push(name.clone());
                name
            };
            let _ = context.peer.notify_tool_list_changed().await;
            for sink in self.listeners.lock().await.iter() {
                let _ = sink.notify_tool_list_changed().await;
            }
            format!("added {name}")
        } else {
            format!("{} ran", request.name)
        };
        Ok(
            rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)])
                .into(),
        )
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(
        &self,
        context: rmcp::service::SubscriptionContext,
    ) -> Result<(), rmcp::ErrorData> {
        self.listeners.lock().await.push(context.sink().clone());
        context.cancelled().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_announces_new_tools_gets_them_listed_again() {
    let growing = Growing::default();
    let url = serve_mcp(growing.clone()).await;

    let extra = vec![McpServerConfig {
        name: "growing".into(),
        url: Some(url),
        headers: Default::default(),
        command: None,
        args: vec![],
    }];
    let toolbox = Toolbox::with_extra(emis::state(), &extra)
        .await
        .expect("toolbox");
    let has = |name: &str| toolbox.tools().iter().any(|t| t.name == name);
    assert!(has("growing__add_tool") && !has("growing__extra_1"));
    let added = toolbox.call(&call("growing__add_tool", json!({}))).await;
    assert!(!added.is_error, "{}", added.content);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !has("growing__extra_1") {
        assert!(
            std::time::Instant::now() < deadline,
            "the new tool was not listed: {:?}",
            toolbox
                .tools()
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ran = toolbox.call(&call("growing__extra_1", json!({}))).await;
    assert_eq!(ran.content, "extra_1 ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_emis_mcp_server() {
    let mut remote = RemoteMcp::start();
    let gone = McpServerConfig {
        name: "gone".into(),
        url: Some("http://127.0.0.1:9/mcp".into()),
        headers: Default::default(),
        command: None,
        args: vec![],
    };
    let app = TestApp::builder()
        .set("mcp_server_url", &remote.url)
        .set(
            "mcp_servers",
            json!([{ "name": gone.name, "url": gone.url }]),
        )
        .spawn()
        .await;
    let ready = format!("{}/ready", app.base);

    let check = || async {
        let response = reqwest::get(&ready).await.expect("ready");
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().await.expect("json"),
        )
    };
    let (status, body) = check().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "up");
    assert_eq!(body["mcp_servers"]["emis"], "up");
    assert_eq!(
        body["mcp_servers"]["gone"], "down",
        "an extra server that is down is reported, not fatal"
    );
    remote.kill();
    let (status, body) = check().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["mcp_servers"]["emis"], "down");
}

/// A server that accepts connections and never says a word.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_costs_only_its_tools_and_start_up_goes_on() {
    let silent = silent_server().await;
    let started = std::time::Instant::now();
    let app = tokio::time::timeout(
        Duration::from_secs(30),
        TestApp::builder()
            .set("mcp_connect_timeout", 1)
            .set("mcp_servers", json!([{ "name": "silent", "url": silent }]))
            .spawn(),
    )
    .await
    .expect("the chat server starts");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.get("/health", None).await.0, 200);
    let tools = app.runs().runner().tool_names();
    assert!(tools.iter().any(|t| t == "search_schools"), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("silent__")));
    let (status, ready) = app.get("/ready", None).await;
    assert_eq!(
        (status, &ready["mcp_servers"]["silent"]),
        (200, &json!("down")),
        "{ready}"
    );

    // The EMIS server itself never answering: the server still starts,
    // says so on /ready, and serves /health.
    let app = tokio::time::timeout(
        Duration::from_secs(30),
        TestApp::builder()
            .set("mcp_connect_timeout", 1)
            .set("mcp_server_url", silent_server().await)
            .spawn(),
    )
    .await
    .expect("the chat server starts without its EMIS server");
    assert_eq!(app.get("/health", None).await.0, 200);
    let (status, ready) = app.get("/ready", None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["mcp_servers"]["emis"], "down");
}

/// An MCP server with a read-only tool and a destructive one, as an
/// operator might attach (notes kept by an office).
#[derive(Clone, Default)]
struct Office {
    /// The tools called, in order.
    called: Arc<std::sync::Mutex<Vec<String>>>,
}

impl rmcp::ServerHandler for Office {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::InitializeResult::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<rmcp::model::PaginatedRequestParams>,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let mut read = rmcp::model::ToolAnnotations::new();
        read.read_only_hint = Some(true);
        let mut delete = rmcp::model::ToolAnnotations::new();
        delete.read_only_hint = Some(false);
        delete.destructive_hint = Some(true);
        Ok(rmcp::model::ListToolsResult::with_all_items(vec![
            tool("read_notes").annotate(read),
            tool("delete_note").annotate(delete),
            tool("send_note"),
        ]))
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        self.called
            .lock()
            .expect("called")
            .push(request.name.to_string());
        let text = format!("{} ran", request.name);
        Ok(
            rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)])
                .into(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_tool_is_never_called_and_the_model_is_told_why() {
    use chat_server::{
        agent::{AgentDef, AgentRunner},
        toolbox::policy::{Approval, ToolPolicy, ToolRule},
    };
    let office = Office::default();
    let url = serve_mcp(office.clone()).await;
    let extra = vec![McpServerConfig {
        name: "office".into(),
        url: Some(url),
        headers: Default::default(),
        command: None,
        args: vec![],
    }];
    let toolbox = Arc::new(
        Toolbox::with_extra(emis::state(), &extra)
            .await
            .expect("toolbox"),
    );
    let fake = crate::support::FakeModel::start(vec![
        crate::support::Turn::Calls(vec![
            ("c1", "office__read_notes", json!({})),
            ("c2", "office__send_note", json!({ "to": "everyone" })),
        ]),
        crate::support::Turn::Text("I read the notes; sending is not allowed here."),
    ])
    .await;
    let settings = ProviderSettings {
        openai_base_url: Some(fake.openai_base()),
        llm_max_retries: Some(0),
        ..Default::default()
    };
    let clerk = AgentDef {
        name: "clerk".into(),
        title: "Clerk".into(),
        description: "d".into(),
        provider: None,
        model: None,
        system_prompt: "p".into(),
        tools: vec!["office__*".into()],
        handoffs: vec![],
        requires_tool: None,
    };
    let policy = ToolPolicy::new(vec![ToolRule {
        tools: "office:send_*".into(),
        approval: Approval::Deny,
        agent: None,
    }]);
    let runner = Arc::new(
        AgentRunner::new(
            AgentSet::new(vec![clerk]).expect("agents"),
            emis::registry(&settings),
            toolbox,
            RunLimits::default(),
        )
        .with_policy(policy),
    );
    let input = RunInput {
        history: vec![Message::User {
            text: "Read the notes and send one to everyone.".into(),
        }],
        ..RunInput::default()
    };
    let events: Vec<RunEvent> = runner.run(input).collect().await;
    let output = |id: &str| {
        events.iter().find_map(|e| match e {
            RunEvent::ToolOutput {
                call_id,
                output,
                is_error,
                ..
            } if call_id == id => Some((output.clone(), *is_error)),
            _ => None,
        })
    };
    assert_eq!(output("c1"), Some(("read_notes ran".to_owned(), false)));
    assert_eq!(
        output("c2"),
        Some((
            "The operator's tool policy does not allow office__send_note; it was not run."
                .to_owned(),
            true
        ))
    );
    assert_eq!(
        *office.called.lock().expect("called"),
        vec!["read_notes".to_owned()],
        "the refused tool never reached its server"
    );
    let told = fake.bodies().await;
    assert!(
        told[1]
            .to_string()
            .contains("does not allow office__send_note"),
        "the model reads the refusal: {}",
        told[1]
    );
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })));
}

/// Serves `handler` over Streamable HTTP on a loopback port; its URL.
async fn serve_mcp<H: rmcp::ServerHandler + Clone + Send + Sync + 'static>(handler: H) -> String {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    let router = axum::Router::new().nest_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_which_calls_run_ask_or_are_refused_from_the_annotations_and_the_rules() {
    let url = serve_mcp(Office::default()).await;
    let agent = |name: &str, tools: &[&str]| json!({ "name": name, "title": name, "description": "d", "system_prompt": "p", "tools": tools });
    let app = TestApp::builder()
        .auth_required()
        .set("mcp_servers", json!([{ "name": "office", "url": url }]))
        .set(
            "agents",
            json!([
                agent("clerk", &["office__*", "search_schools"]),
                agent("boss", &["office__*"])
            ]),
        )
        .set(
            "tool_policy",
            json!([
                { "tools": "office:send_*", "approval": "deny" },
                { "tools": "office:delete_*", "approval": "allow", "agent": "boss" },
            ]),
        )
        .spawn()
        .await;
    let root = app.key("admin", "chat,sessions:read,admin").await;
    let (status, body, _) = app
        .call(reqwest::Method::GET, "/api/admin/tools", Some(&root), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let of = |name: &str| -> Vec<(String, String, String)> {
        let tool = body["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed: {body}"));
        tool["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .map(|a| {
                let from = match a["reason"]["from"].as_str() {
                    Some("rule") => format!("rule {}", a["reason"]["rule"]),
                    other => other.unwrap_or("?").to_owned(),
                };
                (
                    a["agent"].as_str().unwrap_or("?").to_owned(),
                    a["approval"].as_str().unwrap_or("?").to_owned(),
                    from,
                )
            })
            .collect()
    };
    let row = |agent: &str, approval: &str, from: &str| {
        (agent.to_owned(), approval.to_owned(), from.to_owned())
    };
    assert_eq!(
        of("office__read_notes"),
        vec![
            row("clerk", "allow", "default"),
            row("boss", "allow", "default")
        ],
        "readOnlyHint: true runs at once"
    );
    assert_eq!(
        of("office__delete_note"),
        vec![
            row("clerk", "ask", "default"),
            row("boss", "allow", "rule 2")
        ],
        "destructiveHint asks, unless a rule for the agent says otherwise"
    );
    assert_eq!(
        of("office__send_note"),
        vec![
            row("clerk", "deny", "rule 1"),
            row("boss", "deny", "rule 1")
        ]
    );
    assert_eq!(
        of("search_schools"),
        vec![row("clerk", "allow", "default")],
        "the EMIS tools are allowed"
    );
    let office = body["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "office__delete_note"))
        .expect("listed");
    assert_eq!(
        (&office["server"], &office["tool"], &office["hints"]),
        (
            &json!("office"),
            &json!("delete_note"),
            &json!({ "readOnlyHint": false, "destructiveHint": true })
        )
    );

    app.user("ann", chat_server::domain::UserRole::User).await;
    let user = app.key("ann", "chat,sessions:read").await;
    let (status, _, _) = app
        .call(reqwest::Method::GET, "/api/admin/tools", Some(&user), None)
        .await;
    assert_eq!(status, 403, "for admins only");
}
