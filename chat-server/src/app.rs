//! Assembles the chat server: store, EMIS tools, providers, agents, runs, and
//! the HTTP API on a bound listener.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::serve::ListenerExt;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{AgentRunner, AgentSet, RunLimits},
    auth::{Auth, UserRole, cookie::CookieKey},
    http::{self, AppState},
    providers::registry::{ProviderSettings, Registry},
    quota::Quotas,
    ratelimit::{Quota, RateLimiter},
    runs::{
        MemoryRunLog, RunLog, RunManager,
        redis::{Bus, Leases, RedisRunLog},
    },
    store::{sql::SqlStore, users::UserStore},
};

/// How long a finished run's events stay readable.
const RUN_LOG_TTL: Duration = Duration::from_secs(3600);

/// What `serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: String,
    pub port: u16,
    /// `sqlite://file.db` (default) or a PostgreSQL URL.
    pub database_url: String,
    pub max_concurrent_runs: usize,
    pub providers: ProviderSettings,
    pub tools: crate::settings::ToolSettings,
    pub agents: AgentSet,
    pub mcp: mcp_server::settings::Settings,
    /// Every API call needs an API key (`ENVIRONMENT=production` or `AUTH_REQUIRED=true`).
    pub auth_required: bool,
    /// `SECRET_KEY`: signs sign-in cookies (required with `auth_required`).
    pub secret_key: Option<secrecy::SecretString>,
    /// Cookies get `Secure` (the server is reached over TLS).
    pub cookie_secure: bool,
    /// Budgets for starting runs and for other API calls, per user and per
    /// address (`None`: unlimited).
    pub rate_limits: Option<(Quota, Quota)>,
    /// Shares the budgets between replicas.
    pub redis_url: Option<secrecy::SecretString>,
    /// Runs one user may have going at once.
    pub runs_per_user: usize,
    /// Model tokens one user may spend per UTC day (0: unlimited).
    pub daily_token_budget: u64,
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    manager: Arc<RunManager>,
    default_provider: String,
    /// Ends the open MCP sessions of `/mcp`.
    mcp_shutdown: CancellationToken,
}

/// The agents over the configured MCP servers and providers.
pub async fn agents(
    providers: &ProviderSettings,
    tools: &crate::settings::ToolSettings,
    agents: AgentSet,
    mcp: &mcp_server::settings::Settings,
) -> anyhow::Result<Arc<AgentRunner>> {
    let toolbox = Arc::new(crate::settings::toolbox(tools, mcp).await?);
    runner(toolbox, providers, agents, mcp)
}

/// The agents over `toolbox` and the configured providers.
fn runner(
    toolbox: Arc<crate::toolbox::Toolbox>,
    providers: &ProviderSettings,
    agents: AgentSet,
    mcp: &mcp_server::settings::Settings,
) -> anyhow::Result<Arc<AgentRunner>> {
    let registry = Arc::new(Registry::from_settings(providers, toolbox.known_values())?);
    let limits = RunLimits {
        tool_timeout: mcp.tool_timeout(),
        ..RunLimits::default()
    };
    Ok(Arc::new(AgentRunner::new(
        agents, registry, toolbox, limits,
    )))
}

