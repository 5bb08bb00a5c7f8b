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

pub mod policy;
mod server;
mod traced;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use mcp_server::{emis::languages::LANGUAGES, tools::ServerState};
use rmcp::model::ContentBlock;
use serde::Deserialize;
use serde_json::Value;

use self::server::{Server, Source};
use crate::domain::{KnownValues, ToolCall, ToolResult, ToolSpec};

/// Separator between a server's name and its tool names.
pub const NAMESPACE: &str = "__";

/// How long connecting to an MCP server and listing its tools may take, unless set.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the agents' tools come from.
#[derive(Debug, Clone)]
pub struct ToolSettings {
    /// A remote EMIS MCP server (`MCP_SERVER_URL`); the embedded one when unset.
    pub mcp_server_url: Option<String>,
    /// Bearer token for the remote EMIS server (`MCP_SERVER_TOKEN`, one of its `MCP_AUTH_TOKENS`).
    pub mcp_server_token: Option<secrecy::SecretString>,
    /// Extra MCP servers (`[[mcp_servers]]` in the config file), their tools prefixed `<name>__`.
    pub mcp_servers: Vec<McpServerConfig>,
    /// `MCP_CONNECT_TIMEOUT`: connecting, initializing and listing, per server.
    pub connect_timeout: Duration,
    /// `[[tool_policy]]` in the config file.
    pub policy: Vec<policy::ToolRule>,
}

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

/// A remote server at `url`, sent `token` as its bearer token when given.
fn remote(url: &str, token: Option<&str>) -> Source {
    let headers = token
        .map(|t| ("Authorization".to_owned(), format!("Bearer {t}")))
        .into_iter()
        .collect();
    Source::Http {
        url: url.to_owned(),
        headers,
    }
}

/// A tool as its server lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ListedTool {
    /// The name offered to models (`<server>__<tool>` on an attached server).
    pub name: String,
    pub server: String,
    /// The server's own name for it.
    pub tool: String,
    pub hints: policy::ToolHints,
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
    /// The toolbox `tools` describes: the remote EMIS server at
    /// `MCP_SERVER_URL`, or the embedded one built from `emis` (the bundled
    /// data, or `EMIS_DATABASE_URL`), with the extra servers.
    pub async fn from_settings(
        tools: &ToolSettings,
        emis: &mcp_server::EmisConfig,
    ) -> anyhow::Result<Self> {
        match &tools.mcp_server_url {
            Some(url) => {
                use secrecy::ExposeSecret;
                let token = tools.mcp_server_token.as_ref().map(|t| t.expose_secret());
                Self::build(
                    remote(url, token),
                    &tools.mcp_servers,
                    tools.connect_timeout,
                )
                .await
            }
            None => {
                let state = mcp_server::build_state(emis)
                    .await
                    .context("starting the EMIS tools")?;
                Self::build(
                    Source::Embedded(state),
                    &tools.mcp_servers,
                    tools.connect_timeout,
                )
                .await
            }
        }
    }

    /// Serves `state` in process (on the current runtime) and connects to it.
    pub async fn connect(state: Arc<ServerState>) -> anyhow::Result<Self> {
        Self::build(Source::Embedded(state), &[], CONNECT_TIMEOUT).await
    }

    /// The EMIS tools from a remote MCP server (`MCP_SERVER_URL`, with
    /// `token` as its bearer token when it needs one), plus extra servers.
    pub async fn remote(
        url: &str,
        token: Option<&str>,
        extra: &[McpServerConfig],
    ) -> anyhow::Result<Self> {
        Self::build(remote(url, token), extra, CONNECT_TIMEOUT).await
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
        Self::build(Source::Embedded(state), extra, CONNECT_TIMEOUT).await
    }

    /// Connects to every server at once, each within `timeout`. An extra
    /// server that does not answer costs only its own tools; a remote EMIS
    /// server that does not answer leaves the agents without theirs until
    /// the readiness probe reaches it (`/ready` says 503 meanwhile).
    async fn build(
        primary: Source,
        extra: &[McpServerConfig],
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let known = match &primary {
            Source::Embedded(state) => known_values(state),
            _ => KnownValues::default(),
        };
        let mut servers = vec![Server::new(policy::EMIS, None, primary, timeout)];
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
            servers.push(Server::new(
                &config.name,
                Some(&config.name),
                source,
                timeout,
            ));
        }
        let listed = futures::future::join_all(servers.iter().map(|s| s.list())).await;
        for (index, (server, listed)) in servers.iter().zip(listed).enumerate() {
            let Err(e) = listed else { continue };
            match (&server.source, index) {
                (Source::Embedded(_), 0) => {
                    return Err(e.context("starting the EMIS MCP server in process"));
                }
                (Source::Http { url, .. }, 0) => tracing::error!(
                    url = %url,
                    error = %e,
                    "the EMIS MCP server is unreachable: the agents have none of its tools, and /ready \
                     answers 503, until it answers"
                ),
                // An extra server that is down costs only its own tools.
                _ => {
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

    /// Every server's tools as they stand now, with their server and what
    /// their annotations say.
    pub fn listing(&self) -> Vec<ListedTool> {
        self.servers
            .iter()
            .flat_map(|s| {
                s.listing()
                    .into_iter()
                    .map(|(name, tool, hints)| ListedTool {
                        name,
                        server: s.name.clone(),
                        tool,
                        hints,
                    })
            })
            .collect()
    }

    /// Every server's tools as they stand now.
    pub fn tools(&self) -> Vec<ToolSpec> {
        self.servers.iter().flat_map(|s| s.specs()).collect()
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
