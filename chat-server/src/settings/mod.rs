//! The chat server's one typed `Settings`, loaded once at start-up from
//! `sources` (defaults < TOML file < environment < command-line flags), in
//! sections: server, database, auth, limits, redis, providers, tools,
//! agents, emis, memory (`memory`). A value that cannot be used stops start-up with a message
//! naming its variable; `validate` holds the production rules.

mod memory;
pub mod sources;

pub use self::memory::JobSettings;

use std::{path::Path, time::Duration};

use secrecy::{ExposeSecret, SecretString};

use self::sources::{Raw, Tables};
use crate::{
    agent::{AgentSet, RunLimits},
    auth::cookie::MIN_SECRET_BYTES,
    context::ContextSettings,
    conversations::usage::Prices,
    domain::UserRole,
    limits::{Budgets, Quota},
    memory::MemorySettings,
    providers::registry::ProviderSettings,
    store::users::UserStore,
    toolbox::ToolSettings,
};

/// Configuration that cannot be used, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(pub String);

/// `PRICE_TABLE`: JSON, `{"provider/model": {"input": 2.5, "output": 10}}`
/// in US dollars per million tokens, over the known prices.
fn prices(table: Option<&str>) -> Result<Prices, SettingsError> {
    let overrides = match table.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            SettingsError(format!(
                "PRICE_TABLE: expected {{\"provider/model\": {{\"input\": dollars, \"output\": dollars}}}} per million tokens: {e}"
            ))
        })?,
        None => Default::default(),
    };
    Prices::with(&overrides).map_err(SettingsError)
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub redis: RedisSettings,
    pub providers: ProviderSettings,
    pub tools: ToolSettings,
    pub agents: AgentSettings,
    pub emis: EmisSettings,
    pub memory: MemorySettings,
    pub jobs: JobSettings,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Runs at once on this replica (`MAX_CONCURRENT_SESSIONS`); more get 503.
    pub max_concurrent_runs: usize,
    /// How long runs may finish after SIGTERM before they are handed over.
    pub shutdown_timeout: Duration,
    /// How long `POST /api/chat` waits for a whole answer.
    pub chat_timeout: Duration,
    /// How often a quiet stream carries a heartbeat comment.
    pub heartbeat: Duration,
    /// Trusted hosts, CORS, trusted proxies, the time limit of ordinary requests.
    pub hardening: platform::Hardening,
    pub production: bool,
    /// Tracing filter (`RUST_LOG`, else `LOG_LEVEL`).
    pub log_filter: String,
    pub log_json: bool,
    /// Model prices for conversations' estimated cost (`PRICE_TABLE` over
    /// the known list prices).
    pub prices: Prices,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://file.db` (default) or a PostgreSQL URL: the chat database.
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Every API call needs an API key or a sign-in.
    pub required: bool,
    /// Signs sign-in cookies (a random key per process when unset).
    pub secret_key: Option<SecretString>,
    /// Cookies get `Secure` and responses HSTS (clients come over TLS).
    pub cookie_secure: bool,
    /// Days the audit log and usage counts are kept after they were last seen.
    pub audit_retention_days: u32,
}

#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Request budgets: per second for starting runs and for other API
    /// calls, per minute and per hour for all requests.
    pub budgets: Budgets,
    pub runs_per_user: usize,
    /// Model tokens per user per UTC day (0: unlimited).
    pub daily_token_budget: u64,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Shares runs, limits and the tool cache between replicas.
    pub url: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub set: AgentSet,
    pub limits: RunLimits,
}

#[derive(Debug, Clone)]
pub struct EmisSettings {
    /// The in-process EMIS tools (`EMIS_DATABASE_URL`, cache, web search).
    pub tools: mcp_server::EmisConfig,
    /// Named in `/mcp`'s protected-resource metadata.
    pub public_url: Option<String>,
    pub authorization_servers: Vec<String>,
}

fn seconds(name: &str, value: f64) -> Result<Duration, SettingsError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| SettingsError(format!("{name}: must be a number of seconds above 0")))
}

