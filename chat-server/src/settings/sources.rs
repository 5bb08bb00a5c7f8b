//! Where settings come from, in the order they win: built-in defaults, then
//! the TOML file (`--config FILE` or `MAS_CONFIG`; its keys are the
//! variables' names in lower case, plus `[[agents]]` and `[[mcp_servers]]`
//! tables), then environment variables, then command-line flags. This is the
//! only place the environment is read.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use super::SettingsError;
use crate::{agent::AgentDef, providers::registry, toolbox::McpServerConfig};

/// The variables of the chat server itself; the providers' are
/// `providers::registry::ENV_VARS`.
pub const ENV_VARS: &[&str] = &[
    "CHAT_HOST",
    "CHAT_PORT",
    "MAX_CONCURRENT_SESSIONS",
    "SHUTDOWN_TIMEOUT",
    "REQUEST_TIMEOUT",
    "CHAT_TIMEOUT",
    "SSE_HEARTBEAT",
    "ALLOWED_HOSTS",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "RUST_LOG",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "AUTH_REQUIRED",
    "SECRET_KEY",
    "COOKIE_SECURE",
    "AUDIT_RETENTION_DAYS",
    "RATE_LIMIT_CHAT_PER_SECOND",
    "RATE_LIMIT_CHAT_BURST",
    "RATE_LIMIT_API_PER_SECOND",
    "RATE_LIMIT_API_BURST",
    "RATE_LIMIT_PER_MINUTE",
    "RATE_LIMIT_PER_HOUR",
    "MAX_RUNS_PER_USER",
    "DAILY_TOKEN_BUDGET",
    "REDIS_URL",
    "MCP_SERVER_URL",
    "MCP_SERVER_TOKEN",
    "TOOL_EXECUTION_TIMEOUT",
    "MCP_CONNECT_TIMEOUT",
    "EMIS_DATABASE_URL",
    "EMIS_DATABASE_MAX_CONNECTIONS",
    "CACHE_TTL",
    "CACHE_CAPACITY",
    "TAVILY_API_KEY",
    "TAVILY_BASE_URL",
    "WEB_SEARCH_TIMEOUT",
    "MCP_PUBLIC_URL",
    "MCP_AUTHORIZATION_SERVERS",
    "MEMORY_ENABLED",
    "MEMORY_RETENTION_DEFAULT",
    "MEMORY_RETENTION_SHORT_DAYS",
    "MEMORY_RETENTION_LONG_DAYS",
    "MEMORY_TOKEN_BUDGET",
    "MEMORY_MAX_PER_USER",
    "MEMORY_EXTRACTION",
    "JOB_LEASE",
    "JOB_CONCURRENCY",
    "CONTEXT_TOKEN_BUDGET",
    "CONTEXT_TOOL_RESULT_CHARS",
    "CONTEXT_SUMMARY_TURNS",
    "PRICE_TABLE",
];

/// Every setting as the sources name it: one flat record.
#[derive(Debug, Deserialize)]
pub struct Raw {
    pub chat_host: String,
    pub chat_port: u16,
    pub max_concurrent_sessions: usize,
    pub shutdown_timeout: f64,
    pub request_timeout: f64,
    pub chat_timeout: f64,
    pub sse_heartbeat: f64,
    #[serde(deserialize_with = "platform::config::list")]
    pub allowed_hosts: Vec<String>,
    #[serde(deserialize_with = "platform::config::list")]
    pub cors_origins: Vec<String>,
    #[serde(deserialize_with = "platform::config::list")]
    pub trusted_proxies: Vec<String>,
    pub environment: String,
    pub log_level: String,
    pub log_format: String,
    pub rust_log: Option<String>,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    #[serde(deserialize_with = "flag")]
    pub auth_required: bool,
    pub secret_key: Option<SecretString>,
    #[serde(default, deserialize_with = "optional_flag")]
    pub cookie_secure: Option<bool>,
    pub audit_retention_days: u32,
    pub rate_limit_chat_per_second: u32,
    pub rate_limit_chat_burst: u32,
    pub rate_limit_api_per_second: u32,
    pub rate_limit_api_burst: u32,
    pub rate_limit_per_minute: u32,
    pub rate_limit_per_hour: u32,
    pub max_runs_per_user: usize,
    pub daily_token_budget: u64,
    pub redis_url: Option<SecretString>,
    pub mcp_server_url: Option<String>,
    pub mcp_server_token: Option<SecretString>,
    pub tool_execution_timeout: u64,
    pub mcp_connect_timeout: f64,
    pub emis_database_url: Option<SecretString>,
    pub emis_database_max_connections: u32,
    pub cache_ttl: u64,
    pub cache_capacity: u64,
    pub tavily_api_key: Option<SecretString>,
    pub tavily_base_url: String,
    pub web_search_timeout: u64,
    pub mcp_public_url: Option<String>,
    #[serde(deserialize_with = "platform::config::list")]
    pub mcp_authorization_servers: Vec<String>,
    #[serde(deserialize_with = "flag")]
    pub memory_enabled: bool,
    pub memory_retention_default: String,
    pub memory_retention_short_days: u32,
    pub memory_retention_long_days: u32,
    pub memory_token_budget: u32,
    pub memory_max_per_user: u32,
    pub memory_extraction: String,
    pub job_lease: f64,
    pub job_concurrency: usize,
    pub context_token_budget: Option<u32>,
    pub context_tool_result_chars: usize,
    pub context_summary_turns: usize,
    pub price_table: Option<String>,
}

