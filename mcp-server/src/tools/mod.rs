//! The MCP server: EMIS tools, resources, prompts and completions on one
//! `ServerHandler`, with result caching, per-tool timeouts and metrics around
//! every tool call. One `EmisServer` is made per MCP session; they share one
//! `ServerState`.

#![allow(deprecated)] // logging (SEP-2577) is deprecated in 2026-07-28 but part of 2025-11-25, which we serve.

pub mod args;
mod content;
mod prompts;
mod resources;
mod schools;
pub mod web;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
        CompleteResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation,
        InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        ListToolsResult, LoggingLevel, PaginatedRequestParams, ReadResourceRequestParams,
        ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
        SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
    },
    service::RequestContext,
};
use tracing::Instrument;

pub use self::{
    content::{GetContentArgs, SearchContentArgs},
    schools::{RegionsResult, StatisticsGroup, StatisticsResult},
    web::{Tavily, WebResult, WebSearchResult},
};
use crate::{
    backend::{BackendError, EmisBackend},
    cache::{ToolCache, cache_key},
    conformance::Fixtures,
};

/// What every MCP session shares: the data, the cache, the optional web search.
pub struct ServerState {
    pub backend: Arc<dyn EmisBackend>,
    pub cache: Arc<dyn ToolCache>,
    pub tavily: Option<Tavily>,
    pub tool_timeout: Duration,
    /// The conformance suite's fixtures, when enabled.
    pub fixtures: Option<Fixtures>,
}

/// The MCP handler for one session.
#[derive(Clone)]
pub struct EmisServer {
    state: Arc<ServerState>,
    router: Arc<ToolRouter<EmisServer>>,
    log_level: Arc<Mutex<LoggingLevel>>,
}

impl EmisServer {
    pub fn new(state: Arc<ServerState>) -> Self {
        let mut router = Self::school_router() + Self::content_router();
        if state.tavily.is_some() {
            router += Self::web_router();
        }
        EmisServer {
            state,
            router: Arc::new(router),
            log_level: Arc::new(Mutex::new(LoggingLevel::Info)),
        }
    }

    pub fn backend(&self) -> &dyn EmisBackend {
        self.state.backend.as_ref()
    }

    /// The EMIS tools this server lists (without conformance fixtures).
    pub fn tools(&self) -> Vec<Tool> {
        self.router.list_all()
    }

    /// Logs a backend failure once and turns it into a tool error message.
    fn backend_error(error: BackendError) -> String {
        tracing::error!(error = %error, source = ?std::error::Error::source(&error), "backend request failed");
        match error {
            BackendError::Unavailable(_) => {
                "the EMIS database is unavailable right now; try again shortly".into()
            }
            BackendError::Internal(_) => {
                "the EMIS backend failed to answer; the error has been logged".into()
            }
        }
    }

    async fn call_emis_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let started = Instant::now();
        let key = self
            .router
            .has_route(&name)
            .then(|| cache_key(&name, request.arguments.as_ref()));
        if let Some(key) = &key {
            if let Some(hit) = self
                .state
                .cache
                .get(key)
                .await
                .and_then(|s| serde_json::from_str::<CallToolResult>(&s).ok())
            {
                metrics::counter!("mas_cache_hits_total", "cache" => "tool", "tool_name" => name.clone()).increment(1);
                record(&name, "ok", started);
                return Ok(hit.into());
            }
            metrics::counter!("mas_cache_misses_total", "cache" => "tool", "tool_name" => name.clone()).increment(1);
        }
        let call = self
            .router
            .call(ToolCallContext::new(self, request, context));
        let response = match tokio::time::timeout(self.state.tool_timeout, call).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(tool = %name, timeout_s = self.state.tool_timeout.as_secs(), "tool timed out");
                Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "{name} did not finish within {} s; try a narrower request",
                    self.state.tool_timeout.as_secs()
                ))])
                .into())
            }
        };
        let status = match &response {
            Ok(CallToolResponse::Complete(r)) if r.is_error != Some(true) => "ok",
            Ok(_) => "error",
            Err(_) => "invalid",
        };
        record(
            if key.is_some() { &name } else { "unknown" },
            status,
            started,
        );
        if let (Some(key), Ok(CallToolResponse::Complete(result))) = (&key, &response)
            && status == "ok"
            && let Ok(text) = serde_json::to_string(result)
        {
            self.state.cache.put(key, text).await;
        }
        response
    }
}

