//! Agents: who they are (definitions, with a built-in default set) and how
//! they work (`runner`: model -> tool calls -> results -> model, with
//! handoffs between agents), as a plain stream of `RunEvent`s.

pub mod definition;
pub mod events;
pub mod runner;

pub use definition::{AgentDef, AgentSet};
pub use events::RunEvent;
pub use runner::{AgentRunner, Resume, RunInput, RunLimits};
