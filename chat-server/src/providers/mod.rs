//! LLM providers behind one streaming-first trait: Google Gemini, OpenAI Chat
//! Completions (and every OpenAI-compatible server) and Anthropic Messages
//! (the offline planner, which needs no vendor, is `agent::planner`). Each vendor module has a request builder
//! (the vendor's own shape for tools and tool results) and a stream parser
//! that turns its SSE into `ProviderEvent`s; `client` runs the HTTP exchange
//! with retries and timeouts.

pub mod anthropic;
pub mod client;
pub mod error;
pub mod gemini;
pub mod openai;
pub mod registry;
pub mod sse;
pub mod vendors;

use std::pin::Pin;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::error::{ProviderError, Timeout};
use self::sse::{SseDecoder, SseItem};
use crate::domain::{Message, ToolCall, ToolSpec, Usage};

/// What is sent to a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// A model other than the provider's default (an agent's own `model`).
    pub model: Option<String>,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// The user's profile, for a provider that reads it rather than the
    /// system prompt (the offline planner); vendors get it in `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::domain::Profile>,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    /// Safety filter, recitation, refusal.
    ContentFilter,
    Other(String),
}

/// One thing a provider stream says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderEvent {
    /// Answer text.
    TextDelta {
        text: String,
    },
    /// Reasoning / thinking, kept apart from the answer.
    ReasoningDelta {
        text: String,
    },
    /// A refusal message (OpenAI's `refusal` field).
    RefusalDelta {
        text: String,
    },
    /// A tool call begins (arguments may follow in pieces).
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// A piece of a tool call's JSON arguments.
    ToolCallDelta {
        index: usize,
        arguments: String,
    },
    /// A complete, validated tool call.
    ToolCall {
        index: usize,
        call: ToolCall,
    },
    Usage {
        usage: Usage,
    },
    /// The model stopped; `raw` is the vendor's own word for it.
    Finish {
        reason: FinishReason,
        raw: String,
    },
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

/// A model behind a vendor API (or the offline planner).
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// Provider kind: `gemini`, `openai`, `anthropic`, `offline`.
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    /// Starts a streamed completion. Errors before the first event (HTTP status,
    /// connection) come back here; errors inside the stream come as items.
    async fn stream(&self, request: &ChatRequest) -> Result<EventStream, ProviderError>;
}

/// A whole response, collected from a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub reasoning: String,
    pub refusal: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish: Option<FinishReason>,
}

impl Completion {
    /// Folds one event in.
    pub fn apply(&mut self, event: ProviderEvent) {
        match event {
            ProviderEvent::TextDelta { text } => self.text.push_str(&text),
            ProviderEvent::ReasoningDelta { text } => self.reasoning.push_str(&text),
            ProviderEvent::RefusalDelta { text } => self.refusal.push_str(&text),
            ProviderEvent::ToolCall { call, .. } => self.tool_calls.push(call),
            ProviderEvent::Usage { usage } => self.usage = merge_usage(self.usage, usage),
            ProviderEvent::Finish { reason, .. } => self.finish = Some(reason),
            ProviderEvent::ToolCallStart { .. } | ProviderEvent::ToolCallDelta { .. } => {}
        }
    }
}

/// Later reports win field by field (vendors repeat or complete usage as they go).
pub fn merge_usage(old: Usage, new: Usage) -> Usage {
    Usage {
        input_tokens: new.input_tokens.or(old.input_tokens),
        output_tokens: new.output_tokens.or(old.output_tokens),
        reasoning_tokens: new.reasoning_tokens.or(old.reasoning_tokens),
        total_tokens: new.total_tokens.or(old.total_tokens),
    }
}

/// The non-streaming call: collects the stream.
pub async fn complete(
    provider: &dyn LlmProvider,
    request: &ChatRequest,
) -> Result<Completion, ProviderError> {
    let mut stream = provider.stream(request).await?;
    let mut completion = Completion::default();
    while let Some(event) = stream.next().await {
        completion.apply(event?);
    }
    Ok(completion)
}

/// A vendor's stream format: SSE items in, provider events out.
pub trait StreamParser: Send + 'static {
    /// One decoded SSE item. `Ok(true)` in the result means the stream is done.
    fn item(&mut self, item: SseItem, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError>;
    /// End of the byte stream: complete what is pending, or explain what is missing.
    fn end(&mut self, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError>;
}

/// Runs a parser over byte chunks (a test helper as much as the core of `client`).
/// Stops at the first error, after the events that came before it.
pub fn parse_chunks<P: StreamParser>(
    mut parser: P,
    chunks: &[&[u8]],
) -> Vec<Result<ProviderEvent, ProviderError>> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut items: Vec<SseItem> = Vec::new();
    let mut refused = None;
    for chunk in chunks {
        match decoder.feed(chunk) {
            Ok(decoded) => items.extend(decoded),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    if refused.is_none() {
        items.extend(decoder.finish());
    }
    for item in items {
        if let Err(e) = parser.item(item, &mut events) {
            out.extend(events.drain(..).map(Ok));
            out.push(Err(e));
            return out;
        }
    }
    if let Some(e) = refused {
        out.extend(events.drain(..).map(Ok));
        out.push(Err(e));
        return out;
    }
    let end = parser.end(&mut events);
    out.extend(events.drain(..).map(Ok));
    if let Err(e) = end {
        out.push(Err(e));
    }
    out
}

/// Parses accumulated tool-call arguments; empty means `{}`. Truncated or invalid
/// JSON is an error naming the tool, never a call with made-up arguments.
pub fn parse_arguments(name: &str, raw: &str) -> Result<Value, ProviderError> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(Value::Object(map)),
        Ok(other) => Err(ProviderError::InvalidToolArguments {
            tool: name.to_owned(),
            detail: format!("arguments must be a JSON object, got {other}"),
        }),
        Err(e) => Err(ProviderError::InvalidToolArguments {
            tool: name.to_owned(),
            detail: format!("{e} in {} bytes of arguments", raw.len()),
        }),
    }
}
