//! Shared by the chat-server test binaries: the EMIS tools in process. The
//! indexed data is built once per binary; each test (each its own runtime)
//! gets its own in-process MCP server over it. `fake_openai` is a local model
//! server speaking OpenAI's wire format.

pub mod fake_openai;
pub mod redis;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use chat_server::toolbox::Toolbox;
use mcp_server::{
    backend::embedded::EmbeddedBackend, cache::MemoryCache, emis::dataset::Dataset,
    tools::ServerState,
};

/// The EMIS server state over the bundled data, shared by the tests.
#[allow(dead_code)]
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

#[allow(dead_code)] // not every test binary uses it
pub async fn toolbox() -> Arc<Toolbox> {
    Arc::new(
        Toolbox::connect(state())
            .await
            .expect("the embedded EMIS tools"),
    )
}

/// The values the offline planner recognises, from the bundled data.
#[allow(dead_code)] // not every test binary uses it
pub fn known_values() -> chat_server::providers::offline::KnownValues {
    chat_server::toolbox::known_values(&state())
}

/// The built-in agents, answered by the offline planner over the embedded tools.
#[allow(dead_code)] // not every test binary uses it
pub async fn offline_runner() -> Arc<chat_server::agent::AgentRunner> {
    use chat_server::{
        agent::{AgentRunner, AgentSet, RunLimits},
        providers::registry::{ProviderSettings, Registry},
    };
    let toolbox = toolbox().await;
    let registry = Registry::from_settings(&ProviderSettings::default(), toolbox.known_values())
        .expect("registry");
    Arc::new(AgentRunner::new(
        AgentSet::builtin(),
        Arc::new(registry),
        toolbox,
        RunLimits::default(),
    ))
}
