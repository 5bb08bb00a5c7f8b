//! Starting a run: `POST /chat/stream` answers with the run's SSE (the AI SDK
//! UI message stream), `POST /api/chat` waits and answers with the whole
//! answer as JSON (the run goes on if the wait runs out).

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sessions::visible_session;
use crate::{
    agent::{Transcript, transcript::Outcome},
    auth::Principal,
    domain::Scope,
    http::{AppState, caller::Caller, error::AppError, sse},
    runs::{RunHandle, TurnRequest, log::follow},
};

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub message: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    /// A new conversation that reads and writes no memory.
    #[serde(default)]
    pub temporary: bool,
}

fn validated(body: Result<Json<ChatBody>, JsonRejection>) -> Result<ChatBody, AppError> {
    let Json(body) = body?;
    let chars = body.message.chars().count();
    if body.message.trim().is_empty() {
        return Err(AppError::BadRequest("message must not be empty".into()));
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(AppError::BadRequest(format!(
            "message is too long ({chars} characters; at most {MAX_MESSAGE_CHARS})"
        )));
    }
    Ok(body)
}

async fn start(
    state: &AppState,
    principal: &Principal,
    body: ChatBody,
) -> Result<RunHandle, AppError> {
    principal.require(Scope::Chat)?;
    if let Some(id) = &body.session_id {
        visible_session(state, principal, id).await?;
        if body.temporary {
            return Err(AppError::BadRequest(
                "temporary applies to a new conversation (without session_id)".into(),
            ));
        }
    }
    let agents = state.runs.agent_names();
    if let Some(agent) = &body.agent
        && agents.iter().all(|a| a != agent)
    {
        return Err(AppError::BadRequest(format!(
            "unknown agent {agent:?}; agents: {}",
            agents.join(", ")
        )));
    }
    let request = TurnRequest {
        session_id: body.session_id,
        owner: principal.owner().map(str::to_owned),
        agent: body.agent,
        // A key without the memory scope neither reads nor writes memory.
        memory: principal.allows(Scope::Memory),
        temporary: body.temporary,
        ..TurnRequest::new(&body.message)
    };
    Ok(state.runs.start(request).await?)
}

/// `POST /chat/stream` `{ message, session_id?, agent?, temporary? }`
pub async fn stream(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let body = validated(body)?;
    let handle = start(&state, &principal, body).await?;
    Ok(sse::run(&state, handle.run_id, handle.session_id, (0, 0)))
}

/// `POST /api/chat` `{ message, session_id?, agent?, temporary? }`: the whole answer.
pub async fn whole(
    State(state): State<AppState>,
    Caller(principal): Caller,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let body = validated(body)?;
    let handle = start(&state, &principal, body).await?;
    let mut transcript = Transcript::default();
    let mut events = Box::pin(follow(state.runs.log(), handle.run_id.clone(), 0));
    while let Some((_, event)) = events.next().await {
        transcript.apply(&event);
    }
    let status = match &transcript.outcome {
        Some(Outcome::Failed(message)) => return Err(AppError::Upstream(message.clone())),
        Some(Outcome::Cancelled) => "cancelled",
        _ => "completed",
    };
    let tool_calls: Vec<Value> = transcript
        .calls()
        .map(|c| {
            let mut call = json!({ "id": c.id, "tool": c.tool, "arguments": c.input });
            if let Some(output) = &c.output {
                call["result"] = json!(output);
                call["is_error"] = json!(c.is_error);
                call["duration_ms"] = json!(c.duration_ms);
            }
            call
        })
        .collect();
    Ok(Json(json!({
        "session_id": handle.session_id,
        "run_id": handle.run_id,
        "status": status,
        "agent": transcript.agent,
        "message": transcript.text(),
        "tool_calls": tool_calls,
        "memories": transcript.memories,
        "usage": { "input_tokens": transcript.input_tokens, "output_tokens": transcript.output_tokens },
    }))
    .into_response())
}
