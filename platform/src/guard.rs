//! The checks every request passes before a handler runs: its headers fit in
//! `MAX_HEADER_BYTES` (431 otherwise), and its `Host` is one of
//! `ALLOWED_HOSTS` (403 otherwise: this stops DNS-rebinding attacks on a
//! server bound to a private address). On the way it records the client's
//! address, following `X-Forwarded-For` only through trusted proxies.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::Response,
};

/// Largest total size of a request's headers; more is a 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Routes that answer load balancers and probes, which address a replica by
/// its IP: exempt from the trusted-host check.
const OPERATIONS: [&str; 3] = ["/health", "/ready", "/metrics"];

/// The allowed hosts and trusted proxies, shared by every request.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Lower-cased `host` or `host:port` entries; `None`: any host.
    hosts: Option<Arc<[String]>>,
    proxies: Arc<[ipnet::IpNet]>,
}

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one (set by `guard`).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub IpAddr);

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
            proxies: Arc::new([]),
        }
    }

    /// Trusts `X-Forwarded-For` from these peers.
    pub fn with_proxies(mut self, proxies: Vec<ipnet::IpNet>) -> Self {
        self.proxies = proxies.into();
        self
    }

    fn trusted(&self, ip: &IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(ip))
    }

    /// The client behind `peer`, following `X-Forwarded-For` through trusted proxies.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(&peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
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
                .or_else(|_| e.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("TRUSTED_PROXIES: {e:?} is not an IP address or CIDR range"))
        })
        .collect()
}

/// Middleware: records the client's address, then refuses oversized headers
/// (431) and untrusted hosts (403, as the MCP transport does).
pub async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    if let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
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
        return crate::error(
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
                return crate::error(
                    StatusCode::FORBIDDEN,
                    "untrusted_host",
                    &format!("host {host:?} is not served here (ALLOWED_HOSTS)"),
                );
            }
            None => {
                return crate::error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the request has no Host header",
                );
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

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
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
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
}
