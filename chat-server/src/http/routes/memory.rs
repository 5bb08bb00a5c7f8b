//! A user's own memory and profile (scope `memory`; a browser sign-in has
//! it): `GET|POST|DELETE /api/memory`, `PATCH|DELETE /api/memory/{id}`,
//! `GET /api/memory/export`, `GET|PUT /api/profile`. Everyone, an admin
//! too, sees only their own: another user's memory id is answered like an
//! unknown one (404). Admins see counts in the security report, never text.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    auth::Principal,
    domain::{Profile, Scope},
    http::{AppState, caller::Caller, error::AppError},
    memory::{MemoryInput, MemoryPatch, owner_of},
    store::memories::Origin,
};

/// Longest search accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// The caller's owner id, if they may manage memory.
fn owner(principal: &Principal) -> Result<&str, AppError> {
    principal.require(Scope::Memory)?;
    Ok(owner_of(principal.owner()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/memory?q=&limit=&offset=`: newest first; `q` finds memories
/// with all its words (as word beginnings).
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Result<Query<Listing>, QueryRejection>,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    let Query(listing) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (limit, offset) = (listing.limit.unwrap_or(50), listing.offset.unwrap_or(0));
    if !(1..=200).contains(&limit) || offset < 0 {
        return Err(AppError::BadRequest(
            "limit must be 1 to 200 and offset 0 or more".into(),
        ));
    }
    if listing
        .q
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(AppError::BadRequest(format!(
            "q is too long (at most {MAX_QUERY_CHARS} characters)"
        )));
    }
    let (memories, total) = state
        .memories
        .list(owner, listing.q.as_deref(), limit, offset)
        .await?;
    Ok(Json(json!({
        "memories": memories,
        "total": total,
        "limit": limit,
        "offset": offset,
        "enabled": state.memories.settings().enabled,
    }))
    .into_response())
}

/// `POST /api/memory` `{ text, kind?, retention? }`: 201 with the memory
/// (the one it merged with, when the same text was kept already).
pub async fn add(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<MemoryInput>, JsonRejection>,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    let Json(input) = body?;
    let memory = state
        .memories
        .add(owner, &input, Origin::Told, Default::default(), None)
        .await?;
    Ok((StatusCode::CREATED, Json(memory)).into_response())
}

/// `PATCH /api/memory/{id}` `{ text?, kind?, retention? }`
pub async fn change(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    body: Result<Json<MemoryPatch>, JsonRejection>,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    let Json(patch) = body?;
    let memory = state.memories.change(owner, &id, &patch).await?;
    Ok(Json(memory).into_response())
}

/// `DELETE /api/memory/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    state.memories.delete(owner, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/memory`: every memory of the caller, history included.
pub async fn delete_all(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    let deleted = state.memories.delete_all(owner).await?;
    Ok(Json(json!({ "deleted": deleted })).into_response())
}

/// `GET /api/memory/export`: the profile and every memory kept, as a JSON download.
pub async fn export(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    let export = state.memories.export(owner).await?;
    let mut response = Json(export).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"mas-memory.json\""),
    );
    Ok(response)
}

/// `GET /api/profile`
pub async fn profile(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    Ok(Json(state.memories.profile(owner).await?).into_response())
}

/// `PUT /api/profile`: the whole profile, checked (a county or language the
/// data does not know is a 400 naming the field).
pub async fn set_profile(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<Profile>, JsonRejection>,
) -> Result<Response, AppError> {
    let owner = owner(&principal)?;
    let Json(profile) = body?;
    Ok(Json(state.memories.set_profile(owner, profile).await?).into_response())
}
