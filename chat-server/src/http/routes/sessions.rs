//! `GET /api/sessions`, `GET|PATCH|DELETE /api/sessions/{id}`: a user's
//! conversations (an admin's: everyone's), each with its messages and their
//! tool calls. Another user's session is answered exactly like an unknown
//! id (404), so ids do not even show that they exist.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    auth::Principal,
    domain::Scope,
    http::{AppState, caller::Caller, error::AppError},
    store::{Session, ToolCallRecord},
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
pub struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/sessions?limit=&offset=`: newest first.
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
    let owner = if principal.sees_all() {
        None
    } else {
        principal.owner()
    };
    let sessions = state.store.list_sessions(owner, limit, offset).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

/// `GET /api/sessions/{id}`: the session, its messages and their tool calls.
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::SessionsRead)?;
    let session = visible_session(&state, &principal, &id).await?;
    let messages = state.store.messages(&id).await?;
    let calls = state.store.tool_calls(&id).await?;
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let mine: Vec<&ToolCallRecord> =
                calls.iter().filter(|c| c.message_id == m.id).collect();
            let mut v = json!(m);
            v["tool_calls"] = json!(mine);
            v
        })
        .collect();
    Ok(Json(json!({ "session": session, "messages": messages })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    title: String,
}

/// `PATCH /api/sessions/{id}` `{ title }`: 1 to 200 characters.
pub async fn rename(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    body: Result<Json<Rename>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_session(&state, &principal, &id).await?;
    let Json(body) = body?;
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "title must be 1 to 200 characters".into(),
        ));
    }
    if !state.store.rename_session(&id, title).await? {
        return Err(AppError::NotFound(format!("no session has id {id:?}")));
    }
    get(State(state), Caller(principal), Path(id)).await
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
