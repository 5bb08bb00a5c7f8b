//! What a run says as it goes: one serde-tagged enum, numbered into the run's
//! event log and turned into the wire protocol by the HTTP layer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Usage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// Which agent is speaking now (at the start and after every handoff).
    AgentChanged {
        agent: String,
        title: String,
    },
    /// A model step begins.
    StepStarted {
        step: usize,
    },
    /// The user's memories put into the prompt from this step on.
    MemoryRecalled {
        memories: Vec<super::memory::RecalledMemory>,
    },
    TextDelta {
        text: String,
    },
    ReasoningDelta {
        text: String,
    },
    ToolInputStart {
        call_id: String,
        tool: String,
    },
    ToolInputDelta {
        call_id: String,
        delta: String,
    },
    /// The model's complete call (before it runs).
    ToolInputAvailable {
        call_id: String,
        tool: String,
        input: Value,
    },
    /// The tool's result (or its error, or "cancelled").
    ToolOutput {
        call_id: String,
        tool: String,
        output: String,
        is_error: bool,
        duration_ms: u64,
    },
    StepFinished {
        step: usize,
    },
    /// The model called tools the API client runs itself; the run ends
    /// next, and the client's next request carries their results.
    ClientToolCalls {
        calls: Vec<crate::domain::ToolCall>,
    },
    /// The run changed replicas in the middle of step `step`: what that step
    /// streamed so far is void, and the step starts again.
    StepDiscarded {
        step: usize,
    },
    Usage {
        provider: String,
        model: String,
        usage: Usage,
    },
    /// The run ended normally.
    Finished {
        text: String,
    },
    /// The run ended with an error (provider failure, step limit...).
    Failed {
        message: String,
    },
    /// The run was stopped by an explicit cancel.
    Cancelled,
}

impl RunEvent {
    /// Whether the run is over after this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunEvent::Finished { .. } | RunEvent::Failed { .. } | RunEvent::Cancelled
        )
    }
}
