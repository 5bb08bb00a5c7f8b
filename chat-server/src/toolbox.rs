//! The MCP servers the agents use, behind one tool list. The EMIS server runs
//! in process by default (an MCP client over an in-memory pipe, exactly as a
//! remote server would be reached); `MCP_SERVER_URL` points at a remote one
//! instead; extra servers (Streamable HTTP with headers, or stdio commands)
//! add their tools under a `<server>__` prefix. A server that is down or slow
//! affects only its own tools: its calls fail as tool errors, and a broken
//! connection is re-established once per call. rmcp's HTTP client
//! re-initialises an expired session (404) by itself. A server whose tools
//! change says so (`notifications/tools/list_changed`, on a 2025-11-25
//! session or a 2026-07-28 `subscriptions/listen` stream) and its tools are
//! listed again.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use anyhow::Context;
use mcp_server::{emis::languages::LANGUAGES, tools::EmisServer, tools::ServerState};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{CallToolRequestParams, ContentBlock, ServerNotification, SubscriptionFilter, Tool},
    service::{NotificationContext, Peer, RunningService},
    transport::{
        ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::providers::{ToolCall, ToolResult, ToolSpec, offline::KnownValues};

/// Separator between a server's name and its tool names.
pub const NAMESPACE: &str = "__";

/// An extra MCP server from the configuration file (`[[mcp_servers]]`).
#[derive(Debug, Clone, Deserialize)]
pub struct McpServerConfig {
    /// Prefix of its tools (`<name>__<tool>`).
    pub name: String,
    /// Streamable HTTP endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// Headers sent with every HTTP request (e.g. `Authorization`).
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// Or a command that speaks MCP over stdio.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
}

enum Source {
    Embedded(Arc<ServerState>),
    Http {
        url: String,
        headers: HashMap<String, String>,
    },
    Stdio {
        command: String,
        args: Vec<String>,
    },
}

struct Server {
    name: String,
    prefix: Option<String>,
    source: Source,
    client: Mutex<Option<RunningService<RoleClient, Listener>>>,
    /// Its tools as last listed: (the spec offered to models, the server's own name).
    tools: RwLock<Vec<(ToolSpec, String)>>,
}

/// The client side of one connection: lists the tools again when the server
/// says they changed.
#[derive(Clone)]
struct Listener {
    server: Weak<Server>,
}

impl Listener {
    fn refresh_soon(&self) {
        if let Some(server) = self.server.upgrade() {
            // Not awaited here: the notification is handled inside the
            // connection's own loop, which must stay free to read the answer.
            tokio::spawn(async move {
                if let Err(e) = server.list().await {
                    tracing::warn!(server = %server.name, error = %e, "listing the changed tools failed");
                }
            });
        }
    }
}

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.refresh_soon();
    }
}