impl Settings {
    /// Loads defaults, `file` (or `MAS_CONFIG`), the environment, then `overrides`.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(&str, figment::value::Value)],
    ) -> Result<Self, SettingsError> {
        let file = sources::config_file(file);
        Self::from_figment(&sources::figment(file.as_deref(), true, overrides))
    }

    /// The settings of `figment` alone (tests build one without the environment).
    pub fn from_figment(figment: &figment::Figment) -> Result<Self, SettingsError> {
        let raw: Raw = sources::extract(figment)?;
        let providers: ProviderSettings = sources::extract(figment)?;
        let tables: Tables = sources::extract(figment)?;
        let agents = if tables.agents.is_empty() {
            AgentSet::builtin()
        } else {
            AgentSet::new(tables.agents).map_err(|e| SettingsError(format!("[[agents]]: {e}")))?
        };
        if let Some(ghost) = tables
            .tool_policy
            .iter()
            .filter_map(|r| r.agent.as_deref())
            .find(|a| agents.get(a).is_none())
        {
            return Err(SettingsError(format!(
                "[[tool_policy]]: there is no agent named {ghost:?}"
            )));
        }
        let mut settings = Self::from_raw(raw, providers, tables.mcp_servers, agents)?;
        settings.tools.policy = tables.tool_policy;
        Ok(settings)
    }

    fn from_raw(
        raw: Raw,
        providers: ProviderSettings,
        mcp_servers: Vec<crate::toolbox::McpServerConfig>,
        agents: AgentSet,
    ) -> Result<Self, SettingsError> {
        let production = match raw.environment.as_str() {
            "production" => true,
            "development" | "test" => false,
            other => {
                return Err(SettingsError(format!(
                    "ENVIRONMENT: expected development, production or test, got {other:?}"
                )));
            }
        };
        let log_json = match raw.log_format.as_str() {
            "json" => true,
            "text" => false,
            other => {
                return Err(SettingsError(format!(
                    "LOG_FORMAT: expected json or text, got {other:?}"
                )));
            }
        };
        let trusted_proxies =
            platform::parse_proxies(&raw.trusted_proxies).map_err(SettingsError)?;
        if raw.audit_retention_days == 0 {
            return Err(SettingsError(
                "AUDIT_RETENTION_DAYS: must be at least 1".into(),
            ));
        }
        if raw.max_concurrent_sessions == 0 {
            return Err(SettingsError(
                "MAX_CONCURRENT_SESSIONS: must be at least 1".into(),
            ));
        }
        if raw.tool_execution_timeout == 0 {
            return Err(SettingsError(
                "TOOL_EXECUTION_TIMEOUT: must be at least 1 second".into(),
            ));
        }
        for (name, n) in [
            ("DATABASE_MAX_CONNECTIONS", raw.database_max_connections),
            (
                "EMIS_DATABASE_MAX_CONNECTIONS",
                raw.emis_database_max_connections,
            ),
        ] {
            if n == 0 {
                return Err(SettingsError(format!("{name}: must be at least 1")));
            }
        }
        if let Some(secret) = &raw.secret_key
            && secret.expose_secret().len() < MIN_SECRET_BYTES
        {
            return Err(SettingsError(format!(
                "SECRET_KEY: must be at least {MIN_SECRET_BYTES} characters"
            )));
        }
        let chat = Quota {
            per_second: raw.rate_limit_chat_per_second,
            burst: raw.rate_limit_chat_burst,
        };
        let api = Quota {
            per_second: raw.rate_limit_api_per_second,
            burst: raw.rate_limit_api_burst,
        };
        // A rate of 0 turns the limits off.
        let off = [chat, api]
            .iter()
            .any(|q| q.per_second == 0 || q.burst == 0);
        let tool_timeout = Duration::from_secs(raw.tool_execution_timeout);
        let (memory, jobs) = memory::from_raw(&raw)?;
        Ok(Settings {
            memory,
            jobs,
            server: ServerSettings {
                host: raw.chat_host,
                port: raw.chat_port,
                max_concurrent_runs: raw.max_concurrent_sessions,
                shutdown_timeout: Duration::try_from_secs_f64(raw.shutdown_timeout).map_err(
                    |_| SettingsError("SHUTDOWN_TIMEOUT: must be a number of seconds".into()),
                )?,
                chat_timeout: seconds("CHAT_TIMEOUT", raw.chat_timeout)?,
                heartbeat: seconds("SSE_HEARTBEAT", raw.sse_heartbeat)?,
                hardening: platform::Hardening {
                    allowed_hosts: raw.allowed_hosts,
                    cors_origins: raw.cors_origins,
                    request_timeout: seconds("REQUEST_TIMEOUT", raw.request_timeout)?,
                    trusted_proxies,
                },
                production,
                log_filter: raw.rust_log.unwrap_or(raw.log_level),
                log_json,
                prices: prices(raw.price_table.as_deref())?,
            },
            database: DatabaseSettings {
                url: raw.database_url,
                max_connections: raw.database_max_connections,
            },
            auth: AuthSettings {
                required: production || raw.auth_required,
                secret_key: raw.secret_key,
                cookie_secure: raw.cookie_secure.unwrap_or(production),
                audit_retention_days: raw.audit_retention_days,
            },
            limits: LimitSettings {
                budgets: Budgets {
                    per_second: (!off).then_some((chat, api)),
                    per_minute: (raw.rate_limit_per_minute > 0)
                        .then_some(raw.rate_limit_per_minute),
                    per_hour: (raw.rate_limit_per_hour > 0).then_some(raw.rate_limit_per_hour),
                },
                runs_per_user: raw.max_runs_per_user.max(1),
                daily_token_budget: raw.daily_token_budget,
            },
            redis: RedisSettings {
                url: raw.redis_url.clone(),
            },
            providers,
            tools: ToolSettings {
                mcp_server_url: raw.mcp_server_url,
                mcp_server_token: raw.mcp_server_token,
                mcp_servers,
                connect_timeout: seconds("MCP_CONNECT_TIMEOUT", raw.mcp_connect_timeout)?,
                policy: Vec::new(),
            },
            agents: AgentSettings {
                set: agents,
                limits: RunLimits {
                    tool_timeout,
                    context: ContextSettings {
                        budget: match raw.context_token_budget {
                            Some(0) => {
                                return Err(SettingsError(
                                    "CONTEXT_TOKEN_BUDGET: expected a number of tokens above 0"
                                        .into(),
                                ));
                            }
                            budget => budget.map(i64::from),
                        },
                        tool_result_chars: raw.context_tool_result_chars.max(100),
                        summary_turns: raw.context_summary_turns,
                    },
                    ..RunLimits::default()
                },
            },
            emis: EmisSettings {
                tools: mcp_server::EmisConfig {
                    database_url: raw.emis_database_url,
                    database_max_connections: raw.emis_database_max_connections,
                    redis_url: raw.redis_url,
                    cache_ttl: raw.cache_ttl,
                    cache_capacity: raw.cache_capacity,
                    tavily_api_key: raw.tavily_api_key,
                    tavily_base_url: raw.tavily_base_url,
                    web_search_timeout: Duration::from_secs(raw.web_search_timeout.max(1)),
                    tool_timeout,
                    conformance: false,
                },
                public_url: raw.mcp_public_url,
                authorization_servers: raw.mcp_authorization_servers,
            },
        })
    }

    /// The production rules, checked once the chat database is open: with
    /// auth required an admin must exist and `SECRET_KEY` must be set.
    pub async fn validate(&self, users: &dyn UserStore) -> anyhow::Result<()> {
        if !self.auth.required {
            return Ok(());
        }
        let admin = users
            .users()
            .await?
            .iter()
            .any(|u| u.role == UserRole::Admin && u.disabled_at.is_none());
        if !admin {
            anyhow::bail!(
                "authentication is required (ENVIRONMENT=production or AUTH_REQUIRED=true) but no admin \
                 exists: create one with `chat-server user add <name> --role admin` (password on stdin), \
                 then API keys with `chat-server key create <name>`"
            );
        }
        if self.auth.secret_key.is_none() {
            anyhow::bail!(
                "authentication is required but SECRET_KEY is not set: set it to {MIN_SECRET_BYTES} or more \
                 random characters (it signs the sign-in cookies)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;

    fn file(text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mas-settings-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("mas.toml");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The settings of `path` and of `set`, read as environment variables are.
    fn load(path: Option<&Path>, set: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut figment = sources::figment(path, false, &[]);
        for (key, value) in set {
            let value: figment::value::Value = value.parse().expect("a value");
            figment = figment.merge(Serialized::default(key, value));
        }
        Settings::from_figment(&figment)
    }

    #[test]
    fn later_sources_win_and_sections_are_filled() {
        let path = file(
            "chat_port = 9000\nmax_runs_per_user = 7\ncors_origins = [\"https://a.example\"]\n",
        );
        let settings = load(Some(&path), &[("chat_port", "9100")]).expect("settings");
        assert_eq!(settings.server.port, 9100, "the override beats the file");
        assert_eq!(
            settings.limits.runs_per_user, 7,
            "the file beats the default"
        );
        assert_eq!(
            settings.server.hardening.cors_origins,
            ["https://a.example"]
        );
        assert_eq!(settings.server.max_concurrent_runs, 100, "the default");
        assert!(
            settings.limits.budgets.per_second.is_some(),
            "limits are on by default"
        );
        assert!(!settings.auth.required && !settings.auth.cookie_secure);
        let production = load(None, &[("environment", "production")]).expect("settings");
        assert!(production.auth.required && production.auth.cookie_secure);
    }

    #[test]
    fn an_unusable_value_names_its_variable() {
        for (key, value, named) in [
            ("chat_port", "eighty", "CHAT_PORT"),
            ("auth_required", "maybe", "AUTH_REQUIRED"),
            ("max_concurrent_sessions", "0", "MAX_CONCURRENT_SESSIONS"),
            ("secret_key", "short", "SECRET_KEY"),
            ("environment", "staging", "ENVIRONMENT"),
            ("trusted_proxies", "nonsense", "TRUSTED_PROXIES"),
            ("chat_timeout", "0", "CHAT_TIMEOUT"),
            (
                "memory_retention_default",
                "forever",
                "MEMORY_RETENTION_DEFAULT",
            ),
            ("memory_extraction", "magic", "MEMORY_EXTRACTION"),
            (
                "memory_retention_long_days",
                "7",
                "MEMORY_RETENTION_LONG_DAYS",
            ),
            ("memory_max_per_user", "0", "MEMORY_MAX_PER_USER"),
            ("memory_enabled", "perhaps", "MEMORY_ENABLED"),
            ("job_lease", "0", "JOB_LEASE"),
        ] {
            let error = load(None, &[(key, value)]).expect_err(key).to_string();
            assert!(error.contains(named), "{key}={value}: {error}");
        }
    }

    #[test]
    fn agents_come_from_the_config_file_with_their_handoffs_checked() {
        let path = file(
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
        );
        let set = load(Some(&path), &[]).expect("settings").agents.set;
        assert_eq!(set.entry().name, "helper");
        assert_eq!(
            set.get("stats").and_then(|a| a.provider.as_deref()),
            Some("offline")
        );
        let path = file(
            "[[agents]]\nname = \"a\"\ntitle = \"A\"\ndescription = \"d\"\nsystem_prompt = \"p\"\nhandoffs = [\"ghost\"]\n",
        );
        let error = load(Some(&path), &[])
            .expect_err("unknown handoff")
            .to_string();
        assert!(error.contains("ghost"), "{error}");
        let builtin = load(None, &[]).expect("settings").agents.set;
        assert_eq!(builtin.entry().name, "coordinator");
    }

    #[test]
    fn tool_policy_rules_come_from_the_config_file_and_name_real_agents() {
        use crate::toolbox::policy::Approval;
        let path = file(
            "[[tool_policy]]\ntools = \"files:delete_*\"\napproval = \"deny\"\n\n[[tool_policy]]\ntools = \"*\"\napproval = \"ask\"\nagent = \"web\"\n",
        );
        let policy = load(Some(&path), &[]).expect("settings").tools.policy;
        assert_eq!(
            policy
                .iter()
                .map(|r| (r.tools.as_str(), r.approval, r.agent.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                ("files:delete_*", Approval::Deny, None),
                ("*", Approval::Ask, Some("web"))
            ]
        );
        for (text, says) in [
            (
                "[[tool_policy]]\ntools = \"*\"\napproval = \"ask\"\nagent = \"ghost\"\n",
                "no agent named \"ghost\"",
            ),
            (
                "[[tool_policy]]\ntools = \"*\"\napproval = \"maybe\"\n",
                "maybe",
            ),
        ] {
            let error = load(Some(&file(text)), &[])
                .expect_err("a bad rule")
                .to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
