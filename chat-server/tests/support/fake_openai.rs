//! A local model server speaking OpenAI's streaming chat-completions wire
//! format, replaying a script of turns: text, tool calls, slow text, text that
//! never ends, or an HTTP error status with headers (a 429 with Retry-After).
#![allow(dead_code)] // each test binary uses part of it

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    response::Response,
    routing::post,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One scripted model turn.
pub enum Turn {
    /// Tool calls: (id, name, arguments JSON).
    Calls(Vec<(&'static str, &'static str, Value)>),
    Text(&'static str),
    /// Words sent one every `gap`.
    Slow(&'static str, Duration),
    /// Text that never ends (for cancellation).
    Endless,
    /// An error response: status, headers, JSON body.
    Status(u16, Vec<(&'static str, &'static str)>, Value),
}

pub fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({ "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "fake",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
    format!("data: {body}\n\n")
}

fn end(finish: &str) -> String {
    format!("{}data: [DONE]\n\n", chunk(json!({}), Some(finish)))
}

fn stream(turn: Turn) -> Body {
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
        Turn::Text(text) => {
            let mut out = String::new();
            for word in text.split_inclusive(' ') {
                out.push_str(&chunk(json!({ "content": word }), None));
            }
            out.push_str(&end("stop"));
            Body::from(out)
        }
        Turn::Slow(text, gap) => {
            let words: Vec<String> = text
                .split_inclusive(' ')
                .map(|w| chunk(json!({ "content": w }), None))
                .chain([end("stop")])
                .collect();
            Body::from_stream(futures::stream::iter(words).then(move |w| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, std::io::Error>(Bytes::from(w))
            }))
        }
        Turn::Endless => {
            let first = futures::stream::once(async {
                Ok::<_, std::io::Error>(Bytes::from(chunk(json!({ "content": "Partial " }), None)))
            });
            Body::from_stream(first.chain(futures::stream::pending()))
        }
        Turn::Status(..) => Body::empty(),
    }
}

/// The running fake: its script and the requests it received.
#[derive(Clone, Default)]
pub struct FakeOpenAi {
    turns: Arc<Mutex<VecDeque<Turn>>>,
    pub requests: Arc<Mutex<Vec<Value>>>,
    /// Base URL for the OpenAI provider (`.../v1`).
    pub base: String,
}

async fn handle(State(fake): State<FakeOpenAi>, body: Bytes) -> Response {
    fake.requests
        .lock()
        .await
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let turn = fake
        .turns
        .lock()
        .await
        .pop_front()
        .unwrap_or(Turn::Text("(script exhausted)"));
    let response = Response::builder();
    match turn {
        Turn::Status(status, headers, error) => headers
            .into_iter()
            .fold(response.status(status), |r, (k, v)| r.header(k, v))
            .header("content-type", "application/json")
            .body(Body::from(error.to_string())),
        turn => response
            .header("content-type", "text/event-stream")
            .body(stream(turn)),
    }
    .expect("response")
}

impl FakeOpenAi {
    /// Starts serving `turns` on a loopback port.
    pub async fn start(turns: Vec<Turn>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let fake = FakeOpenAi {
            turns: Arc::new(Mutex::new(turns.into())),
            requests: Arc::default(),
            base: format!("http://{}/v1", listener.local_addr().expect("addr")),
        };
        let app = Router::new()
            .fallback(post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }
}
