//! Admin endpoints (an admin's key with the `admin` scope, or an admin's
//! sign-in): users and API keys, as the `user` and `key` commands manage
//! them, and the security report of the last 24 hours.

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
    store::users::{SecurityEvent, UserStore},
};

fn users(state: &AppState) -> &dyn UserStore {
    state.auth.users()
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
    Caller(principal): Caller,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(crate::domain::Scope::Admin)?;
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
    let failed = |e: &&SecurityEvent| {
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
