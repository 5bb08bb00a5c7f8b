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
    let path = parts.uri.path();
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

    /// The budget decision for `principal` at `address`; `None` without limits.
    async fn charge(&self, principal: &Principal, address: Option<&str>) -> Option<Decision> {
        let limiter = self.state.limiter.as_ref()?;
        let mut keys = Vec::new();
        if let Some(user) = &principal.user_id {
            keys.push(format!("user:{user}"));
        }
        if let Some(address) = address {
            keys.push(format!("ip:{address}"));
        }
        Some(limiter.check(self.class, &keys).await)
    }
}

/// Middleware: the door of a route group.
pub async fn enter(State(door): State<Door>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let principal = match authenticate(&door.state.auth, &parts, door.envelope).await {
        Ok(principal) => principal,
        Err(error) => return door.refuse(error.into()),
    };
    let address = client_address(&parts);
    let path = parts.uri.path().to_owned();
    let decision = door.charge(&principal, address.as_deref()).await;
    let mut response = match decision {
        Some(decision) if !decision.allowed => door.refuse(AppError::TooManyRequests {
            message: format!(
                "too many {} requests; try again in {} s",
                if door.class == Class::Chat {
                    "chat"
                } else {
                    "API"
                },
                decision.retry_after
            ),
            retry_after: decision.retry_after,
        }),
        _ => {
            parts.extensions.insert(principal.clone());
            next.run(Request::from_parts(parts, body)).await
        }
    };
    let kind = match response.status().as_u16() {
        403 => Some("permission_denied"),
        429 => Some("rate_limited"),
        _ => None,
    };
    if let Some(kind) = kind {
        door.state
            .auth
            .audit(kind, Some(&principal), None, address.as_deref(), &path)
            .await;
    }
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
    response
}
