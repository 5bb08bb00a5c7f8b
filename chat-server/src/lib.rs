//! MAS chat server: LLM providers (Gemini, OpenAI-compatible, Anthropic, the
//! offline planner), the EMIS tools in process, and `ask`. Agents, runs and
//! the streaming HTTP API build on these.

pub mod admin;
pub mod agent;
pub mod app;
pub mod ask;
pub mod auth;
pub mod http;
pub mod providers;
pub mod quota;
pub mod ratelimit;
pub mod runs;
pub mod settings;
pub mod store;
pub mod toolbox;
