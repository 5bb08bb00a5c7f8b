//! The EMIS MCP server in process (no network), reached through an MCP client
//! over an in-memory duplex pipe, exactly as a remote server would be.

use std::sync::Arc;

use anyhow::Context;
use mcp_server::{emis::languages::LANGUAGES, tools::EmisServer, tools::ServerState};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, ContentBlock},
    service::RunningService,
};
use serde_json::Value;

use crate::providers::{ToolCall, ToolResult, ToolSpec, offline::KnownValues};

/// Tools offered to a model, and how to run them.
pub struct Toolbox {
    client: RunningService<RoleClient, ()>,
    tools: Vec<ToolSpec>,
    known: KnownValues,
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
        let catalog = state.backend.catalog();
        let known = KnownValues {
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
        };
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let server = EmisServer::new(state);
        tokio::spawn(async move {
            match server.serve(server_io).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(e) => tracing::error!(error = %e, "embedded MCP server failed to start"),
            }
        });
        let client = ().serve(client_io).await.context("connecting to the embedded MCP server")?;
        let tools = client
            .list_all_tools()
            .await
            .context("listing the EMIS tools")?
            .into_iter()
            .map(|t| ToolSpec {
                name: t.name.to_string(),
                description: t.description.map(|d| d.to_string()).unwrap_or_default(),
                parameters: Value::Object((*t.input_schema).clone()),
            })
            .collect();
        Ok(Toolbox {
            client,
            tools,
            known,
        })
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
        let mut params = CallToolRequestParams::new(call.name.clone());
        if let Value::Object(map) = &call.arguments {
            params = params.with_arguments(map.clone());
        }
        let (content, is_error) = match self.client.call_tool(params).await {
            Ok(result) => {
                let text = match &result.structured_content {
                    Some(v) if result.is_error != Some(true) => v.to_string(),
                    _ => result
                        .content
                        .iter()
                        .filter_map(|c: &ContentBlock| c.as_text().map(|t| t.text.clone()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                (text, result.is_error == Some(true))
            }
            Err(e) => (format!("the tool call failed: {e}"), true),
        };
        ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content,
            is_error,
        }
    }
}
