//! `GET /api/admin/security-report` (admins only): the last 24 hours of the
//! audit log, the API keys, who used the service most, and how many
//! memories are kept (counts, never their text).

use std::collections::HashMap;

use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{
    domain::Scope,
    http::{AppState, caller::Caller, error::AppError},
    store::{now_ms, users::SecurityEvent},
};

/// How far back the report looks.
const PERIOD_MS: i64 = 24 * 3_600_000;

/// The ten values of `events` (each counted as often as it was seen) that
/// were seen most, most first.
fn top<'a>(events: impl Iterator<Item = (&'a str, i64)>) -> Vec<Value> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for (key, count) in events {
        *counts.entry(key).or_default() += count;
    }
    let mut counts: Vec<(&str, i64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .into_iter()
        .take(10)
        .map(|(key, count)| json!({ "value": key, "count": count }))
        .collect()
}

fn by_address(event: &SecurityEvent) -> Option<(&str, i64)> {
    Some((event.address.as_deref()?, event.count))
}

fn by_username(event: &SecurityEvent) -> Option<(&str, i64)> {
    Some((event.username.as_deref()?, event.count))
}

fn failure(event: &&SecurityEvent) -> bool {
    matches!(
        event.kind.as_str(),
        "login_failed" | "login_refused" | "invalid_credentials"
    )
}

/// The API keys: how many, how many still work, how many were used lately.
async fn keys(state: &AppState, since: i64, now: i64) -> Result<Value, AppError> {
    let keys = state.auth.users().keys(None).await?;
    let active = keys
        .iter()
        .filter(|k| k.revoked_at.is_none() && k.expires_at.is_none_or(|at| at > now))
        .count();
    let used = keys
        .iter()
        .filter(|k| k.last_used_at.is_some_and(|at| at >= since))
        .count();
    Ok(json!({ "total": keys.len(), "active": active, "used_in_period": used }))
}

/// Who ran the most in the period: runs started and model tokens spent.
async fn most_active(state: &AppState, since: i64) -> Result<Vec<Value>, AppError> {
    let usage = state.store.usage_since(since, 10).await?;
    let users = state.auth.users().users().await?;
    let name = |owner: &Option<String>| match owner {
        Some(id) => users
            .iter()
            .find(|u| &u.id == id)
            .map_or(id.clone(), |u| u.username.clone()),
        None => "local".into(),
    };
    Ok(usage
        .iter()
        .map(|u| json!({ "user": name(&u.owner), "runs": u.runs, "tokens": u.tokens }))
        .collect())
}

/// `GET /api/admin/security-report`
pub async fn security_report(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<Value>, AppError> {
    principal.require(Scope::Admin)?;
    if !principal.sees_all() {
        return Err(AppError::Forbidden(
            "the security report is for admins".into(),
        ));
    }
    let until = now_ms();
    let since = until - PERIOD_MS;
    let events = state.auth.events_since(since).await?;
    let mut by_kind: serde_json::Map<String, Value> = serde_json::Map::new();
    for event in &events {
        let count = by_kind.entry(event.kind.clone()).or_insert(json!(0));
        *count = json!(count.as_i64().unwrap_or(0) + event.count);
    }
    Ok(Json(json!({
        "since": since,
        "until": until,
        "retention_days": state.audit_retention_days,
        "total": events.iter().map(|e| e.count).sum::<i64>(),
        "by_kind": by_kind,
        "failures_by_address": top(events.iter().filter(failure).filter_map(by_address)),
        "failures_by_username": top(events.iter().filter(failure).filter_map(by_username)),
        "denials_by_user": top(events.iter().filter(|e| e.kind == "permission_denied").filter_map(by_username)),
        "keys": keys(&state, since, until).await?,
        "most_active_users": most_active(&state, since).await?,
        // Counts only: an admin never reads another user's memories.
        "memory": state.memories.counts().await?,
        "recent": events.iter().take(50).collect::<Vec<_>>(),
    })))
}
