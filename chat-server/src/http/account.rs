//! Browser sign-in: the login page, `POST /login` (sets the signed,
//! HttpOnly, SameSite cookie), `POST /logout` (revokes it server-side) and
//! `GET /api/auth/me` (who is signed in, and the CSRF token the page sends
//! back on every change).

use std::net::SocketAddr;

use askama::Template;
use axum::{
    Extension, Form, Json,
    extract::{ConnectInfo, State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, error::AppError, web};
use crate::auth::{Principal, Scope};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    css: String,
    favicon: String,
    required: bool,
    message: &'a str,
}

fn login_page(state: &AppState, status: StatusCode, message: &str) -> Response {
    let html = LoginPage {
        css: web::hash("app.css"),
        favicon: web::hash("favicon.svg"),
        required: state.auth.required(),
        message,
    }
    .render();
    web::page(status, html)
}

/// `GET /login`
pub async fn page(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, "")
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Whether a browser request comes from this site: a cross-site `Origin`
/// is refused (login CSRF); a request without one (not a browser's form) passes.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// `POST /login` (form): a cookie and a redirect to the chat, or the page again with why not.
pub async fn sign_in(
    State(state): State<AppState>,
    client: Option<Extension<mcp_server::hardening::ClientAddress>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<Credentials>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            "Sign in from this site's own page.",
        );
    }
    let Ok(Form(credentials)) = form else {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Enter a username and a password.",
        );
    };
    let address = match (client, connect) {
        (Some(Extension(client)), _) => client.0.to_string(),
        (None, Some(Extension(ConnectInfo(addr)))) => addr.ip().to_string(),
        (None, None) => "unknown".into(),
    };
    match state
        .auth
        .sign_in(&credentials.username, &credentials.password, &address)
        .await
    {
        Ok(cookie) => {
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(AppError::TooManyRequests { retry_after, .. }) => {
            let mut response = login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Wait a while and try again.",
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(AppError::Unauthorized(_)) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
        ),
        Err(other) => other.into_response(),
    }
}

/// `POST /logout`: ends the sign-in server-side and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let clear = state.auth.sign_out(&headers).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `GET /api/auth/me`
pub async fn me(Extension(principal): Extension<Principal>) -> Json<serde_json::Value> {
    Json(json!({
        "username": principal.username,
        "role": principal.role,
        "signed_in": principal.user_id.is_some(),
        "scopes": principal.scopes,
        "csrf_token": principal.csrf,
    }))
}

/// Counts of `key` over `events`, most first, at most ten.
fn top<'a>(events: impl Iterator<Item = &'a str>) -> Vec<serde_json::Value> {
    let mut counts: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for key in events {
        *counts.entry(key).or_default() += 1;
    }
    let mut counts: Vec<(&str, u64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .into_iter()
        .take(10)
        .map(|(key, count)| json!({ "value": key, "count": count }))
        .collect()
}

/// `GET /api/admin/security-report`: the last 24 hours of the audit log
/// (admins only): counts by kind, where failed sign-ins and refused
/// credentials came from, which names were tried, and the latest events.
pub async fn security_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Scope::Admin)?;
    if !principal.sees_all() {
        return Err(AppError::Forbidden(
            "the security report is for admins".into(),
        ));
    }
    let until = crate::store::now_ms();
    let since = until - 24 * 3_600_000;
    let events = state.auth.events_since(since).await?;
    let mut by_kind = serde_json::Map::new();
    for event in &events {
        let count = by_kind.entry(event.kind.clone()).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
    let failed = |e: &&crate::store::users::SecurityEvent| {
        matches!(
            e.kind.as_str(),
            "login_failed" | "login_refused" | "invalid_credentials"
        )
    };
    Ok(Json(json!({
        "since": since,
        "until": until,
        "total": events.len(),
        "by_kind": by_kind,
        "failures_by_address": top(events.iter().filter(failed).filter_map(|e| e.address.as_deref())),
        "failures_by_username": top(events.iter().filter(failed).filter_map(|e| e.username.as_deref())),
        "denials_by_user": top(events.iter().filter(|e| e.kind == "permission_denied").filter_map(|e| e.username.as_deref())),
        "recent": events.iter().take(50).collect::<Vec<_>>(),
    })))
}
