//! `GET /api/sessions`, `GET|PATCH|DELETE /api/sessions/{id}`,
//! `GET /api/sessions/{id}/export`: a user's conversations (an admin's:
//! everyone's; a search only ever one's own), each with its messages, their
//! tool calls and what its runs used. Another user's session is answered
//! exactly like an unknown id (404), so ids do not even show that they exist.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    auth::Principal,
    conversations::{
        export::Export,
        search,
        usage::{Usage, usage},
    },
    domain::Scope,
    http::{AppState, caller::Caller, error::AppError},
    store::{MessageRecord, Session, ToolCallRecord, now_ms},
};

/// The session `id` if `principal` may see it; 404 otherwise.
pub async fn visible_session(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Session, AppError> {
    state
        .store
        .session(id)
        .await?
        .filter(|s| principal.may_see(s.owner.as_deref()))
        .ok_or_else(|| AppError::NotFound(format!("no session has id {id:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
    /// Words to search one's own conversations for.
    q: Option<String>,
}

/// The longest search query taken, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// `GET /api/sessions?limit=&offset=`: pinned first, then newest first.
/// With `q`, the caller's own conversations with a message holding every
/// word of it (`limit` of them; `offset` must be 0), each with its hits.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::SessionsRead)?;
    let Query(page) = page.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(50);
    let offset = page.offset.unwrap_or(0);
    if !(1..=200).contains(&limit) || offset < 0 {
        return Err(AppError::BadRequest(
            "limit must be 1 to 200 and offset 0 or more".into(),
        ));
    }
    if let Some(q) = page.q.as_deref().filter(|q| !q.trim().is_empty()) {
        if q.chars().count() > MAX_QUERY_CHARS || offset != 0 {
            return Err(AppError::BadRequest(format!(
                "q must be at most {MAX_QUERY_CHARS} characters, and a search has no offset"
            )));
        }
        let found = search::search(
            state.store.as_ref(),
            principal.owner(),
            q,
            usize::try_from(limit).unwrap_or(50),
        )
        .await?;
        return Ok(Json(json!({ "query": q, "sessions": found })).into_response());
    }
    let owner = if principal.sees_all() {
        None
    } else {
        principal.owner()
    };
    let sessions = state.store.list_sessions(owner, limit, offset).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

/// Everything kept of session `id`: its messages, tool calls and usage.
async fn whole(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(Session, Vec<MessageRecord>, Vec<ToolCallRecord>, Usage), AppError> {
    let session = visible_session(state, principal, id).await?;
    let messages = state.store.messages(id).await?;
    let calls = state.store.tool_calls(id).await?;
    let runs = state.store.session_runs(id).await?;
    Ok((session, messages, calls, usage(&runs, &state.prices)))
}

/// `GET /api/sessions/{id}`: the session, its messages with their tool
/// calls, its usage (tokens and estimated cost), and the summary the model
/// reads its older turns as, when it has one.
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::SessionsRead)?;
    let (session, messages, calls, usage) = whole(&state, &principal, &id).await?;
    let summary = state.store.session_summary(&id).await?;
    let export = Export::new(&session, &messages, &calls, &usage, now_ms());
    Ok(Json(json!({
        "session": session,
        "messages": export.messages,
        "usage": usage,
        "summary": summary,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    title: Option<String>,
    pinned: Option<bool>,
}

/// `PATCH /api/sessions/{id}` `{ title?, pinned? }`: a title of 1 to 200
/// characters; pinned sessions come first in the list.
pub async fn change(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_session(&state, &principal, &id).await?;
    let Json(body) = body?;
    let title = body.title.as_deref().map(str::trim);
    if title.is_none() && body.pinned.is_none() {
        return Err(AppError::BadRequest("send a title, pinned, or both".into()));
    }
    if let Some(title) = title
        && (title.is_empty() || title.chars().count() > 200)
    {
        return Err(AppError::BadRequest(
            "title must be 1 to 200 characters".into(),
        ));
    }
    let gone = || AppError::NotFound(format!("no session has id {id:?}"));
    if let Some(title) = title
        && !state.store.rename_session(&id, title).await?
    {
        return Err(gone());
    }
    if let Some(pinned) = body.pinned
        && !state.store.pin_session(&id, pinned).await?
    {
        return Err(gone());
    }
    get(State(state), Caller(principal), Path(id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    format: Option<String>,
}

/// `GET /api/sessions/{id}/export?format=markdown|json`: the whole
/// conversation as a file to download (Markdown unless asked otherwise).
pub async fn export(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    format: Result<Query<Format>, QueryRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::SessionsRead)?;
    let Query(format) = format.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (session, messages, calls, usage) = whole(&state, &principal, &id).await?;
    let export = Export::new(&session, &messages, &calls, &usage, now_ms());
    let (body, kind, extension) = match format.format.as_deref().unwrap_or("markdown") {
        "markdown" | "md" => (export.markdown(), "text/markdown; charset=utf-8", "md"),
        "json" => (
            serde_json::to_string_pretty(&export).map_err(|_| AppError::Internal)?,
            "application/json",
            "json",
        ),
        other => {
            return Err(AppError::BadRequest(format!(
                "format must be markdown or json (got {other:?})"
            )));
        }
    };
    let disposition = format!("attachment; filename=\"{}\"", export.file_name(extension));
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `DELETE /api/sessions/{id}`: the session with everything it holds.
pub async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_session(&state, &principal, &id).await?;
    if state.store.delete_session(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::NotFound(format!("no session has id {id:?}")))
    }
}
