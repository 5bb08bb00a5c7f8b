//! The HTTP hardening both servers share: headers every response carries (no
//! sniffing, referrers only within the site, no framing, an isolated
//! browsing context, HSTS when clients come over TLS), trusted hosts, a
//! header size limit, time limits for non-streaming routes, and CORS.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

const ALWAYS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    // Not `no-referrer`: with it browsers send `Origin: null` on form posts.
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// Adds the headers a response does not set itself; HSTS when `tls`.
pub fn secure(headers: &mut HeaderMap, tls: bool) {
    for (name, value) in ALWAYS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
}

/// Middleware form, for a server that is not told it sits behind TLS.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    secure(response.headers_mut(), false);
    response
}

/// Largest total size of a request's headers; more is a 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Routes that answer load balancers and probes, which address a replica by
/// its IP: exempt from the trusted-host check.
const OPERATIONS: [&str; 3] = ["/health", "/ready", "/metrics"];

/// What a server's operator configures: `ALLOWED_HOSTS`, `CORS_ORIGINS`,
/// and the time limit of non-streaming routes.
#[derive(Debug, Clone)]
pub struct Hardening {
    pub allowed_hosts: Vec<String>,
    pub cors_origins: Vec<String>,
    pub request_timeout: std::time::Duration,
    /// Peers (IPs or CIDR ranges) whose `X-Forwarded-For` names the client:
    /// the load balancer (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Time a non-streaming request may take.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for Hardening {
    /// Loopback hosts only, no cross-origin access, 30 s.
    fn default() -> Self {
        Hardening {
            allowed_hosts: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            cors_origins: Vec::new(),
            request_timeout: REQUEST_TIMEOUT,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Hardening {
    /// Wraps every route of `router` in the host and header checks and CORS.
    pub fn apply<S: Clone + Send + Sync + 'static>(
        &self,
        router: axum::Router<S>,
    ) -> axum::Router<S> {
        let router = router.layer(axum::middleware::from_fn_with_state(
            Guard::new(&self.allowed_hosts).with_proxies(self.trusted_proxies.clone()),
            guard,
        ));
        // Outermost, so a preflight is answered before anything else looks at it.
        match cors(&self.cors_origins) {
            Some(cors) => router.layer(cors),
            None => router,
        }
    }

    /// Wraps every route of `router` in the time limit (not for streams).
    pub fn time_limited<S: Clone + Send + Sync + 'static>(
        &self,
        router: axum::Router<S>,
    ) -> axum::Router<S> {
        router.route_layer(axum::middleware::from_fn_with_state(
            self.request_timeout,
            time_limit,
        ))
    }
}

/// The checks every request passes before a handler runs: its headers fit
/// in `MAX_HEADER_BYTES`, and its `Host` is one of `ALLOWED_HOSTS` (which
/// stops DNS-rebinding attacks on a server bound to a private address).
#[derive(Debug, Clone)]
pub struct Guard {
    /// Lower-cased `host` or `host:port` entries; `None`: any host.
    hosts: Option<std::sync::Arc<[String]>>,
    proxies: std::sync::Arc<[ipnet::IpNet]>,
}

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one (set by `guard`).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub std::net::IpAddr);

impl Guard {
    /// `allowed`: host names, with or without a port; `*` (or nothing) allows any.
    pub fn new(allowed: &[String]) -> Self {
        let any = allowed.is_empty() || allowed.iter().any(|h| h.trim() == "*");
        Guard {
            hosts: (!any).then(|| {
                allowed
                    .iter()
                    .map(|h| h.trim().to_ascii_lowercase())
                    .collect()
            }),
            proxies: std::sync::Arc::new([]),
        }
    }

    /// Trusts `X-Forwarded-For` from these peers.
    pub fn with_proxies(mut self, proxies: Vec<ipnet::IpNet>) -> Self {
        self.proxies = proxies.into();
        self
    }

