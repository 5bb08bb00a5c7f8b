//! Configuration of the chat server: defaults, then an optional TOML file,
//! then environment variables (which win).

use std::path::Path;

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};

use crate::providers::registry::{ENV_VARS, ProviderSettings};

/// Loads provider settings from `file` (if given) and the environment.
pub fn provider_settings(file: Option<&Path>) -> Result<ProviderSettings, Box<figment::Error>> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(
            Env::raw()
                .only(ENV_VARS)
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .extract()
        .map_err(Box::new)
}

/// Where the agents' tools come from.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ToolSettings {
    /// A remote EMIS MCP server; the embedded one when unset.
    #[serde(default)]
    pub mcp_server_url: Option<String>,
    /// Extra MCP servers (`[[mcp_servers]]` in the config file), their tools prefixed `<name>__`.
    #[serde(default)]
    pub mcp_servers: Vec<crate::toolbox::McpServerConfig>,
}

/// Loads tool settings from `file` (if given) and `MCP_SERVER_URL`.
pub fn tool_settings(file: Option<&Path>) -> Result<ToolSettings, Box<figment::Error>> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(
            Env::raw()
                .only(&["MCP_SERVER_URL"])
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .extract()
        .map_err(Box::new)
}

/// The toolbox the settings describe.
pub async fn toolbox(
    tools: &ToolSettings,
    mcp: &mcp_server::settings::Settings,
) -> anyhow::Result<crate::toolbox::Toolbox> {
    match &tools.mcp_server_url {
        Some(url) => crate::toolbox::Toolbox::remote(url, &tools.mcp_servers).await,
        None => {
            let state = mcp_server::build_state(mcp).await?;
            crate::toolbox::Toolbox::with_extra(state, &tools.mcp_servers).await
        }
    }
}
