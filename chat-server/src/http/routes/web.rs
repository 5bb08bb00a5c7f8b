//! The browser chat and the Memory page: askama pages (`templates/`) and
//! static assets (`web/`) embedded with rust-embed, so the binary serves
//! everything and reads nothing from disk. Asset URLs carry their content hash (`?v=`); a hashed
//! URL is cached for a year, any other gets an ETag to revalidate. Model
//! output is rendered in the page with Markdown + DOMPurify under a strict
//! Content-Security-Policy (no inline script or style).

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    auth::Principal,
    http::{AppState, error::AppError},
};

#[derive(rust_embed::Embed)]
#[folder = "../web/"]
struct Assets;

/// The policy for every page: scripts, styles and connections to this
/// origin only; no plugins, no framing, no inline code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The content hash of an embedded asset, for cache-busting URLs.
pub(crate) fn hash(path: &str) -> String {
    Assets::get(path)
        .map(|file| hex(&file.metadata.sha256_hash()[..8]))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage {
    js: String,
    css: String,
    favicon: String,
    session_id: String,
}

#[derive(Template)]
#[template(path = "memory.html")]
struct MemoryPage {
    js: String,
    css: String,
    favicon: String,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    css: String,
    favicon: String,
    message: &'a str,
}

fn not_found_page(message: &str) -> Response {
    let html = NotFoundPage {
        css: hash("app.css"),
        favicon: hash("favicon.svg"),
        message,
    }
    .render();
    page(StatusCode::NOT_FOUND, html)
}

pub(crate) fn page(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    match html {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            AppError::Internal.into_response()
        }
    }
}

fn chat_page(session_id: &str) -> Response {
    let html = ChatPage {
        js: hash("app.js"),
        css: hash("app.css"),
        favicon: hash("favicon.svg"),
        session_id: session_id.to_owned(),
    }
    .render();
    page(StatusCode::OK, html)
}

/// The 404 page (JSON under `/api/`, where clients expect the error envelope).
pub fn not_found(uri: &Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return AppError::NotFound(format!("no route for {}", uri.path())).into_response();
    }
    not_found_page("There is nothing at this address.")
}

/// The page's viewer, or a redirect to the login page when sign-in is required.
async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Principal, Response> {
    state
        .auth
        .authenticate(headers)
        .await
        .map_err(|_| Redirect::to("/login").into_response())
}

/// `GET /`: a new chat.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match viewer(&state, &headers).await {
        Ok(_) => chat_page(""),
        Err(redirect) => redirect,
    }
}

/// `GET /memory`: the user's memories and profile.
pub async fn memory(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(redirect) = viewer(&state, &headers).await {
        return redirect;
    }
    let html = MemoryPage {
        js: hash("memory.js"),
        css: hash("app.css"),
        favicon: hash("favicon.svg"),
    }
    .render();
    page(StatusCode::OK, html)
}

/// `GET /c/{session_id}`: a conversation, deep-linked (404 for another user's).
pub async fn conversation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let principal = match viewer(&state, &headers).await {
        Ok(principal) => principal,
        Err(redirect) => return redirect,
    };
    match state.store.session(&id).await {
        Ok(Some(session)) if principal.may_see(session.owner.as_deref()) => chat_page(&id),
        Ok(Some(_)) => {
            not_found_page("This conversation does not exist (it may have been deleted).")
        }
        Ok(None) => not_found_page("This conversation does not exist (it may have been deleted)."),
        Err(e) => AppError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// `GET /static/{*path}`: an embedded asset. Only names that were embedded
/// exist, so `..` and encoded variants find nothing.
pub async fn asset(
    Path(path): Path<String>,
    Query(version): Query<Version>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(file) = Assets::get(&path) else {
        return not_found(&uri);
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let cache = if version.v.as_deref() == Some(hash(&path).as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        // The HTML standard's one name for JavaScript, `.mjs` included.
        let kind = match file.metadata.mimetype() {
            "application/javascript" => "text/javascript",
            other => other,
        };
        if let Ok(kind) = HeaderValue::from_str(kind) {
            response.headers_mut().insert(header::CONTENT_TYPE, kind);
        }
        response
    };
    let out = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
