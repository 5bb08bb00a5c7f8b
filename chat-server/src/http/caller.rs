//! Who is calling, and whether they may come in. `Caller` is the extractor
//! that authenticates a request (an API key, a sign-in cookie with its CSRF
//! token for changes, or the local user); a route group's `Door` runs it
//! before any handler, charges the group's rate-limit class to the caller
//! and their address, audits refusals, and answers in the group's envelope
//! (MAS's, or OpenAI's for `/v1`). Handlers take `Caller` and get the
//! principal the door found.

use std::borrow::Cow;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{
    AppState,
    error::{AppError, openai::OpenAiError},
};
use crate::{
    auth::{Auth, AuthError, Principal, cookie},
    limits::{Class, Decision},
};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// How a group's refusals are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Mas,
    /// OpenAI's envelope; API keys only, and locally a key that is not a
    /// MAS key is ignored (OpenAI clients insist on sending one).
    OpenAi,
}

/// The front door of a group of routes.
#[derive(Clone)]
pub struct Door {
    pub state: AppState,
    pub class: Class,
    pub envelope: Envelope,
}

/// The client's address, as the hardening layer found it (behind trusted
/// proxies, the forwarded one).
pub fn client_address(parts: &Parts) -> Option<String> {
    match parts.extensions.get::<platform::ClientAddress>() {
        Some(client) => Some(client.0.to_string()),
        None => parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    }
}

/// The route a request matched (its template, never the raw path an
/// attacker chose), for audit details.
fn route(parts: &Parts) -> String {
    parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| parts.uri.path(), |p| p.as_str())
        .chars()
        .take(100)
        .collect()
}

/// Whether the request carries a bearer token that is not a MAS key.
fn foreign_key(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim_start_matches("Bearer ").starts_with("mas_"))
}

/// Authenticates `parts` as `envelope`'s routes want, auditing refused
/// credentials and wrong CSRF tokens.
async fn authenticate(
    auth: &Auth,
    parts: &Parts,
    envelope: Envelope,
) -> Result<Principal, AuthError> {
    let address = client_address(parts);
    let path = route(parts);
    let mut headers = Cow::Borrowed(&parts.headers);
    if envelope == Envelope::OpenAi && !auth.required() && foreign_key(&parts.headers) {
        headers.to_mut().remove(header::AUTHORIZATION);
    }
    let principal = match auth.authenticate(&headers).await {
        Ok(principal) => principal,
        Err(error) => {
            // Credentials that were sent and refused are audited; a call
            // that sent none is only answered.
            let presented =
                headers.contains_key(header::AUTHORIZATION) || cookie::presented(&headers);
            if presented && matches!(error, AuthError::Unauthenticated(_)) {
                let detail = format!("{error} on {path}");
                auth.audit(
                    "invalid_credentials",
                    None,
                    None,
                    address.as_deref(),
                    &detail,
                )
                .await;
            }
            return Err(error);
        }
    };
    if principal.csrf.is_some() && envelope == Envelope::OpenAi {
        return Err(AuthError::unauthenticated(
            "send an API key: Authorization: Bearer mas_...",
        ));
    }
    if !parts.method.is_safe() {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if let Err(denied) = Auth::check_csrf(&principal, sent) {
            let detail = format!("{denied} on {path}");
            auth.audit(
                "permission_denied",
                Some(&principal),
                None,
                address.as_deref(),
                &detail,
            )
            .await;
            return Err(denied);
        }
    }
    Ok(principal)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    /// The principal the route's door found, or (on a route without one)
    /// the request authenticated here.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Caller(principal.clone()));
        }
        let principal = authenticate(&state.auth, parts, Envelope::Mas).await?;
        parts.extensions.insert(principal.clone());
        Ok(Caller(principal))
    }
}

impl Door {
    fn refuse(&self, error: AppError) -> Response {
        let unauthorized = matches!(error, AppError::Unauthorized(_));
        let mut response = match self.envelope {
            Envelope::Mas => error.into_response(),
            Envelope::OpenAi => OpenAiError::from(error).into_response(),
        };
        if unauthorized && self.envelope == Envelope::Mas {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mas\""),
            );
        }
        response
    }

    /// Charges one request to the budget of `key` (`ip:…` or `user:…`);
    /// `None` without limits or without a key (the local user has none).
    async fn charge(&self, key: Option<String>) -> Option<Decision> {
        let (limiter, key) = (self.state.limiter.as_ref()?, key?);
        Some(limiter.check(self.class, &[key]).await)
    }

    fn too_many(&self, decision: Decision) -> Response {
        self.refuse(AppError::TooManyRequests {
            message: format!(
                "too many {} requests; try again in {} s",
                if self.class == Class::Chat {
                    "chat"
                } else {
                    "API"
                },
                decision.retry_after
            ),
            retry_after: decision.retry_after,
        })
    }
}

/// The tighter of two budget decisions, for the `RateLimit-*` headers.
fn tighter(a: Option<Decision>, b: Option<Decision>) -> Option<Decision> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.remaining < a.remaining { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn rate_limit_headers(response: &mut Response, decision: Option<Decision>) {
    if let Some(decision) = decision {
        let headers = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", u64::from(decision.limit)),
            ("ratelimit-remaining", u64::from(decision.remaining)),
            ("ratelimit-reset", decision.retry_after),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

/// Middleware: the door of a route group. The address's budget is charged
/// before anything else, so a flood of bad credentials costs its sender,
/// not the audit log; then the caller is authenticated and their own budget
/// charged; refusals of the handler (403, 429) are audited.
pub async fn enter(State(door): State<Door>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let address = client_address(&parts);
    let by_address = door
        .charge(address.as_ref().map(|a| format!("ip:{a}")))
        .await;
    if let Some(decision) = by_address.filter(|d| !d.allowed) {
        let detail = format!("over the address's budget on {}", route(&parts));
        door.state
            .auth
            .audit("rate_limited", None, None, address.as_deref(), &detail)
            .await;
        let mut response = door.too_many(decision);
        rate_limit_headers(&mut response, Some(decision));
        return response;
    }
    let principal = match authenticate(&door.state.auth, &parts, door.envelope).await {
        Ok(principal) => principal,
        Err(error) => return door.refuse(error.into()),
    };
    let by_user = door
        .charge(principal.user_id.as_ref().map(|u| format!("user:{u}")))
        .await;
    let mut response = match by_user {
        Some(decision) if !decision.allowed => door.too_many(decision),
        _ => {
            parts.extensions.insert(principal.clone());
            let route = route(&parts);
            let response = next.run(Request::from_parts(parts, body)).await;
            let kind = match response.status().as_u16() {
                403 => Some("permission_denied"),
                429 => Some("rate_limited"),
                _ => None,
            };
            if let Some(kind) = kind {
                door.state
                    .auth
                    .audit(kind, Some(&principal), None, address.as_deref(), &route)
                    .await;
            }
            response
        }
    };
    if by_user.is_some_and(|d| !d.allowed) {
        door.state
            .auth
            .audit(
                "rate_limited",
                Some(&principal),
                None,
                address.as_deref(),
                "over the user's budget",
            )
            .await;
    }
    rate_limit_headers(&mut response, tighter(by_address, by_user));
    response
}
