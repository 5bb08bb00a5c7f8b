//! The shared security headers (`mcp_server::hardening`) on every chat
//! server response, with HSTS when clients come over TLS. Pages add their
//! Content-Security-Policy themselves (`web::page`).

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

use crate::auth::Auth;

pub async fn headers(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    mcp_server::hardening::secure(response.headers_mut(), auth.behind_tls());
    response
}