impl Server {
    async fn open(self: &Arc<Self>) -> anyhow::Result<RunningService<RoleClient, Listener>> {
        let listener = Listener {
            server: Arc::downgrade(self),
        };
        let client = match &self.source {
            Source::Embedded(state) => {
                let (client_io, server_io) = tokio::io::duplex(1 << 20);
                let server = EmisServer::new(state.clone());
                tokio::spawn(async move {
                    match server.serve(server_io).await {
                        Ok(running) => {
                            let _ = running.waiting().await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "embedded MCP server failed to start")
                        }
                    }
                });
                listener.clone().serve(client_io).await?
            }
            Source::Http { url, headers } => {
                let mut custom = HashMap::new();
                for (k, v) in headers {
                    custom.insert(
                        k.parse().context("header name")?,
                        v.parse().context("header value")?,
                    );
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(custom);
                // Stateless 2026-07-28 when the server speaks it (any replica
                // of a scaled MCP server answers any call), else a 2025-11-25
                // session.
                let lifecycle = rmcp::ClientLifecycleMode::Auto {
                    preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
                    legacy_version: Some(rmcp::model::ProtocolVersion::V_2025_11_25),
                };
                rmcp::ClientServiceExt::serve_with_lifecycle(
                    listener.clone(),
                    StreamableHttpClientTransport::from_config(config),
                    lifecycle,
                )
                .await?
            }
            Source::Stdio { command, args } => {
                let cmd = tokio::process::Command::new(command).configure(|c| {
                    c.args(args);
                });
                listener.clone().serve(TokioChildProcess::new(cmd)?).await?
            }
        };
        // A 2026-07-28 server sends list changes only on a subscription.
        let info = client.peer().peer_info();
        let announces_changes = info.is_some_and(|i| {
            !i.protocol_version.has_initialize()
                && i.capabilities
                    .tools
                    .as_ref()
                    .is_some_and(|t| t.list_changed == Some(true))
        });
        if announces_changes {
            let peer = client.peer().clone();
            tokio::spawn(async move {
                let filter = SubscriptionFilter::builder().tools_list_changed().build();
                let mut subscription = match peer.listen(filter).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "subscribing to tool list changes failed");
                        return;
                    }
                };
                while let Ok(Some(notification)) = subscription.next().await {
                    if let ServerNotification::ToolListChangedNotification(_) = notification {
                        listener.refresh_soon();
                    }
                }
            });
        }
        Ok(client)
    }

    /// Lists the server's tools (connecting when needed) and keeps them.
    async fn list(self: &Arc<Self>) -> anyhow::Result<()> {
        let peer = self.peer().await?;
        let tools = tokio::time::timeout(Duration::from_secs(10), peer.list_all_tools()).await??;
        self.keep(tools);
        Ok(())
    }

    fn keep(&self, tools: Vec<Tool>) {
        let listed = tools
            .into_iter()
            .map(|tool| {
                let exposed = match &self.prefix {
                    Some(p) => format!("{p}{NAMESPACE}{}", tool.name),
                    None => tool.name.to_string(),
                };
                let spec = ToolSpec {
                    name: exposed,
                    description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
                    parameters: Value::Object((*tool.input_schema).clone()),
                };
                (spec, tool.name.to_string())
            })
            .collect();
        if let Ok(mut tools) = self.tools.write() {
            *tools = listed;
        }
    }

    /// The connection's peer, connecting first when there is none.
    async fn peer(self: &Arc<Self>) -> anyhow::Result<Peer<RoleClient>> {
        let mut slot = self.client.lock().await;
        if slot.is_none() {
            *slot = Some(self.open().await?);
        }
        slot.as_ref()
            .map(|c| c.peer().clone())
            .context("not connected")
    }

    /// The server's own name for an exposed tool name.
    fn own_name(&self, exposed: &str) -> Option<String> {
        let tools = self.tools.read().ok()?;
        tools
            .iter()
            .find(|(spec, _)| spec.name == exposed)
            .map(|(_, own)| own.clone())
    }

    /// Calls `tool` on this server, reconnecting once if the connection broke.
    async fn call(
        self: &Arc<Self>,
        tool: &str,
        arguments: Option<serde_json::Map<String, Value>>,
    ) -> Result<rmcp::model::CallToolResult, String> {
        let mut last = String::new();
        for attempt in 0..2 {
            let peer = self
                .peer()
                .await
                .map_err(|e| format!("the {} MCP server is unreachable: {e}", self.name))?;
            let mut params = CallToolRequestParams::new(tool.to_owned());
            if let Some(args) = arguments.clone() {
                params = params.with_arguments(args);
            }
            match peer.call_tool(params).await {
                Ok(result) => return Ok(result),
                Err(e) => {
                    last = e.to_string();
                    tracing::warn!(server = %self.name, attempt, error = %e, "MCP call failed; reconnecting");
                    *self.client.lock().await = None;
                }
            }
        }
        Err(format!("the {} MCP server failed: {last}", self.name))
    }
}

/// Tools offered to a model, and how to run them.
pub struct Toolbox {
    servers: Vec<Arc<Server>>,
    known: KnownValues,
}

/// Counties, sub-counties and languages of an EMIS server's data.
pub fn known_values(state: &ServerState) -> KnownValues {
    let catalog = state.backend.catalog();
    KnownValues {
        counties: catalog
            .counties()
            .map(|(country, name)| (name.to_owned(), country.code().to_owned()))
            .collect(),
        sub_counties: catalog
            .sub_counties()
            .map(|(_, _, name)| name.to_owned())
            .collect(),
        languages: catalog
            .languages
            .iter()
            .map(|l| {
                let aliases = LANGUAGES
                    .iter()
                    .find(|(code, _, _)| *code == l.code)
                    .map(|(_, _, a)| a.iter().map(|s| (*s).to_owned()).collect())
                    .unwrap_or_default();
                (l.code.clone(), l.name.clone(), aliases)
            })
            .collect(),
    }
}

impl Toolbox {
    /// Starts the embedded MCP server on its bundled data (or its `DATABASE_URL`) and connects to it.
    pub async fn embedded(settings: &mcp_server::settings::Settings) -> anyhow::Result<Self> {
        let state: Arc<ServerState> = mcp_server::build_state(settings)
            .await
            .context("starting the EMIS tools")?;
        Self::connect(state).await
    }

    /// Serves `state` in process (on the current runtime) and connects to it.
    pub async fn connect(state: Arc<ServerState>) -> anyhow::Result<Self> {
        Self::build(Source::Embedded(state), &[]).await
    }

