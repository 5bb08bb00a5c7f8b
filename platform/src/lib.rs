//! The HTTP plumbing both MAS servers share, below either of them: the
//! checks every request passes (`guard`: header size, trusted hosts, the
//! client's address behind trusted proxies), the headers every response
//! carries (`headers`), CORS (`cors`), the time limit of non-streaming routes
//! (`timeout`), the process set-up (`telemetry`, `signals`), and what both
//! settings loaders share (`config`). `Hardening` is what an operator
//! configures of it.

pub mod config;
pub mod cors;
pub mod guard;
pub mod headers;
pub mod signals;
pub mod telemetry;
pub mod timeout;

use std::time::Duration;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

pub use guard::{ClientAddress, Guard, MAX_HEADER_BYTES, parse_proxies};

/// An error in the JSON envelope both servers use:
/// `{ "error": { "code", "message" } }`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Time a non-streaming request may take unless configured otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a server's operator configures: `ALLOWED_HOSTS`, `CORS_ORIGINS`,
/// `TRUSTED_PROXIES` and the time limit of non-streaming routes.
#[derive(Debug, Clone)]
pub struct Hardening {
    pub allowed_hosts: Vec<String>,
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    /// Peers (IPs or CIDR ranges) whose `X-Forwarded-For` names the client:
    /// the load balancer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

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
            guard::guard,
        ));
        // Outermost, so a preflight is answered before anything else looks at it.
        match cors::cors(&self.cors_origins) {
            Some(cors) => router.layer(cors),
            None => router,
        }
    }

    /// Wraps every route of `router` in the time limit (not for streams).
    pub fn time_limited<S: Clone + Send + Sync + 'static>(
        &self,
        router: axum::Router<S>,
    ) -> axum::Router<S> {
        timeout::limited(router, self.request_timeout)
    }
}
