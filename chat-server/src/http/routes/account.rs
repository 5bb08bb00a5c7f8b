//! Browser sign-in: the login page, `POST /login` (sets the signed,
//! HttpOnly, SameSite cookie), `POST /logout` (revokes it server-side) and
//! `GET /api/auth/me` (who is signed in, and the CSRF token the page sends
//! back on every change).

use askama::Template;
use axum::{
    Form, Json,
    extract::{State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::web;
use crate::{
    auth::{AuthError, accounts::MAX_USERNAME_CHARS, password},
    http::{
        AppState,
        caller::{Caller, client_address},
        error::AppError,
    },
    limits::Class,
};

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
    parts: Parts,
    form: Result<Form<Credentials>, FormRejection>,
) -> Response {
    if !same_origin(&parts.headers) {
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
    // The form's own limits, enforced before anything is looked up or written.
    if credentials.username.chars().count() > MAX_USERNAME_CHARS
        || credentials.password.chars().count() > password::MAX_LENGTH
    {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            "The username or the password is too long.",
        );
    }
    let address = client_address(&parts).unwrap_or_else(|| "unknown".into());
    if let Some(limiter) = &state.limiter {
        let decision = limiter.check(Class::Api, &[format!("ip:{address}")]).await;
        if !decision.allowed {
            let mut response = login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests from your address. Wait a moment and try again.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(decision.retry_after));
            return response;
        }
    }
    match state
        .auth
        .sign_in(&credentials.username, &credentials.password, &address)
        .await
    {
        Ok(cookie) => (cookie, Redirect::to("/")).into_response(),
        Err(AuthError::Locked { retry_after }) => {
            let mut response = login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Wait a while and try again.",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
            response
        }
        Err(AuthError::Unauthenticated(_)) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
        ),
        Err(other) => AppError::from(other).into_response(),
    }
}

/// `POST /logout`: ends the sign-in server-side and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let clear = state.auth.sign_out(&headers).await?;
    Ok((clear, StatusCode::NO_CONTENT).into_response())
}

/// `GET /api/auth/me`
pub async fn me(Caller(principal): Caller) -> Json<serde_json::Value> {
    Json(json!({
        "username": principal.username,
        "role": principal.role,
        "signed_in": principal.user_id.is_some(),
        "scopes": principal.scopes,
        "csrf_token": principal.csrf,
    }))
}