impl Application {
    pub async fn build(options: ServeOptions) -> anyhow::Result<Self> {
        let store = Arc::new(
            SqlStore::connect(&options.database_url, 10)
                .await
                .context("opening the chat database")?,
        );
        if options.auth_required
            && !store
                .users()
                .await?
                .iter()
                .any(|u| u.role == UserRole::Admin && u.disabled_at.is_none())
        {
            anyhow::bail!(
                "authentication is required (ENVIRONMENT=production or AUTH_REQUIRED=true) but no admin \
                 exists: create one with `chat-server user add <name> --role admin` (password on stdin), \
                 then API keys with `chat-server key create <name>`"
            );
        }
        let cookies = match &options.secret_key {
            Some(secret) if secret.expose_secret().len() >= 32 => {
                CookieKey::new(secret.expose_secret().as_bytes(), options.cookie_secure)
            }
            Some(_) => anyhow::bail!("SECRET_KEY must be at least 32 characters"),
            None if options.auth_required => anyhow::bail!(
                "authentication is required but SECRET_KEY is not set: set it to 32 or more random \
                 characters (it signs the sign-in cookies)"
            ),
            None => CookieKey::ephemeral(),
        };
        let toolbox = Arc::new(crate::settings::toolbox(&options.tools, &options.mcp).await?);
        let embedded = toolbox.embedded_state();
        let runner = runner(
            toolbox,
            &options.providers,
            options.agents.clone(),
            &options.mcp,
        )?;
        let default_provider = runner.default_provider_name();
        let redis = match &options.redis_url {
            Some(url) => RateLimiter::connect_redis(url.expose_secret()).await,
            None => None,
        };
        // With Redis, runs are shared: their events in Redis streams, leases
        // so that another replica carries on a run whose replica died.
        let (log, shared): (Arc<dyn RunLog>, _) = match (&redis, &options.redis_url) {
            (Some(connection), Some(url)) => {
                let bus = Bus::start(redis::Client::open(url.expose_secret())?);
                let log = RedisRunLog::new(connection.clone(), bus.clone(), RUN_LOG_TTL);
                (
                    Arc::new(log),
                    Some((Arc::new(Leases::new(connection.clone())), bus)),
                )
            }
            _ => (Arc::new(MemoryRunLog::new(RUN_LOG_TTL)), None),
        };
        let quotas = Arc::new(Quotas::new(
            redis.clone(),
            options.runs_per_user,
            options.daily_token_budget,
        ));
        let mut manager = RunManager::new(store.clone(), runner, log, options.max_concurrent_runs)
            .with_quotas(quotas.clone());
        if let Some((leases, bus)) = shared {
            manager = manager.with_leases(leases, bus);
        }
        let manager = Arc::new(manager);
        manager.renew_leases();
        let limiter = options
            .rate_limits
            .and_then(|(chat, api)| RateLimiter::new(chat, api, redis));
        let state = AppState {
            limiter,
            manager: manager.clone(),
            auth: Auth::with_cookies(store.clone(), options.auth_required, cookies)
                .with_quotas(quotas),
            store,
            heartbeat: Duration::from_secs(15),
            hardening: options.mcp.hardening(),
        };
        // With the tools in process, `/mcp` serves them to MCP clients too,
        // behind the same API keys (scope `mcp`).
        let shutdown = CancellationToken::new();
        let mcp = embedded.map(|tools| {
            let verifier: Arc<dyn mcp_server::auth::TokenVerifier> = Arc::new(state.auth.clone());
            mcp_server::http::mcp_routes(
                tools,
                &options.mcp,
                shutdown.clone(),
                options.mcp.mcp_auth(Some(verifier)),
            )
        });
        // The dependency gauges stay current for alerts between probes.
        let probed = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                http::probe(&probed).await;
            }
        });
        let listener = TcpListener::bind((options.host.as_str(), options.port))
            .await
            .with_context(|| format!("binding {}:{}", options.host, options.port))?;
        Ok(Application {
            listener,
            router: http::router_with_mcp(state, mcp),
            manager,
            mcp_shutdown: shutdown,
            default_provider,
        })
    }

    /// Name of the provider agents use by default (`offline` when no key is set).
    pub fn default_provider(&self) -> &str {
        &self.default_provider
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`. Then the replica reports not ready and
    /// refuses new runs (so the load balancer moves on) while still serving
    /// everything else; running runs get up to `drain` to finish, the rest
    /// are handed to another replica (with Redis) or cancelled; then its
    /// streams end (their clients resume elsewhere) and the listener closes.
    pub async fn serve(self, shutdown: CancellationToken, drain: Duration) -> std::io::Result<()> {
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let stop = CancellationToken::new();
        let (manager, mcp_shutdown, closing) = (
            self.manager.clone(),
            self.mcp_shutdown.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!("shutting down: draining runs");
            manager.shutdown(drain).await;
            mcp_shutdown.cancel();
            closing.cancel();
        });
        let router = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    }
}
