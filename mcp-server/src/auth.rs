//! Bearer auth on `/mcp`, the resource-server side of the MCP authorization
//! spec: a request without a valid token gets 401 with
//! `WWW-Authenticate: Bearer resource_metadata="…"`, pointing at the RFC 9728
//! metadata served at `/.well-known/oauth-protected-resource` (and at the
//! path-suffixed `/.well-known/oauth-protected-resource/mcp`); a valid token
//! without the `mcp` scope gets 403 `insufficient_scope`.
//!
//! Who decides is a `TokenVerifier`: a static token list for a standalone
//! MCP server (`MCP_AUTH_TOKENS`), or the chat server's API keys.

use std::{collections::HashSet, sync::Arc};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The scope a token needs to use the tools.
pub const SCOPE: &str = "mcp";

/// Decides what a bearer token may do.
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The scopes granted to `token` (`None`: the request carried none), or
    /// why it is refused.
    async fn verify(&self, token: Option<&str>) -> Result<Vec<String>, String>;
}

/// A fixed list of tokens, each granting `mcp`; only their SHA-256 is kept.
pub struct StaticTokens {
    hashes: HashSet<[u8; 32]>,
}

impl StaticTokens {
    /// `None` when the list has no tokens.
    pub fn new(tokens: &[String]) -> Option<Self> {
        let hashes: HashSet<[u8; 32]> = tokens
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(|t| Sha256::digest(t.as_bytes()).into())
            .collect();
        (!hashes.is_empty()).then_some(StaticTokens { hashes })
    }
}

#[async_trait::async_trait]
impl TokenVerifier for StaticTokens {
    async fn verify(&self, token: Option<&str>) -> Result<Vec<String>, String> {
        let token = token.ok_or("a bearer token is required")?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.hashes.contains(&hash) {
            Ok(vec![SCOPE.to_owned()])
        } else {
            metrics::counter!("mas_security_events_total", "kind" => "invalid_credentials")
                .increment(1);
            Err("the token is not valid".to_owned())
        }
    }
}

/// Bearer auth for `/mcp` and the metadata that describes it.
#[derive(Clone)]
pub struct McpAuth {
    verifier: Arc<dyn TokenVerifier>,
    /// Public base URL (`MCP_PUBLIC_URL`, e.g. `https://mas.example.org`);
    /// from the request's `Host` when unset.
    public_url: Option<String>,
    /// OAuth authorization servers clients may get tokens from.
    authorization_servers: Vec<String>,
}

impl McpAuth {
    pub fn new(
        verifier: Arc<dyn TokenVerifier>,
        public_url: Option<String>,
        authorization_servers: Vec<String>,
    ) -> Self {
        McpAuth {
            verifier,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
            authorization_servers,
        }
    }

    fn base(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let scheme = match headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
        {
            Some("https") => "https",
            _ => "http",
        };
        format!("{scheme}://{host}")
    }

    fn metadata_url(&self, headers: &HeaderMap) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            self.base(headers)
        )
    }

    /// Adds the metadata routes to `router` and puts `/mcp` behind the token check.
    pub fn protect<S: Clone + Send + Sync + 'static>(&self, mcp: Router<S>) -> Router<S> {
        let metadata = Router::new()
            .route("/.well-known/oauth-protected-resource", get(metadata))
            .route("/.well-known/oauth-protected-resource/mcp", get(metadata))
            .with_state(self.clone());
        mcp.route_layer(axum::middleware::from_fn_with_state(self.clone(), require))
            .merge(metadata)
    }
}

/// RFC 9728 protected-resource metadata for `/mcp`.
async fn metadata(State(auth): State<McpAuth>, headers: HeaderMap) -> Response {
    let base = auth.base(&headers);
    let mut body = json!({
        "resource": format!("{base}/mcp"),
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": "MAS EMIS tools",
        "resource_documentation": format!("{base}/"),
    });
    if !auth.authorization_servers.is_empty() {
        body["authorization_servers"] = json!(auth.authorization_servers);
    }
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=3600"),
        )],
        Json(body),
    )
        .into_response()
}

/// A `WWW-Authenticate` challenge value, parameters quoted.
fn challenge(params: &[(&str, &str)]) -> HeaderValue {
    let params: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace(['"', '\\'], "'")))
        .collect();
    HeaderValue::from_str(&format!("Bearer {}", params.join(", ")))
        .unwrap_or(HeaderValue::from_static("Bearer"))
}

/// Middleware: the request's bearer token must be valid and carry `mcp`.
async fn require(State(auth): State<McpAuth>, request: Request, next: Next) -> Response {
    let metadata = auth.metadata_url(request.headers());
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let token = value.map(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or_default()
            .trim()
    });
    match auth.verifier.verify(token.filter(|t| !t.is_empty())).await {
        Ok(scopes) if scopes.iter().any(|s| s == SCOPE) => next.run(request).await,
        Ok(_) => {
            let mut response = platform::error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the token lacks the \"mcp\" scope",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                challenge(&[
                    ("error", "insufficient_scope"),
                    ("scope", SCOPE),
                    ("resource_metadata", &metadata),
                ]),
            );
            response
        }
        Err(reason) => {
            let mut response = platform::error(StatusCode::UNAUTHORIZED, "unauthorized", &reason);
            let mut params = vec![("resource_metadata", metadata.as_str())];
            if value.is_some() {
                params.insert(0, ("error", "invalid_token"));
                params.insert(1, ("error_description", reason.as_str()));
            }
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge(&params));
            response
        }
    }
}
