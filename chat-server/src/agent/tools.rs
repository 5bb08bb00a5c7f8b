//! How the agents reach tools: the `ToolExecutor` they call (the MCP
//! client pool, `Toolbox`, in production).

use async_trait::async_trait;

use crate::{
    domain::{ToolCall, ToolResult, ToolSpec},
    toolbox::{ListedTool, Toolbox, policy},
};

/// Runs tools for the agents (the MCP client pool in production).
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    /// The tools as they stand now (a server's list can change).
    fn tools(&self) -> Vec<ToolSpec>;
    /// The tools with their server and annotations (by default: each the
    /// main server's, without hints).
    fn listing(&self) -> Vec<ListedTool> {
        self.tools()
            .into_iter()
            .map(|t| ListedTool {
                tool: t.name.clone(),
                name: t.name,
                server: policy::EMIS.to_owned(),
                hints: policy::ToolHints::default(),
            })
            .collect()
    }
    /// Each tool server by name and whether it answers, the main one first.
    async fn health(&self) -> Vec<(String, bool)>;
    async fn call(&self, call: &ToolCall) -> ToolResult;
}

#[async_trait]
impl ToolExecutor for Toolbox {
    fn tools(&self) -> Vec<ToolSpec> {
        Toolbox::tools(self)
    }
    fn listing(&self) -> Vec<ListedTool> {
        Toolbox::listing(self)
    }
    async fn call(&self, call: &ToolCall) -> ToolResult {
        Toolbox::call(self, call).await
    }
    async fn health(&self) -> Vec<(String, bool)> {
        Toolbox::health(self).await
    }
}
