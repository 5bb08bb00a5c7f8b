//! Admin endpoints (an admin's key with the `admin` scope, or an admin's
//! sign-in): users and API keys, as the `user` and `key` commands manage them.

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, error::AppError};
use crate::{
    admin,
    auth::{Principal, Scope, UserRole},
    store::users::UserStore,
};

fn require_admin(principal: &Principal) -> Result<(), AppError> {
    principal.require(Scope::Admin)?;
    if principal.sees_all() {
        Ok(())
    } else {
        Err(AppError::Forbidden("this is for admins".into()))
    }
}

fn users(state: &AppState) -> &dyn UserStore {
    state.auth.users()
}

/// `GET /api/admin/users`
pub async fn list_users(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, AppError> {
    require_admin(&principal)?;
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
    Extension(principal): Extension<Principal>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, AppError> {
    require_admin(&principal)?;
    let Json(body) = body?;
    let role = match body.role.as_deref() {
        None => UserRole::User,
        Some(role) => UserRole::parse(role)
            .ok_or_else(|| AppError::BadRequest("role must be user or admin".into()))?,
    };
    let user = admin::add_user(users(&state), &body.username, role, &body.password)
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
    Extension(principal): Extension<Principal>,
    Query(filter): Query<KeyFilter>,
) -> Result<Response, AppError> {
    require_admin(&principal)?;
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
    Extension(principal): Extension<Principal>,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<Response, AppError> {
    require_admin(&principal)?;
    let Json(body) = body?;
    let (key, record) = admin::create_key(
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
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    require_admin(&principal)?;
    admin::revoke_key(users(&state), &id)
        .await
        .map_err(|e| AppError::NotFound(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
