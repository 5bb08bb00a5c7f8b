//! The one fake model server of the tests: a local HTTP server that answers
//! every POST from a script, in the vendors' real wire formats. Scripted
//! turns speak OpenAI's streaming chat completions (text, tool calls, slow
//! or endless text, usage, unreadable bytes); `Sse` and `Stall` replay
//! recorded bytes of any vendor; `Status` is an error answer with headers.
//! It records every request it was sent. Memory extraction requests (known
//! by the extraction prompt) are answered apart, from `extraction`, and
//! recorded apart, so they never take a scripted turn.
#![allow(dead_code)] // each test module uses part of it

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
    routing::post,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Turn {
    /// Tool calls: (id, name, arguments JSON).
    Calls(Vec<(&'static str, &'static str, Value)>),
    Text(&'static str),
    /// Words sent one every `gap`.
    Slow(&'static str, Duration),
    /// `w0 w1 … w{n-1} `, one word every `gap`.
    Words(usize, Duration),
    /// "Partial ", then nothing, forever (for cancellation).
    Endless,
    /// Text, then a usage report of (input, output) tokens.
    Metered(&'static str, u64, u64),
    /// "Hal", then bytes that are not a chunk at all.
    Garbage,
    /// Recorded SSE bytes of any vendor, as they are.
    Sse(Vec<u8>),
    /// These bytes, then nothing, forever (an idle stream).
    Stall(Vec<u8>),
    /// An error answer: status, headers, JSON body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// An error status whose body never ends.
    EndlessError(u16),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// The running fake: its script and the requests it received.
#[derive(Clone)]
pub struct FakeModel {
    script: Arc<Mutex<VecDeque<Turn>>>,
    /// Answers every request once the script is used up (else "(script exhausted)").
    always: Option<Turn>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The answer to memory extraction requests (none found, unless set).
    extraction: Arc<Mutex<Turn>>,
    /// The memory extraction requests received.
    pub extractions: Arc<Mutex<Vec<Seen>>>,
    /// The conversation summary requests received (answered with the start
    /// of what they were given, as a summary that keeps the beginning).
    pub summaries: Arc<Mutex<Vec<Seen>>>,
    /// `http://127.0.0.1:port`
    pub base: String,
}

pub fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({ "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "fake",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
    format!("data: {body}\n\n")
}

fn end(finish: &str) -> String {
    format!("{}data: [DONE]\n\n", chunk(json!({}), Some(finish)))
}

fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ')
        .map(|w| chunk(json!({ "content": w }), None))
        .collect()
}

fn slowly(pieces: Vec<String>, gap: Duration) -> Body {
    Body::from_stream(futures::stream::iter(pieces).then(move |w| async move {
        tokio::time::sleep(gap).await;
        Ok::<_, std::io::Error>(Bytes::from(w))
    }))
}

fn then_nothing(first: Vec<u8>) -> Body {
    let first = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) });
    Body::from_stream(first.chain(futures::stream::pending()))
}

fn body(turn: Turn) -> Body {
    match turn {
        Turn::Calls(calls) => {
            let mut out = chunk(json!({ "role": "assistant", "content": null }), None);
            for (i, (id, name, args)) in calls.iter().enumerate() {
                out.push_str(&chunk(json!({ "tool_calls": [{ "index": i, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] }), None));
                let args = args.to_string();
                let (a, b) = args.split_at(args.len() / 2);
                for piece in [a, b] {
                    out.push_str(&chunk(json!({ "tool_calls": [{ "index": i, "function": { "arguments": piece } }] }), None));
                }
            }
            out.push_str(&end("tool_calls"));
            Body::from(out)
        }
        Turn::Text(text) => Body::from(words(text).concat() + &end("stop")),
        Turn::Slow(text, gap) => {
            let mut pieces = words(text);
            pieces.push(end("stop"));
            slowly(pieces, gap)
        }
        Turn::Words(n, gap) => {
            let text: String = (0..n).map(|i| format!("w{i} ")).collect();
            let mut pieces: Vec<String> = text
                .split_inclusive(' ')
                .map(|w| chunk(json!({ "content": w }), None))
                .collect();
            pieces.push(end("stop"));
            slowly(pieces, gap)
        }
        Turn::Endless => then_nothing(chunk(json!({ "content": "Partial " }), None).into_bytes()),
        Turn::Metered(text, input, output) => {
            let usage = json!({ "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "fake",
                "choices": [], "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output } });
            Body::from(
                words(text).concat()
                    + &chunk(json!({}), Some("stop"))
                    + &format!("data: {usage}\n\ndata: [DONE]\n\n"),
            )
        }
        Turn::Garbage => {
            Body::from(chunk(json!({ "content": "Hal" }), None) + "data: {not a chunk\n\n")
        }
        Turn::Sse(bytes) => Body::from(bytes),
        Turn::Stall(first) => then_nothing(first),
        Turn::Status(..) => Body::empty(),
        Turn::EndlessError(_) => Body::from_stream(futures::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 4096]))
        })),
    }
}

