//! Configuration of the chat server: defaults, then an optional TOML file,
//! then environment variables (which win).

use std::path::Path;

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};

use crate::providers::registry::{ENV_VARS, ProviderSettings};

/// `T` from `file` (if given), then the environment variables in `env` (which win),
/// each mapped to the lower-case field of the same name.
fn layered<T: serde::de::DeserializeOwned>(
    file: Option<&Path>,
    env: &[&str],
) -> Result<T, Box<figment::Error>> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(
            Env::raw()
                .only(env)
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .extract()
        .map_err(Box::new)
}

/// Loads provider settings from `file` (if given) and the environment.
pub fn provider_settings(file: Option<&Path>) -> Result<ProviderSettings, Box<figment::Error>> {
    layered(file, ENV_VARS)
}

/// Where the agents' tools come from.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ToolSettings {
    /// A remote EMIS MCP server; the embedded one when unset.
    #[serde(default)]
    pub mcp_server_url: Option<String>,
    /// Bearer token for the remote EMIS server (one of its `MCP_AUTH_TOKENS`).
    #[serde(default)]
    pub mcp_server_token: Option<secrecy::SecretString>,
    /// Extra MCP servers (`[[mcp_servers]]` in the config file), their tools prefixed `<name>__`.
    #[serde(default)]
    pub mcp_servers: Vec<crate::toolbox::McpServerConfig>,
}

/// Loads tool settings from `file` (if given), `MCP_SERVER_URL` and `MCP_SERVER_TOKEN`.
pub fn tool_settings(file: Option<&Path>) -> Result<ToolSettings, Box<figment::Error>> {
    layered(file, &["MCP_SERVER_URL", "MCP_SERVER_TOKEN"])
}

/// The toolbox the settings describe.
pub async fn toolbox(
    tools: &ToolSettings,
    mcp: &mcp_server::settings::Settings,
) -> anyhow::Result<crate::toolbox::Toolbox> {
    match &tools.mcp_server_url {
        Some(url) => {
            use secrecy::ExposeSecret;
            let token = tools.mcp_server_token.as_ref().map(|t| t.expose_secret());
            crate::toolbox::Toolbox::remote(url, token, &tools.mcp_servers).await
        }
        None => {
            let state = mcp_server::build_state(mcp).await?;
            crate::toolbox::Toolbox::with_extra(state, &tools.mcp_servers).await
        }
    }
}

/// Agent definitions (`[[agents]]` in the config file); the built-in set when there are none.
pub fn agents(file: Option<&Path>) -> anyhow::Result<crate::agent::AgentSet> {
    #[derive(serde::Deserialize, Default)]
    struct File {
        #[serde(default)]
        agents: Vec<crate::agent::AgentDef>,
    }
    let Some(path) = file else {
        return Ok(crate::agent::AgentSet::builtin());
    };
    let parsed: File = Figment::new()
        .merge(Toml::file_exact(path))
        .extract()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if parsed.agents.is_empty() {
        return Ok(crate::agent::AgentSet::builtin());
    }
    crate::agent::AgentSet::new(parsed.agents)
        .map_err(|e| anyhow::anyhow!("invalid [[agents]] in {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_come_from_the_config_file_with_their_handoffs_checked() {
        let dir = std::env::temp_dir().join(format!("mas-agents-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("mas.toml");
        std::fs::write(
            &file,
            r#"
[[agents]]
name = "helper"
title = "Helper"
description = "Answers everything"
system_prompt = "Be helpful."
tools = ["search_*"]
handoffs = ["stats"]

[[agents]]
name = "stats"
title = "Statistician"
description = "Counts"
provider = "offline"
system_prompt = "Count."
tools = ["school_statistics"]
"#,
        )
        .expect("write");
        let set = agents(Some(&file)).expect("agents");
        assert_eq!(set.entry().name, "helper");
        assert_eq!(
            set.get("stats").and_then(|a| a.provider.as_deref()),
            Some("offline")
        );
        std::fs::write(&file, "[[agents]]\nname = \"a\"\ntitle = \"A\"\ndescription = \"d\"\nsystem_prompt = \"p\"\nhandoffs = [\"ghost\"]\n").expect("write");
        assert!(
            agents(Some(&file))
                .expect_err("unknown handoff")
                .to_string()
                .contains("ghost")
        );
        assert_eq!(agents(None).expect("builtin").entry().name, "coordinator");
    }
}