/// What only the file can hold: tables.
#[derive(Debug, Default, Deserialize)]
pub struct Tables {
    #[serde(default)]
    pub agents: Vec<AgentDef>,
    #[serde(default)]
    pub mcp_servers: Vec<McpServerConfig>,
    #[serde(default)]
    pub tool_policy: Vec<crate::toolbox::policy::ToolRule>,
}

#[derive(Serialize)]
struct Defaults {
    chat_host: &'static str,
    chat_port: u16,
    max_concurrent_sessions: usize,
    shutdown_timeout: f64,
    request_timeout: f64,
    chat_timeout: f64,
    sse_heartbeat: f64,
    allowed_hosts: Vec<&'static str>,
    cors_origins: Vec<&'static str>,
    trusted_proxies: Vec<&'static str>,
    environment: &'static str,
    log_level: &'static str,
    log_format: &'static str,
    database_url: &'static str,
    database_max_connections: u32,
    auth_required: bool,
    audit_retention_days: u32,
    rate_limit_chat_per_second: u32,
    rate_limit_chat_burst: u32,
    rate_limit_api_per_second: u32,
    rate_limit_api_burst: u32,
    rate_limit_per_minute: u32,
    rate_limit_per_hour: u32,
    max_runs_per_user: usize,
    daily_token_budget: u64,
    tool_execution_timeout: u64,
    mcp_connect_timeout: f64,
    emis_database_max_connections: u32,
    cache_ttl: u64,
    cache_capacity: u64,
    tavily_base_url: &'static str,
    web_search_timeout: u64,
    mcp_authorization_servers: Vec<&'static str>,
    memory_enabled: bool,
    memory_retention_default: &'static str,
    memory_retention_short_days: u32,
    memory_retention_long_days: u32,
    memory_token_budget: u32,
    memory_max_per_user: u32,
    memory_extraction: &'static str,
    job_lease: f64,
    job_concurrency: usize,
    context_tool_result_chars: usize,
    context_summary_turns: usize,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            chat_host: "127.0.0.1",
            chat_port: 8000,
            max_concurrent_sessions: 100,
            shutdown_timeout: 30.0,
            request_timeout: platform::REQUEST_TIMEOUT.as_secs_f64(),
            chat_timeout: 300.0,
            sse_heartbeat: 15.0,
            allowed_hosts: vec!["localhost", "127.0.0.1", "::1"],
            cors_origins: vec![],
            trusted_proxies: vec![],
            environment: "development",
            log_level: "info",
            log_format: "text",
            database_url: "sqlite://mas-chat.db",
            database_max_connections: 10,
            auth_required: false,
            audit_retention_days: 90,
            // The original system's budgets.
            rate_limit_chat_per_second: 5,
            rate_limit_chat_burst: 10,
            rate_limit_api_per_second: 10,
            rate_limit_api_burst: 20,
            // Off unless set: per-minute and per-hour budgets.
            rate_limit_per_minute: 0,
            rate_limit_per_hour: 0,
            max_runs_per_user: crate::limits::quota::DEFAULT_RUNS_PER_USER,
            daily_token_budget: 1_000_000,
            tool_execution_timeout: 30,
            mcp_connect_timeout: crate::toolbox::CONNECT_TIMEOUT.as_secs_f64(),
            emis_database_max_connections: 10,
            cache_ttl: 300,
            cache_capacity: 10_000,
            tavily_base_url: "https://api.tavily.com",
            web_search_timeout: 15,
            mcp_authorization_servers: vec![],
            memory_enabled: true,
            memory_retention_default: "long",
            memory_retention_short_days: 30,
            memory_retention_long_days: 365,
            memory_token_budget: 800,
            memory_max_per_user: 1_000,
            memory_extraction: "auto",
            job_lease: 60.0,
            job_concurrency: 4,
            context_tool_result_chars: 2_000,
            context_summary_turns: 40,
        }
    }
}

/// The config file to read: `file`, else `MAS_CONFIG`, else none.
pub fn config_file(file: Option<&Path>) -> Option<PathBuf> {
    file.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("MAS_CONFIG").map(PathBuf::from))
}

/// The layered sources: defaults, `file`, the environment (unless
/// `environment` is false: tests), and `overrides` (command-line flags).
pub fn figment(
    file: Option<&Path>,
    environment: bool,
    overrides: &[(&str, figment::value::Value)],
) -> Figment {
    let mut figment = Figment::from(Serialized::defaults(Defaults::default()));
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    if environment {
        let names: Vec<&str> = ENV_VARS
            .iter()
            .chain(registry::ENV_VARS.iter())
            .copied()
            .collect();
        figment = figment.merge(platform::config::env(&names));
    }
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value.clone()));
    }
    figment
}

/// `T` from `figment`, with every error naming its variable.
pub fn extract<T: serde::de::DeserializeOwned>(figment: &Figment) -> Result<T, SettingsError> {
    figment
        .extract()
        .map_err(|e| SettingsError(platform::config::describe(e)))
}

/// A yes/no: `true`/`false`, `1`/`0`, `yes`/`no`; anything else is an error.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Number(i64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Bool(b) => Ok(b),
        Raw::Number(1) => Ok(true),
        Raw::Number(0) => Ok(false),
        Raw::Text(t) if matches!(t.to_ascii_lowercase().as_str(), "true" | "1" | "yes") => Ok(true),
        Raw::Text(t) if matches!(t.to_ascii_lowercase().as_str(), "false" | "0" | "no") => {
            Ok(false)
        }
        _ => Err(serde::de::Error::custom(
            "expected true or false (or 1 or 0)",
        )),
    }
}

fn optional_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    flag(deserializer).map(Some)
}
