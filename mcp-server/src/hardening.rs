//! Headers every HTTP response of the MCP server (and the chat server) carries:
//! no sniffing, referrers only within the site, no framing, an isolated
//! browsing context, and HSTS when clients come over TLS.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

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
pub async fn headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    secure(response.headers_mut(), false);
    response
}