    /// The EMIS tools from a remote MCP server (`MCP_SERVER_URL`, with
    /// `token` as its bearer token when it needs one), plus extra servers.
    pub async fn remote(
        url: &str,
        token: Option<&str>,
        extra: &[McpServerConfig],
    ) -> anyhow::Result<Self> {
        let headers = token
            .map(|t| ("Authorization".to_owned(), format!("Bearer {t}")))
            .into_iter()
            .collect();
        Self::build(
            Source::Http {
                url: url.to_owned(),
                headers,
            },
            extra,
        )
        .await
    }

    /// The in-process EMIS server's state, when the tools are embedded.
    pub fn embedded_state(&self) -> Option<Arc<ServerState>> {
        match &self.servers.first()?.source {
            Source::Embedded(state) => Some(state.clone()),
            _ => None,
        }
    }

    /// The embedded EMIS tools plus extra servers.
    pub async fn with_extra(
        state: Arc<ServerState>,
        extra: &[McpServerConfig],
    ) -> anyhow::Result<Self> {
        Self::build(Source::Embedded(state), extra).await
    }

    async fn build(primary: Source, extra: &[McpServerConfig]) -> anyhow::Result<Self> {
        let known = match &primary {
            Source::Embedded(state) => known_values(state),
            _ => KnownValues::default(),
        };
        let mut servers = vec![Arc::new(Server {
            name: "emis".into(),
            prefix: None,
            source: primary,
            client: Mutex::default(),
            tools: RwLock::default(),
        })];
        for config in extra {
            let source = match (&config.url, &config.command) {
                (Some(url), _) => Source::Http {
                    url: url.clone(),
                    headers: config.headers.clone(),
                },
                (None, Some(command)) => Source::Stdio {
                    command: command.clone(),
                    args: config.args.clone(),
                },
                (None, None) => {
                    anyhow::bail!("MCP server {:?} needs a url or a command", config.name)
                }
            };
            servers.push(Arc::new(Server {
                name: config.name.clone(),
                prefix: Some(config.name.clone()),
                source,
                client: Mutex::default(),
                tools: RwLock::default(),
            }));
        }
        for (index, server) in servers.iter().enumerate() {
            match (server.list().await, index) {
                (Ok(()), _) => {}
                (Err(e), 0) => return Err(e.context("connecting to the EMIS MCP server")),
                // An extra server that is down costs only its own tools.
                (Err(e), _) => {
                    tracing::warn!(server = %server.name, error = %e, "MCP server unavailable; its tools are left out")
                }
            }
        }
        Ok(Toolbox { servers, known })
    }

    /// Each server by name and whether it answers now (its tools are listed
    /// again, at most 2 s each, all at once); the EMIS server first. A server
    /// that was down at start-up gets its tools back this way.
    pub async fn health(&self) -> Vec<(String, bool)> {
        let probes = self.servers.iter().map(|server| async move {
            let up = tokio::time::timeout(Duration::from_secs(2), server.list())
                .await
                .is_ok_and(|listed| listed.is_ok());
            (server.name.clone(), up)
        });
        futures::future::join_all(probes).await
    }

    /// Every server's tools as they stand now.
    pub fn tools(&self) -> Vec<ToolSpec> {
        self.servers
            .iter()
            .filter_map(|s| s.tools.read().ok().map(|t| t.clone()))
            .flatten()
            .map(|(spec, _)| spec)
            .collect()
    }

    /// Counties, sub-counties and languages the data knows (for the offline planner).
    pub fn known_values(&self) -> KnownValues {
        self.known.clone()
    }

    /// Runs a tool call; failures become error results the model can read.
    pub async fn call(&self, call: &ToolCall) -> ToolResult {
        let error = |content: String| ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content,
            is_error: true,
        };
        let Some((server, tool)) = self
            .servers
            .iter()
            .find_map(|s| s.own_name(&call.name).map(|own| (s, own)))
        else {
            return error(format!("there is no tool named {:?}", call.name));
        };
        let arguments = match &call.arguments {
            Value::Object(map) => Some(map.clone()),
            _ => None,
        };
        match server.call(&tool, arguments).await {
            Ok(result) => {
                let content = match &result.structured_content {
                    Some(v) if result.is_error != Some(true) => v.to_string(),
                    _ => result
                        .content
                        .iter()
                        .filter_map(|c: &ContentBlock| c.as_text().map(|t| t.text.clone()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                ToolResult {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    content,
                    is_error: result.is_error == Some(true),
                }
            }
            Err(message) => error(message),
        }
    }
}
