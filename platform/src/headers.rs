//! The headers every response carries unless it sets its own: no sniffing,
//! referrers only within the site, no framing, an isolated browsing context;
//! and HSTS when clients come over TLS. Pages add their own
//! Content-Security-Policy.

use axum::{
    Router,
    http::{HeaderName, HeaderValue, header},
};
use tower_http::set_header::SetResponseHeaderLayer;

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

const HSTS: &str = "max-age=63072000; includeSubDomains";

/// `router` with the security headers on every response; HSTS too when `tls`.
pub fn secured<S: Clone + Send + Sync + 'static>(mut router: Router<S>, tls: bool) -> Router<S> {
    for (name, value) in ALWAYS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if tls {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ));
    }
    router
}