    fn trusted(&self, ip: &std::net::IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(ip))
    }

    /// The client behind `peer`, following `X-Forwarded-For` through trusted proxies.
    pub fn client(&self, peer: std::net::IpAddr, headers: &HeaderMap) -> std::net::IpAddr {
        if !self.trusted(&peer) {
            return peer;
        }
        let hops: Vec<std::net::IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|hop| !self.trusted(hop))
            .unwrap_or(peer)
    }

    /// Whether a `Host` value is allowed: an entry with a port must match
    /// exactly, one without matches the host on any port.
    pub fn allows(&self, host: &str) -> bool {
        let Some(hosts) = &self.hosts else {
            return true;
        };
        let host = host.to_ascii_lowercase();
        // `[::1]:8000` → `::1`; `example.org:8000` → `example.org`.
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => host
                .rsplit_once(':')
                .map_or(host.as_str(), |(name, _)| name),
        };
        hosts.iter().any(|h| *h == host || h == name)
    }
}

/// Parses `TRUSTED_PROXIES` entries: IPs or CIDR ranges.
pub fn parse_proxies(entries: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            e.parse::<ipnet::IpNet>()
                .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("TRUSTED_PROXIES: {e:?} is not an IP address or CIDR range"))
        })
        .collect()
}

/// An error in the JSON envelope both servers use.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Middleware: refuses oversized headers (431) and untrusted hosts (403, as
/// the MCP transport does).
pub async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    if let Some(peer) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let client = guard.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!("request headers are {size} bytes; at most {MAX_HEADER_BYTES} are accepted"),
        );
    }
    if !OPERATIONS.contains(&request.uri().path()) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        match host {
            Some(host) if guard.allows(host) => {}
            Some(host) => {
                return error(
                    StatusCode::FORBIDDEN,
                    "untrusted_host",
                    &format!("host {host:?} is not served here (ALLOWED_HOSTS)"),
                );
            }
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the request has no Host header",
                );
            }
        }
    }
    next.run(request).await
}

/// Middleware: answers 503 when a handler takes longer than the given time
/// (written here rather than with tower-http's `TimeoutLayer` so the answer
/// carries a message in the usual JSON envelope). Not for streaming routes.
pub async fn time_limit(
    State(limit): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                &format!("the request took longer than {} s", limit.as_secs()),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

/// CORS for the browser origins in `CORS_ORIGINS` (none: no cross-origin
/// reads at all). Credentials are allowed only for those origins.
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PATCH,
                axum::http::Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("x-csrf-token"),
                HeaderName::from_static("mcp-session-id"),
                HeaderName::from_static("mcp-protocol-version"),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                HeaderName::from_static("mcp-session-id"),
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                header::WWW_AUTHENTICATE,
            ])
            .allow_credentials(true)
            .max_age(std::time::Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_with_or_without_their_port() {
        let guard = Guard::new(&["localhost".into(), "mas.example.org:443".into()]);
        assert!(guard.allows("localhost"));
        assert!(guard.allows("LOCALHOST:8000"));
        assert!(guard.allows("mas.example.org:443"));
        assert!(!guard.allows("mas.example.org:8443"));
        assert!(!guard.allows("evil.example"));
        assert!(!guard.allows("localhost.evil.example"));
        let guard = Guard::new(&["::1".into()]);
        assert!(guard.allows("[::1]:8000"));
        assert!(Guard::new(&["*".into()]).allows("anything"));
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let guard = Guard::new(&[]).with_proxies(
            parse_proxies(&["10.0.0.0/8".into(), "127.0.0.1".into()]).expect("parse"),
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.1.2.3"),
        );
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert_eq!(guard.client(ip("127.0.0.1"), &headers), ip("203.0.113.9"));
        assert_eq!(
            guard.client(ip("198.51.100.7"), &headers),
            ip("198.51.100.7"),
            "a stranger's X-Forwarded-For is ignored"
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(guard.client(ip("10.0.0.5"), &headers), ip("10.0.0.5"));
        assert!(parse_proxies(&["nonsense".into()]).is_err());
    }

    #[tokio::test]
    async fn a_slow_handler_is_answered_with_a_timeout_error() {
        use tower::ServiceExt;
        let hardening = Hardening {
            request_timeout: std::time::Duration::from_millis(50),
            ..Hardening::default()
        };
        let router = hardening.time_limited(axum::Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        ));
        let response = router
            .oneshot(
                Request::get("/slow")
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
