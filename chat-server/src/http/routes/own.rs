//! What a signed-in user (or a key's user) manages of their own: their
//! password (`POST /api/account/password`) and their API keys
//! (`GET|POST /api/account/keys`, `DELETE /api/account/keys/{id}`), with
//! scopes no wider than their own.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    auth::{Principal, accounts},
    domain::Scope,
    http::{AppState, caller::Caller, error::AppError},
};

/// The caller's user id; the local user has no account.
fn account(principal: &Principal) -> Result<&str, AppError> {
    principal
        .user_id
        .as_deref()
        .ok_or_else(|| AppError::BadRequest("the local user has no account; sign in".into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/account/password` `{ current, new }`
pub async fn change_password(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    account(&principal)?;
    let Json(body) = body?;
    let users = state.auth.users();
    let current = accounts::password_matches(users, &principal.username, &body.current)
        .await
        .map_err(|_| AppError::Internal)?;
    if !current {
        return Err(AppError::Forbidden("the current password is wrong".into()));
    }
    accounts::set_password(users, &principal.username, &body.new)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/account/keys`: never the keys themselves.
pub async fn list_keys(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    let user_id = account(&principal)?;
    let keys = state.auth.users().keys(Some(user_id)).await?;
    Ok(Json(json!({ "keys": keys })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnKey {
    scopes: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api/account/keys` `{ scopes, name?, expires_in_days? }`: the key
/// is in this answer only; it may do no more than the caller may.
pub async fn create_key(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<OwnKey>, JsonRejection>,
) -> Result<Response, AppError> {
    account(&principal)?;
    let Json(body) = body?;
    let scopes = Scope::parse_list(&body.scopes).map_err(AppError::BadRequest)?;
    if let Some(wider) = scopes.iter().find(|s| !principal.allows(**s)) {
        return Err(AppError::Forbidden(format!(
            "a key of yours cannot have the {:?} scope, which you do not have",
            wider.as_str()
        )));
    }
    let (key, record) = accounts::create_key(
        state.auth.users(),
        &principal.username,
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

/// `DELETE /api/account/keys/{id}`: one's own keys only (404 otherwise).
pub async fn revoke_key(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let user_id = account(&principal)?;
    let revoked = accounts::revoke_own_key(state.auth.users(), user_id, &id)
        .await
        .map_err(|_| AppError::Internal)?;
    if revoked {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::NotFound(format!(
            "you have no active key with id {id:?}"
        )))
    }
}
