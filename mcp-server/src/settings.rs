//! Typed configuration, loaded once at start-up: defaults, then an optional
//! TOML file, then environment variables (which win). Names follow the
//! original system (`DATABASE_URL`, `REDIS_URL`, `TAVILY_API_KEY`, ...).

use std::{path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Environment variables the MCP server reads (each maps to the field of the same name, lower-cased).
pub const ENV_VARS: &[&str] = &[
    "MCP_HOST",
    "MCP_PORT",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "REDIS_URL",
    "TAVILY_API_KEY",
    "TAVILY_BASE_URL",
    "ALLOWED_HOSTS",
    "CORS_ORIGINS",
    "CACHE_TTL",
    "CACHE_CAPACITY",
    "TOOL_EXECUTION_TIMEOUT",
    "WEB_SEARCH_TIMEOUT",
    "LOG_LEVEL",
    "RUST_LOG",
    "LOG_FORMAT",
    "ENVIRONMENT",
    "MCP_CONFORMANCE",
    "MCP_AUTH_TOKENS",
    "MCP_PUBLIC_URL",
    "MCP_AUTHORIZATION_SERVERS",
    "TRUSTED_PROXIES",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Address the HTTP transport binds to.
    pub mcp_host: String,
    pub mcp_port: u16,
    /// PostgreSQL URL; when set, EMIS data is served from PostgreSQL instead of the bundled data.
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// Redis URL for the shared tool-result cache; in-process cache when unset.
    pub redis_url: Option<SecretString>,
    /// Enables the `web_search` tool.
    pub tavily_api_key: Option<SecretString>,
    pub tavily_base_url: String,
    /// Host names (or host:port) accepted in the `Host` header of `/mcp` (DNS-rebinding protection).
    #[serde(deserialize_with = "platform::config::list")]
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted in the `Origin` header of `/mcp`; requests without Origin pass.
    #[serde(deserialize_with = "platform::config::list")]
    pub cors_origins: Vec<String>,
    /// Seconds a cached tool result stays valid (0 disables the cache).
    pub cache_ttl: u64,
    /// Entries the in-process cache holds.
    pub cache_capacity: u64,
    /// Seconds a tool may run before it is abandoned with a tool error.
    pub tool_execution_timeout: u64,
    /// Seconds a Tavily request may take.
    pub web_search_timeout: u64,
    pub log_level: String,
    /// `RUST_LOG`-style directives; override `log_level` when set.
    #[serde(default)]
    pub rust_log: Option<String>,
    /// `json` or `text`.
    pub log_format: String,
    /// `development` or `production`.
    pub environment: String,
    /// Serve the MCP conformance suite's fixture tools, resources and prompts too.
    pub mcp_conformance: bool,
    /// Comma-separated bearer tokens accepted on `/mcp`; open when unset
    /// (refused in production).
    #[serde(default)]
    pub mcp_auth_tokens: Option<SecretString>,
    /// Public base URL, for the protected-resource metadata (from `Host` when unset).
    #[serde(default)]
    pub mcp_public_url: Option<String>,
    /// OAuth authorization servers named in the protected-resource metadata.
    #[serde(default, deserialize_with = "platform::config::list")]
    pub mcp_authorization_servers: Vec<String>,
    /// Load balancers whose `X-Forwarded-For` is believed (IPs or CIDR ranges).
    #[serde(default, deserialize_with = "platform::config::list")]
    pub trusted_proxies: Vec<String>,
}

#[derive(Serialize)]
struct Defaults {
    mcp_host: &'static str,
    mcp_port: u16,
    database_max_connections: u32,
    tavily_base_url: &'static str,
    allowed_hosts: Vec<&'static str>,
    cors_origins: Vec<&'static str>,
    cache_ttl: u64,
    cache_capacity: u64,
    tool_execution_timeout: u64,
    web_search_timeout: u64,
    log_level: &'static str,
    log_format: &'static str,
    environment: &'static str,
    mcp_conformance: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            mcp_host: "127.0.0.1",
            mcp_port: 8001,
            database_max_connections: 10,
            tavily_base_url: "https://api.tavily.com",
            allowed_hosts: vec!["localhost", "127.0.0.1", "::1"],
            cors_origins: vec![],
            cache_ttl: 300,
            cache_capacity: 10_000,
            tool_execution_timeout: 30,
            web_search_timeout: 15,
            log_level: "info",
            log_format: "text",
            environment: "development",
            mcp_conformance: false,
        }
    }
}

/// Configuration that cannot be used, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(String);

