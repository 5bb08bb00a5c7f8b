//! What an agent knows of the user it answers, as the loop sees it: before
//! a model step, a recollection (the profile and the memories that fit the
//! question, as a section of the system prompt); beside the MCP tools, the
//! memory tools. The implementation (`memory::RunMemory`) is bound to one
//! user when the run starts, so nothing here can reach anyone else's.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Profile, ToolCall, ToolResult, ToolSpec};

/// A memory put into a prompt, as the stream names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecalledMemory {
    pub id: String,
    pub text: String,
    pub kind: String,
}

/// What a step's prompt is told of the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recollection {
    /// Appended to the system prompt (empty when there is nothing to tell).
    pub prompt: String,
    pub profile: Option<Profile>,
    pub memories: Vec<RecalledMemory>,
}

#[async_trait]
pub trait UserMemory: Send + Sync {
    /// The profile and the memories that fit `question`, within the budget.
    async fn recall(&self, question: &str) -> Recollection;
    /// The memory tools (none when memory is off for the user).
    fn tools(&self) -> Vec<ToolSpec>;
    /// Runs `call` if it is a memory tool.
    async fn call(&self, call: &ToolCall) -> Option<ToolResult>;
}
