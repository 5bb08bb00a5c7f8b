//! `GET /api/runs/{run_id}/stream` (follow a run, or resume it after a
//! disconnect with `Last-Event-ID`, on any replica) and
//! `POST /api/runs/{run_id}/cancel` (stop it, keeping its partial answer).

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::sessions::visible_session;
use crate::{
    auth::Principal,
    domain::Scope,
    http::{AppState, caller::Caller, error::AppError, protocol, sse},
    store::Session,
};

/// The session of run `run_id` if `principal` may see it (404 otherwise),
/// and whether the run's events are still in the log.
async fn visible_run(
    state: &AppState,
    principal: &Principal,
    run_id: &str,
) -> Result<(Session, bool), AppError> {
    let missing = || AppError::NotFound(format!("no run has id {run_id:?}"));
    let (session_id, logged) = match state.runs.log().session(run_id).await {
        Some(session_id) => (session_id, true),
        None => (
            state
                .store
                .run(run_id)
                .await?
                .ok_or_else(missing)?
                .session_id,
            false,
        ),
    };
    let session = visible_session(state, principal, &session_id)
        .await
        .map_err(|_| missing())?;
    Ok((session, logged))
}

/// `GET /api/runs/{run_id}/stream`, with `Last-Event-ID` to resume.
pub async fn stream(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    // The log knows the runs it holds; the store, runs whose events have expired.
    let (session, logged) = visible_run(&state, &principal, &run_id).await?;
    if !logged {
        return Err(AppError::Gone(format!(
            "the events of run {run_id} are no longer kept; read the session instead"
        )));
    }
    let after = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        None => (0, 0),
        Some(id) => protocol::parse_event_id(id).ok_or_else(|| {
            AppError::BadRequest(format!(
                "Last-Event-ID {id:?} is not an event id of this API"
            ))
        })?,
    };
    Ok(sse::run(&state, run_id, session.id, after))
}

/// `POST /api/runs/{run_id}/cancel`: 202 while it stops, 409 when it is over.
pub async fn cancel(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(run_id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Scope::Chat)?;
    visible_run(&state, &principal, &run_id).await?;
    if state.runs.cancel(&run_id).await {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": run_id, "status": "cancelling" })),
        )
            .into_response());
    }
    match state.store.run(&run_id).await? {
        Some(run) => Err(AppError::Conflict(format!(
            "run {run_id} is not running (status {:?})",
            run.status
        ))),
        None => Err(AppError::NotFound(format!("no run has id {run_id:?}"))),
    }
}
