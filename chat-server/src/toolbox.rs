//! The MCP servers the agents use, behind one tool list. The EMIS server runs
//! in process by default (an MCP client over an in-memory pipe, exactly as a
//! remote server would be reached); `MCP_SERVER_URL` points at a remote one
//! instead; extra servers (Streamable HTTP with headers, or stdio commands)
//! add their tools under a `<server>__` prefix. A server that is down or slow
//! affects only its own tools: its calls fail as tool errors, and a broken
//! connection is re-established once per call. rmcp's HTTP client
//! re-initialises an expired session (404) by itself.

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use mcp_server::{emis::languages::LANGUAGES, tools::EmisServer, tools::ServerState};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, ContentBlock},
    service::RunningService,
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
    client: Mutex<Option<RunningService<RoleClient, ()>>>,
}

impl Server {
    async fn open(&self) -> anyhow::Result<RunningService<RoleClient, ()>> {
        match &self.source {
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
                Ok(().serve(client_io).await?)
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
                Ok(
                    ().serve(StreamableHttpClientTransport::from_config(config))
                        .await?,
                )
            }
            Source::Stdio { command, args } => {
                let cmd = tokio::process::Command::new(command).configure(|c| {
                    c.args(args);
                });
                Ok(().serve(TokioChildProcess::new(cmd)?).await?)
            }
        }
    }

    /// Calls `tool` on this server, reconnecting once if the connection broke.
    async fn call(
        &self,
        tool: &str,
        arguments: Option<serde_json::Map<String, Value>>,
    ) -> Result<rmcp::model::CallToolResult, String> {
        let mut last = String::new();
        for attempt in 0..2 {
            let mut slot = self.client.lock().await;
            if slot.is_none() {
                match self.open().await {
                    Ok(client) => *slot = Some(client),
                    Err(e) => {
                        return Err(format!("the {} MCP server is unreachable: {e}", self.name));
                    }
                }
            }
            let Some(client) = slot.as_ref() else {
                continue;
            };
            let peer = client.peer().clone();
            drop(slot);
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
    tools: Vec<ToolSpec>,
    /// Exposed tool name -> (server index, the server's own tool name).
    routes: HashMap<String, (usize, String)>,
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

    /// The EMIS tools from a remote MCP server (`MCP_SERVER_URL`), plus extra servers.
    pub async fn remote(url: &str, extra: &[McpServerConfig]) -> anyhow::Result<Self> {
        Self::build(
            Source::Http {
                url: url.to_owned(),
                headers: HashMap::new(),
            },
            extra,
        )
        .await
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
            }));
        }
        let mut toolbox = Toolbox {
            servers,
            tools: Vec::new(),
            routes: HashMap::new(),
            known,
        };
        for index in 0..toolbox.servers.len() {
            let server = toolbox.servers[index].clone();
            let listed = async {
                let client = server.open().await?;
                let tools = tokio::time::timeout(Duration::from_secs(10), client.list_all_tools())
                    .await??;
                *server.client.lock().await = Some(client);
                anyhow::Ok(tools)
            }
            .await;
            let tools = match (listed, index) {
                (Ok(tools), _) => tools,
                (Err(e), 0) => return Err(e.context("connecting to the EMIS MCP server")),
                (Err(e), _) => {
                    // An extra server that is down costs only its own tools.
                    tracing::warn!(server = %server.name, error = %e, "MCP server unavailable; its tools are left out");
                    continue;
                }
            };
            for tool in tools {
                let exposed = match &server.prefix {
                    Some(p) => format!("{p}{NAMESPACE}{}", tool.name),
                    None => tool.name.to_string(),
                };
                toolbox
                    .routes
                    .insert(exposed.clone(), (index, tool.name.to_string()));
                toolbox.tools.push(ToolSpec {
                    name: exposed,
                    description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
                    parameters: Value::Object((*tool.input_schema).clone()),
                });
            }
        }
        Ok(toolbox)
    }

    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
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
        let Some((index, tool)) = self.routes.get(&call.name) else {
            return error(format!("there is no tool named {:?}", call.name));
        };
        let arguments = match &call.arguments {
            Value::Object(map) => Some(map.clone()),
            _ => None,
        };
        match self.servers[*index].call(tool, arguments).await {
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
