//! Admin endpoints (an admin's key with the `admin` scope, or an admin's
//! sign-in): users and API keys, as the `user` and `key` commands manage
//! them. The security report is `report`.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    auth::accounts,
    domain::UserRole,
    http::{AppState, caller::Caller, error::AppError},
    store::users::UserStore,
};

fn users(state: &AppState) -> &dyn UserStore {
    state.auth.users()
}

/// `GET /api/admin/tools`: every tool, and whether each agent's calls of
/// it run at once (`allow`), wait for approval (`ask`) or are refused
/// (`deny`), with the `[[tool_policy]]` rule (or the default) that says so.
pub async fn list_tools(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let tools = state.runs.runner().tool_approvals();
    Ok(Json(json!({ "tools": tools })).into_response())
}

/// `GET /api/admin/users`
pub async fn list_users(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    Ok(Json(json!({ "users": users(&state).users().await? })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /api/admin/users` `{ username, password, role? }`
pub async fn create_user(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let Json(body) = body?;
    let role = match body.role.as_deref() {
        None => UserRole::User,
        Some(role) => UserRole::parse(role)
            .ok_or_else(|| AppError::BadRequest("role must be user or admin".into()))?,
    };
    let user = accounts::add_user(users(&state), &body.username, role, &body.password)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))).into_response())
}

#[derive(Debug, Deserialize)]
pub struct KeyFilter {
    user: Option<String>,
}

/// `GET /api/admin/keys?user=`: never the keys themselves.
pub async fn list_keys(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Query(filter): Query<KeyFilter>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let user_id = match &filter.user {
        Some(name) => Some(
            users(&state)
                .user_by_name(name)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("no user is named {name:?}")))?
                .id,
        ),
        None => None,
    };
    let keys = users(&state).keys(user_id.as_deref()).await?;
    Ok(Json(json!({ "keys": keys })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    username: String,
    scopes: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api/admin/keys` `{ username, scopes, name?, expires_in_days? }`:
/// the key is in this answer only.
pub async fn create_key(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let Json(body) = body?;
    let (key, record) = accounts::create_key(
        users(&state),
        &body.username,
        &body.scopes,
        body.name.as_deref().unwrap_or("default"),
        body.expires_in_days,
    )
    .await
    .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": key, "record": record })),
    )
        .into_response())
}

/// `DELETE /api/admin/keys/{id}`: revokes the key at once.
pub async fn revoke_key(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    accounts::revoke_key(users(&state), &id)
        .await
        .map_err(|e| AppError::NotFound(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    disabled: bool,
}

/// The user with id `id`, or 404.
async fn user_by_id(state: &AppState, id: &str) -> Result<crate::store::users::User, AppError> {
    users(state)
        .user_by_id(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user has id {id:?}")))
}

/// `PATCH /api/admin/users/{id}` `{ disabled }`: a disabled user's keys and
/// sign-ins are refused from the next request on; enabling lets them back.
pub async fn change_user(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    body: Result<Json<UserChange>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let Json(body) = body?;
    let user = user_by_id(&state, &id).await?;
    if body.disabled && principal.user_id.as_deref() == Some(user.id.as_str()) {
        return Err(AppError::BadRequest(
            "an admin cannot disable themselves".into(),
        ));
    }
    let user = accounts::set_disabled(users(&state), &user.username, body.disabled)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// `DELETE /api/admin/users/{id}`: the user with their keys, sign-ins,
/// conversations, memories and profile; 204.
pub async fn delete_user(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let user = user_by_id(&state, &id).await?;
    if principal.user_id.as_deref() == Some(user.id.as_str()) {
        return Err(AppError::BadRequest(
            "an admin cannot delete themselves".into(),
        ));
    }
    accounts::delete_user(users(&state), &user.username)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    state.memories.forget_user(&user.id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    password: String,
}

/// `POST /api/admin/users/{id}/password` `{ password }`: a reset.
pub async fn reset_password(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    body: Result<Json<NewPassword>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let Json(body) = body?;
    let user = user_by_id(&state, &id).await?;
    accounts::set_password(users(&state), &user.username, &body.password)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