async fn handle(
    State(fake): State<FakeModel>,
    uri: Uri,
    headers: HeaderMap,
    request: Bytes,
) -> Response {
    let seen = Seen {
        uri: uri.to_string(),
        headers,
        body: serde_json::from_slice(&request).unwrap_or(Value::Null),
    };
    let extraction = seen.body["messages"][0]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with(chat_server::memory::extract::EXTRACTION_PROMPT));
    if extraction {
        fake.extractions.lock().await.push(seen);
        let turn = fake.extraction.lock().await.clone();
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(body(turn))
            .expect("response");
    }
    let summary = seen.body["messages"][0]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with(chat_server::conversations::summaries::SUMMARY_PROMPT));
    if summary {
        let given: String = seen.body["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(1_200)
            .collect();
        fake.summaries.lock().await.push(seen);
        let text: &'static str = Box::leak(format!("Summary: {given}").into_boxed_str());
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(body(Turn::Text(text)))
            .expect("response");
    }
    fake.seen.lock().await.push(seen);
    let next = fake.script.lock().await.pop_front();
    let turn = next
        .or_else(|| fake.always.clone())
        .unwrap_or(Turn::Text("(script exhausted)"));
    match turn {
        Turn::Status(status, headers, error) => headers
            .into_iter()
            .fold(
                Response::builder().status(StatusCode::from_u16(status).expect("status")),
                |r, (k, v)| r.header(k, v),
            )
            .header("content-type", "application/json")
            .body(Body::from(error)),
        Turn::EndlessError(status) => Response::builder()
            .status(StatusCode::from_u16(status).expect("status"))
            .body(body(Turn::EndlessError(status))),
        turn => Response::builder()
            .header("content-type", "text/event-stream")
            .body(body(turn)),
    }
    .expect("response")
}

impl FakeModel {
    /// Starts serving `script` on a loopback port.
    pub async fn start(script: Vec<Turn>) -> Self {
        Self::serve(script, None).await
    }

    /// Answers every request with `turn`.
    pub async fn always(turn: Turn) -> Self {
        Self::serve(Vec::new(), Some(turn)).await
    }

    async fn serve(script: Vec<Turn>, always: Option<Turn>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let fake = FakeModel {
            script: Arc::new(Mutex::new(script.into())),
            always,
            seen: Arc::default(),
            extraction: Arc::new(Mutex::new(Turn::Text("{\"memories\": []}"))),
            extractions: Arc::default(),
            summaries: Arc::default(),
            base: format!("http://{}", listener.local_addr().expect("addr")),
        };
        let app = Router::new()
            .fallback(post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// Answers memory extraction requests with `turn` from now on.
    pub async fn extract_with(&self, turn: Turn) {
        *self.extraction.lock().await = turn;
    }

    /// The base URL for the OpenAI provider (`.../v1`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.base)
    }

    /// The JSON bodies of the requests so far.
    pub async fn bodies(&self) -> Vec<Value> {
        self.seen
            .lock()
            .await
            .iter()
            .map(|s| s.body.clone())
            .collect()
    }

    pub async fn requests(&self) -> usize {
        self.seen.lock().await.len()
    }
}
