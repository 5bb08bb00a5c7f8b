//! MAS chat server: LLM agents that call the EMIS tools over MCP, with runs
//! streamed over SSE to the web UI and API clients.
//!
//! From the ground up: `domain` (the shared vocabulary), `store` (sessions,
//! users, the audit log, memories, jobs), `providers` (LLM vendors),
//! `toolbox` (the MCP client pool), `agent` (definitions, the loop, the
//! transcript, the offline planner), `jobs` (the background workers),
//! `memory` (each user's memories and profile), `limits` (rate limits,
//! quotas, sign-in lockouts), `auth`, `runs` (admission, plan, producer,
//! log, handover), `conversations` (search, export, usage and cost),
//! `http` (routes, SSE), `retention` (what is swept), then
//! `settings`, `app` (`Application::build` / `serve`) and `commands` (the
//! CLI's `user`, `key` and `ask`).

pub mod agent;
pub mod app;
pub mod auth;
pub mod commands;
pub mod context;
pub mod conversations;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod memory;
pub mod providers;
pub mod retention;
pub mod runs;
pub mod settings;
pub mod store;
pub mod toolbox;
