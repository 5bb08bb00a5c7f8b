//! `web_search` through Tavily's search API, listed only when `TAVILY_API_KEY` is set.

use std::time::Duration;

use rmcp::{
    Json,
    handler::server::wrapper::Parameters,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{EmisServer, args};

/// A Tavily client.
pub struct Tavily {
    http: reqwest::Client,
    base_url: String,
    api_key: SecretString,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSearchArgs {
    /// What to search the web for.
    pub query: String,
    /// How many results: 1 to 10, default 5.
    pub max_results: Option<i64>,
    /// "basic" (default, faster) or "advanced" (more thorough).
    pub search_depth: Option<String>,
}

/// One web page found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebResult {
    pub title: String,
    pub url: String,
    /// The relevant text of the page.
    pub content: String,
    pub score: Option<f64>,
}

/// Web search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebSearchResult {
    pub query: String,
    /// A short answer, when the search service gives one.
    pub answer: Option<String>,
    pub results: Vec<WebResult>,
}

#[derive(Debug, Serialize)]
struct TavilyRequest<'a> {
    query: &'a str,
    search_depth: &'a str,
    max_results: usize,
    include_answer: bool,
}

#[derive(Debug, Deserialize)]
struct TavilyResponse {
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    results: Vec<WebResult>,
}

impl Tavily {
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .user_agent(concat!("mas-mcp-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Tavily {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    /// Runs one search; every failure is a message fit for a tool error.
    pub async fn search(
        &self,
        query: &str,
        depth: &str,
        max_results: usize,
    ) -> Result<WebSearchResult, String> {
        let body = TavilyRequest {
            query,
            search_depth: depth,
            max_results,
            include_answer: true,
        };
        let response = self
            .http
            .post(format!("{}/search", self.base_url))
            .bearer_auth(self.api_key.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "web search timed out; try again or narrow the query".to_owned()
                } else {
                    tracing::warn!(error = %e, "tavily request failed");
                    "web search is unreachable right now".to_owned()
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            tracing::warn!(%status, detail = %detail.chars().take(300).collect::<String>(), "tavily error");
            return Err(match status.as_u16() {
                401 | 403 => "web search is misconfigured (the search service refused the API key)"
                    .to_owned(),
                429 => "web search is rate limited; try again in a minute".to_owned(),
                432 | 433 => "web search quota is exhausted".to_owned(),
                400 => format!("web search rejected the query ({})", status.as_u16()),
                _ => format!("web search failed upstream (HTTP {})", status.as_u16()),
            });
        }
        let parsed: TavilyResponse = response
            .json()
            .await
            .map_err(|_| "web search returned a response that could not be read".to_owned())?;
        Ok(WebSearchResult {
            query: query.to_owned(),
            answer: parsed.answer.filter(|a| !a.is_empty()),
            results: parsed.results,
        })
    }
}

#[tool_router(router = web_router, vis = "pub(super)")]
impl EmisServer {
    #[tool(
        description = "Search the web (Tavily) for current information that the school and story data cannot answer, such as news, policies or events. Returns pages with their relevant text and a short answer when available.",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    pub async fn web_search(
        &self,
        Parameters(a): Parameters<WebSearchArgs>,
    ) -> Result<Json<WebSearchResult>, String> {
        let Some(tavily) = self.state.tavily.as_ref() else {
            return Err("web search is not configured (set TAVILY_API_KEY)".into());
        };
        let query = args::text("query", Some(&a.query))?.ok_or("query must not be empty")?;
        let max_results = args::limit(a.max_results, 5, 10)?;
        let depth = match a.search_depth.as_deref().map(str::trim) {
            None | Some("") | Some("basic") => "basic",
            Some("advanced") => "advanced",
            Some(other) => {
                return Err(format!(
                    "unknown search_depth {other:?}; valid values: basic, advanced"
                ));
            }
        };
        tavily.search(&query, depth, max_results).await.map(Json)
    }
}
