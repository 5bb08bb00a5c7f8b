//! The answer to a completion request: one `chat.completion` when the
//! client waits for it, or `chat.completion.chunk` events as the run goes
//! (cancelling the run if the client leaves before its end). What the run
//! said comes from its transcript.

use std::convert::Infallible;

use axum::{
    Json,
    body::Bytes,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{
    agent::{RunEvent, Transcript},
    domain::ToolCall,
    http::{
        AppState,
        error::{AppError, openai::OpenAiError},
        sse,
    },
    runs::log::follow,
};

pub struct Completion {
    pub id: String,
    pub model: String,
    pub created: u64,
}

/// Why the model stopped, as OpenAI says it.
fn finish_reason(transcript: &Transcript) -> &'static str {
    if transcript.client_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

fn usage_json(transcript: &Transcript) -> Value {
    let (input, output) = (
        transcript.input_tokens.unwrap_or(0),
        transcript.output_tokens.unwrap_or(0),
    );
    json!({ "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output })
}
fn tool_calls_json(calls: &[ToolCall]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({ "index": i, "id": c.id, "type": "function",
                "function": { "name": c.name, "arguments": c.arguments.to_string() } })
        })
        .collect()
}

/// The whole answer, waited for up to `CHAT_TIMEOUT`. The run is cancelled
/// when the client leaves first, or when the wait runs out: nobody would
/// read its answer.
pub async fn whole(
    state: &AppState,
    run_id: &str,
    completion: Completion,
) -> Result<Response, OpenAiError> {
    let mut guard = CancelOnDrop {
        state: state.clone(),
        run_id: run_id.to_owned(),
        done: false,
    };
    let events = follow(state.runs.log(), run_id.to_owned(), 0).collect::<Vec<_>>();
    let Ok(events) = tokio::time::timeout(state.chat_timeout, events).await else {
        return Err(AppError::TimedOut(format!(
            "no whole answer within {:.0} s; ask with stream: true to read it as it comes",
            state.chat_timeout.as_secs_f64()
        ))
        .into());
    };
    guard.finished();
    let transcript = Transcript::of(events.iter().map(|(_, e)| e));
    if let Some(message) = transcript.failure() {
        return Err(AppError::Upstream(message).into());
    }
    let text = transcript.text();
    let mut message = json!({ "role": "assistant", "content": text, "refusal": null });
    if !transcript.client_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls_json(&transcript.client_calls));
        if text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    Ok(Json(json!({
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "system_fingerprint": null,
        "choices": [{ "index": 0, "message": message, "logprobs": null,
            "finish_reason": finish_reason(&transcript) }],
        "usage": usage_json(&transcript),
    }))
    .into_response())
}

/// Cancels the run if the client goes away before its end.
struct CancelOnDrop {
    state: AppState,
    run_id: String,
    done: bool,
}

impl CancelOnDrop {
    fn finished(&mut self) {
        self.done = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.done {
            let (runs, run_id) = (self.state.runs.clone(), self.run_id.clone());
            tracing::info!(run_id = %run_id, "API client left before the answer's end; cancelling the run");
            tokio::spawn(async move { runs.cancel(&run_id).await });
        }
    }
}

/// One `chat.completion.chunk` event.
fn chunk(completion: &Completion, choices: Value, usage: Option<Value>) -> Bytes {
    let mut body = json!({
        "id": completion.id, "object": "chat.completion.chunk", "created": completion.created,
        "model": completion.model, "system_fingerprint": null, "choices": choices,
    });
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    Bytes::from(format!("data: {body}\n\n"))
}

pub fn stream(
    state: &AppState,
    run_id: String,
    completion: Completion,
    include_usage: bool,
) -> Response {
    let events = follow(state.runs.log(), run_id.clone(), 0);
    let guard = CancelOnDrop {
        state: state.clone(),
        run_id,
        done: false,
    };
    // With include_usage every chunk has `usage: null` but the last.
    let null_usage = include_usage.then_some(Value::Null);
    let delta = move |completion: &Completion, delta: Value, finish: Option<&str>| {
        let choices =
            json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
        chunk(completion, choices, null_usage.clone())
    };
    let body = async_stream::stream! {
        // The whole guard moves into the stream: dropped with it.
        let mut guard = guard;
        let mut events = std::pin::pin!(events);
        let mut transcript = Transcript::default();
        yield Ok::<_, Infallible>(delta(&completion, json!({ "role": "assistant", "content": "" }), None));
        while let Some((_, event)) = events.next().await {
            match &event {
                RunEvent::TextDelta { text } => yield Ok(delta(&completion, json!({ "content": text }), None)),
                RunEvent::ClientToolCalls { calls } => {
                    yield Ok(delta(&completion, json!({ "tool_calls": tool_calls_json(calls) }), None));
                }
                // A run that changed replicas mid-step starts that step
                // again; an OpenAI client cannot take text back, so it is told.
                RunEvent::StepDiscarded { .. } => {
                    yield Ok(delta(&completion, json!({ "content": "\n\n[interrupted; answering again]\n\n" }), None));
                }
                _ => {}
            }
            transcript.apply(&event);
            if event.is_terminal() {
                break;
            }
        }
        guard.finished();
        if let Some(message) = transcript.failure() {
            let error = json!({ "error": { "message": message, "type": "server_error", "param": null, "code": null } });
            yield Ok(Bytes::from(format!("data: {error}\n\n")));
        } else {
            yield Ok(delta(&completion, json!({}), Some(finish_reason(&transcript))));
            if include_usage {
                yield Ok(chunk(&completion, json!([]), Some(usage_json(&transcript))));
            }
        }
        yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
    };
    // Keep-alive comments while the run is quiet, as on /chat/stream.
    let body = body.map(|chunk: Result<Bytes, Infallible>| match chunk {
        Ok(bytes) => bytes,
        Err(never) => match never {},
    });
    sse::event_stream(sse::with_heartbeats(body, state.heartbeat))
}
