//! The chat server's integration tests, one binary: modules mirror the
//! routes (`chat`, `runs`, `sessions`, `auth`, `account`, `admin`, `openai`,
//! `web`, `hardening`, `limits`, `mcp`), then the binary's commands (`cli`),
//! a property test over the whole API (`fuzz`), and the layers under the
//! app (`store` on both engines, `providers`, `agent`, `ask`). Every app is
//! a `support::TestApp`: the real `Application::build` on port 0. The
//! topology test (real processes behind nginx) is its own binary.

mod support;

mod account;
mod admin;
mod agent;
mod ask;
mod auth;
mod chat;
mod cli;
mod context;
mod conversations;
mod eval;
mod followups;
mod fuzz;
mod hardening;
mod limits;
mod mcp;
mod mcp_endpoint;
mod memory;
mod openai;
mod providers;
mod runs;
mod security;
mod store;
mod web;
