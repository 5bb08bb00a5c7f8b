//! Assembles the chat server from its `Settings`: the chat store, the EMIS
//! tools (in process, or a remote MCP server), the providers and agents, the
//! users' memory with its extraction worker, the runs (shared through Redis
//! when it is configured), authentication and limits, and the HTTP API on a
//! bound listener.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::serve::ListenerExt;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{AgentRunner, planner::OfflinePlanner},
    auth::{Auth, cookie::CookieKey},
    conversations::summaries::Summariser,
    http::{self, AppState, routes::health},
    jobs::Jobs,
    limits::{self, Logins, Quotas, RateLimiter},
    memory::{Memories, Profiles, extract::Extractor},
    providers::registry::Registry,
    retention::Retention,
    runs::{
        Admission, Handover, MemoryRunLog, Remembering, RunLog, Runs,
        redis::{Bus, Leases, RedisRunLog},
    },
    settings::Settings,
    store::sql::SqlStore,
    toolbox::{Toolbox, policy::ToolPolicy},
};

/// How long a finished run's events stay readable.
const RUN_LOG_TTL: Duration = Duration::from_secs(3600);

/// How often the dependency gauges are refreshed between probes.
const PROBE_EVERY: Duration = Duration::from_secs(15);

/// A built chat server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    /// Ends the open MCP sessions of `/mcp`.
    mcp_shutdown: CancellationToken,
    /// Stops the background job workers.
    workers: CancellationToken,
    drain: Duration,
}

/// The agents over `settings`' tools and providers (for `ask` as for the server).
pub async fn agents(settings: &Settings) -> anyhow::Result<Arc<AgentRunner>> {
    let toolbox = Arc::new(Toolbox::from_settings(&settings.tools, &settings.emis.tools).await?);
    runner(toolbox, settings)
}

fn runner(toolbox: Arc<Toolbox>, settings: &Settings) -> anyhow::Result<Arc<AgentRunner>> {
    let offline = Arc::new(OfflinePlanner::new(toolbox.known_values()));
    let registry = Arc::new(Registry::from_settings(&settings.providers, offline)?);
    let policy = ToolPolicy::new(settings.tools.policy.clone());
    Ok(Arc::new(
        AgentRunner::new(
            settings.agents.set.clone(),
            registry,
            toolbox,
            settings.agents.limits.clone(),
        )
        .with_policy(policy),
    ))
}

