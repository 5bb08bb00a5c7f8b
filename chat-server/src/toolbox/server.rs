//! One MCP server the agents use: how it is reached (in process over an
//! in-memory pipe, Streamable HTTP, or a stdio command), its connection
//! (opened on first use, re-opened once after a failure), its tools as last
//! listed, and listing them again when the server says they changed.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use anyhow::Context;
use mcp_server::tools::{EmisServer, ServerState};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, RequestParamsMeta, ServerNotification, SubscriptionFilter, Tool,
    },
    service::{NotificationContext, Peer, RunningService},
    transport::{
        ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{NAMESPACE, policy::ToolHints};
use crate::domain::ToolSpec;

pub(super) enum Source {
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

pub(super) struct Server {
    /// How long connecting (with the initialize exchange) and listing may take.
    connect_timeout: Duration,
    pub(super) name: String,
    prefix: Option<String>,
    pub(super) source: Source,
    client: Mutex<Option<RunningService<RoleClient, Listener>>>,
    /// Its tools as last listed: (the spec offered to models, the server's
    /// own name, what its annotations say).
    tools: RwLock<Vec<(ToolSpec, String, ToolHints)>>,
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
    pub(super) fn new(
        name: &str,
        prefix: Option<&str>,
        source: Source,
        connect_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Server {
            connect_timeout,
            name: name.to_owned(),
            prefix: prefix.map(str::to_owned),
            source,
            client: Mutex::default(),
            tools: RwLock::default(),
        })
    }

    /// Its tools as last listed, as models see them.
    pub(super) fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .read()
            .map(|t| t.iter().map(|(spec, _, _)| spec.clone()).collect())
            .unwrap_or_default()
    }

    /// Its tools as last listed: (exposed name, own name, hints).
    pub(super) fn listing(&self) -> Vec<(String, String, ToolHints)> {
        self.tools
            .read()
            .map(|t| {
                t.iter()
                    .map(|(spec, own, hints)| (spec.name.clone(), own.clone(), *hints))
                    .collect()
            })
            .unwrap_or_default()
    }

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
                    StreamableHttpClientTransport::with_client(
                        super::traced::Traced::default(),
                        config,
                    ),
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
    pub(super) async fn list(self: &Arc<Self>) -> anyhow::Result<()> {
        let peer = self.peer().await?;
        let tools = tokio::time::timeout(self.connect_timeout, peer.list_all_tools())
            .await
            .map_err(|_| anyhow::anyhow!("no tool list within {:?}", self.connect_timeout))??;
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
                let hints = ToolHints::of(tool.annotations.as_ref());
                (spec, tool.name.to_string(), hints)
            })
            .collect();
        if let Ok(mut tools) = self.tools.write() {
            *tools = listed;
        }
    }

    /// The connection's peer, connecting first when there is none (within
    /// `connect_timeout`: a server that accepts the connection and never
    /// answers costs that long, not forever).
    async fn peer(self: &Arc<Self>) -> anyhow::Result<Peer<RoleClient>> {
        let mut slot = self.client.lock().await;
        if slot.is_none() {
            let opened = tokio::time::timeout(self.connect_timeout, self.open())
                .await
                .map_err(|_| anyhow::anyhow!("no answer within {:?}", self.connect_timeout))??;
            *slot = Some(opened);
        }
        slot.as_ref()
            .map(|c| c.peer().clone())
            .context("not connected")
    }

    /// The server's own name for an exposed tool name.
    pub(super) fn own_name(&self, exposed: &str) -> Option<String> {
        let tools = self.tools.read().ok()?;
        tools
            .iter()
            .find(|(spec, _, _)| spec.name == exposed)
            .map(|(_, own, _)| own.clone())
    }

    /// Calls `tool` on this server, reconnecting once if the connection broke.
    pub(super) async fn call(
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
            // The turn's trace goes on in the MCP server (`_meta`, SEP-414).
            let context = platform::telemetry::trace_context(&tracing::Span::current());
            if let Some(parent) = context.get("traceparent") {
                params.set_traceparent(parent);
            }
            if let Some(state) = context.get("tracestate") {
                params.set_tracestate(state);
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
