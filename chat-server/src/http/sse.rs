//! The SSE writer: a run's log, read in batches, written as the AI SDK UI
//! message stream (`protocol`), with heartbeat comments while it is quiet,
//! ending when the run does (or when this replica closes, so clients resume
//! elsewhere).
//!
//! The body is written by hand rather than with axum's `Sse`: one `Event` per
//! part means one write per token, while a batch of the run log (everything
//! logged since the reader last looked) is encoded here as one chunk, which
//! keeps a busy server's writes few. The format is three fixed lines.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, header},
    response::Response,
};
use futures::{Stream, StreamExt};

use super::{AppState, protocol};
use crate::{agent::RunEvent, runs::log::follow_batches};

/// An SSE response: not cached, not buffered by nginx.
pub fn event_stream(
    body: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `chunks`, with a heartbeat comment whenever `every` passes without one.
pub fn with_heartbeats(
    chunks: impl Stream<Item = Bytes> + Send + 'static,
    every: Duration,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let start = tokio::time::Instant::now() + every;
    tokio_stream::StreamExt::timeout_repeating(chunks, tokio::time::interval_at(start, every))
        .map(|chunk| Ok(chunk.unwrap_or_else(|_| Bytes::from_static(b": heartbeat\n\n"))))
}

/// The SSE of run `run_id` from just after `after` (event number, part index).
pub fn run(state: &AppState, run_id: String, session_id: String, after: (u64, usize)) -> Response {
    let batches = follow_batches(state.runs.log(), run_id.clone(), 0);
    let chunks = protocol_chunks(batches, run_id, session_id, after)
        // A replica that shuts down ends its streams; clients resume elsewhere.
        .take_until(state.runs.closed().cancelled_owned());
    let mut response = event_stream(with_heartbeats(chunks, state.heartbeat));
    response.headers_mut().insert(
        protocol::HEADER.0,
        HeaderValue::from_static(protocol::HEADER.1),
    );
    response
}

/// The protocol's SSE events for each batch of run events, one chunk per
/// batch, ending with `data: [DONE]` after the terminal event.
fn protocol_chunks(
    batches: impl Stream<Item = Vec<(u64, RunEvent)>> + Send + 'static,
    run_id: String,
    session_id: String,
    after: (u64, usize),
) -> impl Stream<Item = Bytes> + Send + 'static {
    let mut mapper = protocol::Mapper::default();
    batches.filter_map(move |batch| {
        let mut out = String::new();
        for (seq, event) in batch {
            let parts = mapper.parts(seq, &event, &run_id, &session_id);
            for (i, part) in parts.into_iter().enumerate() {
                // Events are numbered from 1, so (0, 0) means "from the start".
                if (seq, i) > after {
                    out.push_str(&format!("id: {seq}.{i}\ndata: {part}\n\n"));
                }
            }
            if event.is_terminal() {
                out.push_str("data: [DONE]\n\n");
            }
        }
        std::future::ready((!out.is_empty()).then(|| Bytes::from(out)))
    })
}
