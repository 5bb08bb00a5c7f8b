//! Runs: a chat turn decoupled from the connection that started it. The
//! producer task feeds the agent's events into the run's numbered event log
//! (which clients read and resume from) and saves the conversation as it goes.

pub mod log;
pub mod manager;
pub mod redis;

pub use log::{MemoryRunLog, RunLog};
pub use manager::{RunHandle, RunManager, StartError, TurnRequest};
