//! MAS MCP server: the EMIS backend's tools (schools, statistics, nearby
//! schools, learning content, web search) over the Model Context Protocol.
//!
//! `build_state` assembles what every session shares from an `EmisConfig`
//! (this server's settings, or the chat server's when it serves the tools in
//! process); `http::router` serves it over Streamable HTTP; `serve_stdio`
//! over stdin/stdout. The HTTP plumbing it shares with the chat server
//! (hosts, headers, limits, logging, signals) is the `platform` crate.

pub mod auth;
pub mod backend;
pub mod cache;
pub mod conformance;
pub mod emis;
pub mod http;
pub mod settings;
pub mod tools;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::serve::ListenerExt;
use rmcp::ServiceExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    backend::{EmisBackend, embedded::EmbeddedBackend, postgres::PostgresBackend},
    cache::{MemoryCache, NoCache, RedisCache, ToolCache},
    conformance::Fixtures,
    emis::dataset::Dataset,
    settings::Settings,
    tools::{EmisServer, ServerState, Tavily},
};

/// What the EMIS tools need, whoever serves them: this server (from its
/// `Settings`), or the chat server running them in process (from its own).
#[derive(Debug, Clone)]
pub struct EmisConfig {
    /// PostgreSQL with the imported data; the bundled data in memory when unset.
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// Shared tool-result cache; in process when unset.
    pub redis_url: Option<SecretString>,
    /// Seconds a cached result lives (0: no cache).
    pub cache_ttl: u64,
    pub cache_capacity: u64,
    /// Enables `web_search`.
    pub tavily_api_key: Option<SecretString>,
    pub tavily_base_url: String,
    pub web_search_timeout: Duration,
    pub tool_timeout: Duration,
    /// Serve the conformance suite's fixtures too.
    pub conformance: bool,
}

/// Builds the backend, cache and web search `config` asks for.
pub async fn build_state(config: &EmisConfig) -> anyhow::Result<Arc<ServerState>> {
    let settings = config;
    let backend: Arc<dyn EmisBackend> = match &settings.database_url {
        Some(url) => Arc::new(
            PostgresBackend::connect(url.expose_secret(), settings.database_max_connections)
                .await
                .context("connecting to the EMIS database")?,
        ),
        None => bundled()?,
    };
    let ttl = Duration::from_secs(settings.cache_ttl);
    let cache: Arc<dyn ToolCache> = match (&settings.redis_url, settings.cache_ttl) {
        (_, 0) => Arc::new(NoCache),
        (Some(url), _) => match RedisCache::connect(url.expose_secret(), ttl).await {
            Ok(cache) => Arc::new(cache),
            Err(e) => {
                tracing::warn!(error = %e, "REDIS_URL unreachable at start-up; caching in process instead");
                Arc::new(MemoryCache::new(ttl, settings.cache_capacity))
            }
        },
        (None, _) => Arc::new(MemoryCache::new(ttl, settings.cache_capacity)),
    };
    let tavily = match &settings.tavily_api_key {
        Some(key) => Some(
            Tavily::new(
                &settings.tavily_base_url,
                key.clone(),
                settings.web_search_timeout,
            )
            .context("building the Tavily client")?,
        ),
        None => None,
    };
    let fixtures = settings.conformance.then(Fixtures::default);
    tracing::info!(
        backend = backend.kind(),
        cache = cache.kind(),
        web_search = tavily.is_some(),
        conformance = fixtures.is_some(),
        "mcp server state ready"
    );
    Ok(Arc::new(ServerState {
        backend,
        cache,
        tavily,
        tool_timeout: settings.tool_timeout,
        fixtures,
    }))
}

/// The bundled data sets, indexed once per process: they never change, so a
/// process that builds the tools more than once (the tests, the benchmarks)
/// shares one index.
fn bundled() -> anyhow::Result<Arc<EmbeddedBackend>> {
    static BUNDLED: std::sync::OnceLock<Arc<EmbeddedBackend>> = std::sync::OnceLock::new();
    if let Some(backend) = BUNDLED.get() {
        return Ok(backend.clone());
    }
    let data = Dataset::bundled().context("loading the bundled data sets")?;
    for report in &data.reports {
        tracing::info!(report = %report, "bundled data loaded");
    }
    Ok(BUNDLED
        .get_or_init(|| Arc::new(EmbeddedBackend::new(data)))
        .clone())
}

/// A bound HTTP server, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Binds `MCP_HOST:MCP_PORT` (port 0 picks a free port) and builds the router.
    pub async fn build(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        if settings.environment == "production" && settings.mcp_auth(None).is_none() {
            anyhow::bail!(
                "ENVIRONMENT=production needs bearer auth on /mcp: set MCP_AUTH_TOKENS to one or \
                 more comma-separated random tokens (clients send Authorization: Bearer <token>)"
            );
        }
        let state = build_state(&settings.emis()).await?;
        let listener = TcpListener::bind((settings.mcp_host.as_str(), settings.mcp_port))
            .await
            .with_context(|| format!("binding {}:{}", settings.mcp_host, settings.mcp_port))?;
        Ok(Application {
            listener,
            router: http::router(state, settings, shutdown),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then drains open requests.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        // Small JSON-RPC responses must not wait on Nagle's algorithm (a 40 ms stall per exchange).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}

/// Serves one MCP session over stdin/stdout until the client disconnects.
pub async fn serve_stdio(settings: &Settings) -> anyhow::Result<()> {
    let state = build_state(&settings.emis()).await?;
    let service = EmisServer::new(state)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the stdio transport")?;
    service.waiting().await.context("stdio session failed")?;
    Ok(())
}
