//! `TestApp`: the MCP server on a loopback port with an MCP client connected,
//! on the embedded backend or on the PostgreSQL the test command started.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use mcp_server::{
    backend::{EmisBackend, embedded::EmbeddedBackend, postgres::PostgresBackend},
    cache::{MemoryCache, ToolCache},
    emis::dataset::Dataset,
    http,
    settings::Settings,
    tools::ServerState,
};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::StreamableHttpClientTransport,
};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub client: RunningService<RoleClient, ()>,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        drop(platform::telemetry::init("mcp-server", "debug", false));
    }
}

/// The bundled data, indexed once per test binary.
pub fn embedded_backend() -> Arc<EmbeddedBackend> {
    static BACKEND: OnceLock<Arc<EmbeddedBackend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            Arc::new(EmbeddedBackend::new(
                Dataset::bundled().expect("bundled data"),
            ))
        })
        .clone()
}

/// The PostgreSQL URL the test command provides. Missing it is a failure, not a skip.
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: the PostgreSQL backend tests need a database. \
             Run tests/run.sh (it starts a throwaway PostgreSQL) or set TEST_DATABASE_URL."
        )
    })
}

/// Imports the data into the test database once per test binary.
async fn imported_postgres() -> String {
    static DONE: Mutex<bool> = Mutex::const_new(false);
    let url = postgres_url();
    let mut done = DONE.lock().await;
    if !*done {
        mcp_server::backend::postgres::import(&url, None)
            .await
            .expect("import into the test database");
        *done = true;
    }
    url
}

pub fn settings() -> Settings {
    Settings::from_figment(Settings::defaults()).expect("default settings")
}

impl TestApp {
    pub async fn embedded() -> Self {
        Self::with_backend(embedded_backend()).await
    }

    pub async fn postgres() -> Self {
        let url = imported_postgres().await;
        let backend = PostgresBackend::connect(&url, 4)
            .await
            .expect("connect to the test database");
        Self::with_backend(Arc::new(backend)).await
    }

    pub async fn with_backend(backend: Arc<dyn EmisBackend>) -> Self {
        let cache: Arc<dyn ToolCache> = Arc::new(MemoryCache::new(Duration::from_secs(60), 1_000));
        Self::with_state(ServerState {
            backend,
            cache,
            tavily: None,
            tool_timeout: Duration::from_secs(10),
            fixtures: None,
        })
        .await
    }

    pub async fn with_state(state: ServerState) -> Self {
        init_logs();
        let (base, shutdown) = serve(state, &settings()).await;
        let transport = StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
        let client = ().serve(transport).await.expect("MCP client connects");
        TestApp {
            base,
            client,
            shutdown,
        }
    }

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        self.client
            .call_tool(params)
            .await
            .unwrap_or_else(|e| panic!("{tool} call failed at the protocol level: {e}"))
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let result = self.call(tool, args).await;
        assert_ne!(
            result.is_error,
            Some(true),
            "{tool} failed: {:?}",
            result.content
        );
        result
            .structured_content
            .unwrap_or_else(|| panic!("{tool} returned no structured content"))
    }

    /// Calls a tool that must fail; returns its error text.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let result = self.call(tool, args).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should have failed: {:?}",
            result.structured_content
        );
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs each listed test body on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::TestApp::embedded().await).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::TestApp::postgres().await).await } )*
        }
    };
}

/// The HTTP server over `state` with `settings` on a loopback port: its base
/// URL, and the token that stops it.
pub async fn serve(state: ServerState, settings: &Settings) -> (String, CancellationToken) {
    let shutdown = CancellationToken::new();
    let router = http::router(Arc::new(state), settings, shutdown.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    (base, shutdown)
}
