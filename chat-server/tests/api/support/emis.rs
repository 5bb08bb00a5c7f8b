//! The EMIS tools in process, for tests of the layers below the app (the
//! MCP client, the agent loop): one server state over the bundled data,
//! each test its own in-process MCP server on it.
#![allow(dead_code)] // each test module uses part of it

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use chat_server::{
    agent::{AgentRunner, AgentSet, RunLimits, planner::OfflinePlanner},
    domain::KnownValues,
    providers::{
        LlmProvider,
        registry::{ProviderSettings, Registry},
    },
    toolbox::Toolbox,
};
use mcp_server::{
    backend::embedded::EmbeddedBackend, cache::MemoryCache, emis::dataset::Dataset,
    tools::ServerState,
};

/// The EMIS server state over the bundled data, shared by the tests.
pub fn state() -> Arc<ServerState> {
    static STATE: OnceLock<Arc<ServerState>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            Arc::new(ServerState {
                backend: Arc::new(EmbeddedBackend::new(
                    Dataset::bundled().expect("bundled data"),
                )),
                cache: Arc::new(MemoryCache::new(Duration::from_secs(60), 1_000)),
                tavily: None,
                tool_timeout: Duration::from_secs(10),
                fixtures: None,
            })
        })
        .clone()
}

pub async fn toolbox() -> Arc<Toolbox> {
    Arc::new(
        Toolbox::connect(state())
            .await
            .expect("the embedded EMIS tools"),
    )
}

/// The values the offline planner recognises, from the bundled data.
pub fn known_values() -> KnownValues {
    chat_server::toolbox::known_values(&state())
}

/// The offline planner over the bundled data.
pub fn offline() -> Arc<dyn LlmProvider> {
    Arc::new(OfflinePlanner::new(known_values()))
}

/// The providers `settings` configure, with the offline planner.
pub fn registry(settings: &ProviderSettings) -> Arc<Registry> {
    Arc::new(Registry::from_settings(settings, offline()).expect("registry"))
}

/// `agents` over `toolbox` and the providers of `settings`.
pub fn runner(
    agents: AgentSet,
    settings: &ProviderSettings,
    toolbox: Arc<Toolbox>,
    limits: RunLimits,
) -> Arc<AgentRunner> {
    Arc::new(AgentRunner::new(
        agents,
        registry(settings),
        toolbox,
        limits,
    ))
}
