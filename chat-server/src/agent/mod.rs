//! Agents: who they are (`definition`, with a built-in default set), how
//! they work (`runner`: model -> tool calls -> results -> model, with
//! handoffs between agents, as a plain stream of `RunEvent`s), what a run
//! said (`transcript`, the one fold of those events), the tools they reach
//! (`tools`), what they know of the user (`memory`), the offline planner
//! that answers without a model (`planner`), and one question answered at
//! the terminal (`ask`).

pub mod ask;
pub mod definition;
pub mod events;
pub mod memory;
pub mod planner;
pub mod runner;
pub mod tools;
pub mod transcript;

pub use definition::{AgentDef, AgentSet};
pub use events::RunEvent;
pub use memory::{RecalledMemory, Recollection, UserMemory};
pub use runner::{AgentRunner, HANDOFF_PREFIX, Resume, RunInput, RunLimits};
pub use tools::ToolExecutor;
pub use transcript::Transcript;