/// The run log and, with Redis, what shares runs between replicas.
fn run_log(
    redis: Option<&redis::aio::ConnectionManager>,
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn RunLog>, Option<Handover>)> {
    match (redis, &settings.redis.url) {
        (Some(connection), Some(url)) => {
            let bus = Bus::start(redis::Client::open(url.expose_secret())?);
            let log = RedisRunLog::new(connection.clone(), bus.clone(), RUN_LOG_TTL);
            let handover = Handover::new(Arc::new(Leases::new(connection.clone())), bus);
            Ok((Arc::new(log), Some(handover)))
        }
        _ => Ok((Arc::new(MemoryRunLog::new(RUN_LOG_TTL)), None)),
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Arc::new(
            SqlStore::connect(
                settings.database.url.expose_secret(),
                settings.database.max_connections,
            )
            .await
            .context("opening the chat database")?,
        );
        settings.validate(store.as_ref()).await?;
        let cookies = match &settings.auth.secret_key {
            Some(secret) => CookieKey::new(
                secret.expose_secret().as_bytes(),
                settings.auth.cookie_secure,
            )
            .context("SECRET_KEY is too short")?,
            None => CookieKey::ephemeral(),
        };
        let toolbox =
            Arc::new(Toolbox::from_settings(&settings.tools, &settings.emis.tools).await?);
        let embedded = toolbox.embedded_state();
        let known = toolbox.known_values();
        let runner = runner(toolbox, &settings)?;
        let redis = match &settings.redis.url {
            Some(url) => limits::connect_redis(url.expose_secret()).await,
            None => None,
        };
        // The tokenizer loads its ranks once; not on the first turn's path.
        tokio::task::spawn_blocking(|| crate::memory::text::tokens("warm"));
        let memories = Memories::new(
            store.clone(),
            Profiles::new(store.clone(), redis.clone()),
            settings.memory.clone(),
            known,
        );
        let jobs = Jobs::new(
            store.clone(),
            settings.jobs.lease,
            settings.jobs.concurrency,
        );
        let workers = CancellationToken::new();
        let model = runner.default_provider();
        jobs.spawn(
            Arc::new(Extractor {
                memories: memories.clone(),
                chat: store.clone(),
                model: (model.name() != "offline").then(|| model.clone()),
            }),
            workers.clone(),
        );
        let summary_turns = settings.agents.limits.context.summary_turns;
        jobs.spawn(
            Arc::new(Summariser {
                chat: store.clone(),
                model: (model.name() != "offline").then(|| model.clone()),
                after_turns: summary_turns,
            }),
            workers.clone(),
        );
        let remembering = settings.memory.enabled.then(|| Remembering {
            memories: memories.clone(),
        });
        let (log, handover) = run_log(redis.as_ref(), &settings)?;
        let quotas = Arc::new(Quotas::new(
            redis.clone(),
            settings.limits.runs_per_user,
            settings.limits.daily_token_budget,
        ));
        let admission = Admission::new(settings.server.max_concurrent_runs, quotas.clone());
        let runs = Runs::new(
            store.clone(),
            runner,
            log,
            admission,
            handover,
            remembering,
            Some(jobs.clone()),
        );
        let limiter = RateLimiter::new(settings.limits.budgets, redis.clone());
        let logins = Arc::new(Logins::new(redis));
        Retention {
            users: store.clone(),
            chat: store.clone(),
            memories: store.clone(),
            jobs: store.clone(),
            logins: logins.clone(),
            quotas,
            limiter: limiter.clone(),
            days: settings.auth.audit_retention_days,
        }
        .spawn();
        let state = AppState {
            limiter,
            runs,
            auth: Auth::new(store.clone(), settings.auth.required, cookies, logins),
            store,
            heartbeat: settings.server.heartbeat,
            hardening: settings.server.hardening.clone(),
            chat_timeout: settings.server.chat_timeout,
            audit_retention_days: settings.auth.audit_retention_days,
            memories,
            jobs,
            prices: Arc::new(settings.server.prices.clone()),
        };
        // With the tools in process, `/mcp` serves them to MCP clients too,
        // behind the same API keys (scope `mcp`).
        let mcp_shutdown = CancellationToken::new();
        let mcp = embedded.map(|tools| {
            let verifier: Arc<dyn mcp_server::auth::TokenVerifier> = Arc::new(state.auth.clone());
            let auth = mcp_server::auth::McpAuth::new(
                verifier,
                settings.emis.public_url.clone(),
                settings.emis.authorization_servers.clone(),
            );
            mcp_server::http::mcp_routes(
                tools,
                &settings.server.hardening,
                mcp_shutdown.clone(),
                Some(auth),
            )
        });
        // The dependency gauges stay current for alerts between probes.
        let probed = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            loop {
                tick.tick().await;
                health::probe(&probed).await;
            }
        });
        let (host, port) = (&settings.server.host, settings.server.port);
        let listener = TcpListener::bind((host.as_str(), port))
            .await
            .with_context(|| format!("binding {host}:{port}"))?;
        Ok(Application {
            listener,
            router: http::router(state.clone(), mcp),
            state,
            mcp_shutdown,
            workers,
            drain: settings.server.shutdown_timeout,
        })
    }

    /// Name of the provider agents use by default (`offline` when no key is set).
    pub fn default_provider(&self) -> String {
        self.state.runs.runner().default_provider_name()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The whole router, for requests sent in process (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// What the handlers share: the runs, the store, authentication.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown`. Then the replica reports not ready and
    /// refuses new runs (so the load balancer moves on) while still serving
    /// everything else; running runs get `SHUTDOWN_TIMEOUT` to finish, the
    /// rest are handed to another replica (with Redis) or cancelled; then its
    /// streams end (their clients resume elsewhere) and the listener closes.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let stop = CancellationToken::new();
        let (runs, mcp_shutdown, workers, closing, drain) = (
            self.state.runs.clone(),
            self.mcp_shutdown.clone(),
            self.workers.clone(),
            stop.clone(),
            self.drain,
        );
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!("shutting down: draining runs");
            runs.shutdown(drain).await;
            // A job cut short here is taken up again by another replica (or at the next start).
            workers.cancel();
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