fn record(tool: &str, status: &'static str, started: Instant) {
    metrics::counter!("mas_tool_executions_total", "tool_name" => tool.to_owned(), "status" => status).increment(1);
    metrics::histogram!("mas_tool_execution_seconds", "tool_name" => tool.to_owned())
        .record(started.elapsed().as_secs_f64());
}

const INSTRUCTIONS: &str = "EMIS data for Kenya (37,930 primary and secondary schools; locations, level, \
ownership; no enrolment figures) and Florida, US (4,337 public schools with enrolment and teachers), plus 1,747 \
openly licensed African Storybook children's stories in 82 languages. Use search_schools / get_school / \
find_schools_near / school_statistics / list_regions for schools and search_content / get_content for stories. \
Always show a story's attribution with its text. Figures the data lacks are null, never zero.";

impl ServerHandler for EmisServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_tools()
            .build();
        InitializeResult::new(capabilities)
            .with_server_info(
                Implementation::new("mas-mcp-server", env!("CARGO_PKG_VERSION"))
                    .with_title("MAS EMIS"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = self.router.list_all();
        if let Some(fixtures) = &self.state.fixtures {
            tools.extend(fixtures.tools());
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.router.get(name).cloned().or_else(|| {
            self.state
                .fixtures
                .as_ref()
                .and_then(|f| f.tools().into_iter().find(|t| t.name == name))
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The MCP semantic conventions' server span, in the trace the
        // client's `_meta` (SEP-414) carries.
        let span = tracing::info_span!(
            "tools/call",
            otel.name = %format!("tools/call {}", request.name),
            otel.kind = "server",
            mcp.method.name = "tools/call",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %request.name,
        );
        let meta = request.meta.as_ref().unwrap_or(&context.meta);
        platform::telemetry::continue_from_meta(&span, &meta.0.0);
        async move {
            if let Some(fixtures) = &self.state.fixtures
                && fixtures.has_tool(&request.name)
            {
                return fixtures.call_tool(request, context).await;
            }
            self.call_emis_tool(request, context).await
        }
        .instrument(span)
        .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut list = resources::static_resources();
        if let Some(fixtures) = &self.state.fixtures {
            list.extend(fixtures.resources());
        }
        Ok(ListResourcesResult::with_all_items(list))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let mut list = resources::templates();
        if let Some(fixtures) = &self.state.fixtures {
            list.extend(fixtures.resource_templates());
        }
        Ok(ListResourceTemplatesResult::with_all_items(list))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(fixtures) = &self.state.fixtures
            && fixtures.has_resource(&request.uri)
        {
            return fixtures.read_resource(request, context).await;
        }
        resources::read(self, &request.uri).await.map(Into::into)
    }

    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // The data is read-only, so a subscription never fires; accepting it is correct.
        Ok(())
    }

    /// `subscriptions/listen` (2026-07-28): accept what the client asks for (the SDK
    /// narrows it to what we advertise). The data never changes, so the stream
    /// only carries its acknowledgement until the client closes it.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let mut list = prompts::list();
        if let Some(fixtures) = &self.state.fixtures {
            list.extend(fixtures.prompts());
        }
        Ok(ListPromptsResult::with_all_items(list))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if let Some(fixtures) = &self.state.fixtures
            && fixtures.has_prompt(&request.name)
        {
            return fixtures.get_prompt(request, context).await;
        }
        prompts::get(self, request).await.map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        if let Some(fixtures) = &self.state.fixtures
            && let Some(result) = fixtures.complete(&request)
        {
            return Ok(result);
        }
        prompts::complete(self, &request).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut level) = self.log_level.lock() {
            *level = request.level;
        }
        Ok(())
    }
}