impl Settings {
    /// The bearer auth `/mcp` needs: the static tokens of `MCP_AUTH_TOKENS`,
    /// or `verifier` (the chat server's API keys) when given; `None`: open.
    pub fn mcp_auth(
        &self,
        verifier: Option<std::sync::Arc<dyn crate::auth::TokenVerifier>>,
    ) -> Option<crate::auth::McpAuth> {
        use secrecy::ExposeSecret;
        let verifier = verifier.or_else(|| {
            let tokens: Vec<String> = self
                .mcp_auth_tokens
                .as_ref()?
                .expose_secret()
                .split(',')
                .map(str::to_owned)
                .collect();
            let tokens: std::sync::Arc<dyn crate::auth::TokenVerifier> =
                std::sync::Arc::new(crate::auth::StaticTokens::new(&tokens)?);
            Some(tokens)
        })?;
        Some(crate::auth::McpAuth::new(
            verifier,
            self.mcp_public_url.clone(),
            self.mcp_authorization_servers.clone(),
        ))
    }

    /// The HTTP hardening these settings ask for.
    pub fn hardening(&self) -> platform::Hardening {
        platform::Hardening {
            allowed_hosts: self.allowed_hosts.clone(),
            cors_origins: self.cors_origins.clone(),
            // Checked in `validate`.
            trusted_proxies: platform::parse_proxies(&self.trusted_proxies).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// What the EMIS tools need of these settings.
    pub fn emis(&self) -> crate::EmisConfig {
        crate::EmisConfig {
            database_url: self.database_url.clone(),
            database_max_connections: self.database_max_connections,
            redis_url: self.redis_url.clone(),
            cache_ttl: self.cache_ttl,
            cache_capacity: self.cache_capacity,
            tavily_api_key: self.tavily_api_key.clone(),
            tavily_base_url: self.tavily_base_url.clone(),
            web_search_timeout: Duration::from_secs(self.web_search_timeout),
            tool_timeout: self.tool_timeout(),
            conformance: self.mcp_conformance,
        }
    }

    /// The logging filter: `RUST_LOG` when set, else `LOG_LEVEL`.
    pub fn log_filter(&self) -> &str {
        self.rust_log.as_deref().unwrap_or(&self.log_level)
    }

    /// Loads defaults, then `file` (TOML) if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::from_figment(Self::figment(file))
    }

    /// The built-in defaults alone (no file, no environment), for tests.
    pub fn defaults() -> Figment {
        Figment::from(Serialized::defaults(Defaults::default()))
    }

    /// The layered sources, for callers that add their own overrides on top.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Self::defaults();
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(platform::config::env(ENV_VARS))
    }

    pub fn from_figment(figment: Figment) -> Result<Self, SettingsError> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| SettingsError(platform::config::describe(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if !matches!(self.log_format.as_str(), "json" | "text") {
            return Err(SettingsError(format!(
                "LOG_FORMAT: expected json or text, got {:?}",
                self.log_format
            )));
        }
        if !matches!(
            self.environment.as_str(),
            "development" | "production" | "test"
        ) {
            return Err(SettingsError(format!(
                "ENVIRONMENT: expected development, production or test, got {:?}",
                self.environment
            )));
        }
        platform::parse_proxies(&self.trusted_proxies).map_err(SettingsError)?;
        if self.tool_execution_timeout == 0 {
            return Err(SettingsError(
                "TOOL_EXECUTION_TIMEOUT: must be at least 1 second".into(),
            ));
        }
        if self.database_max_connections == 0 {
            return Err(SettingsError(
                "DATABASE_MAX_CONNECTIONS: must be at least 1".into(),
            ));
        }
        Ok(())
    }

    pub fn tool_timeout(&self) -> Duration {
        Duration::from_secs(self.tool_execution_timeout)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail returns its own (large) error type
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn env_overrides_file_and_lists_split_on_commas() {
        Jail::expect_with(|jail| {
            jail.create_file("mas.toml", "mcp_port = 9000\ncache_ttl = 5")?;
            jail.set_env("MCP_PORT", "9100");
            jail.set_env("ALLOWED_HOSTS", "mas.example.org, localhost");
            let s = Settings::load(Some(Path::new("mas.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.mcp_port, 9100);
            assert_eq!(s.cache_ttl, 5);
            assert_eq!(s.allowed_hosts, vec!["mas.example.org", "localhost"]);
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("MCP_PORT", "eighty");
            let err = Settings::load(None).map(|_| ()).map_err(|e| e.to_string());
            assert!(matches!(&err, Err(m) if m.contains("MCP_PORT")), "{err:?}");
            Ok(())
        });
    }
}
