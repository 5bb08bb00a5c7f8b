//! OpenAI Chat Completions, and every server that speaks it (Ollama, vLLM,
//! llama.cpp, LM Studio, OpenRouter, Groq): request building and the
//! `data:`-only SSE stream with its `[DONE]` terminator.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    ChatRequest, FinishReason, Message, ProviderError, ProviderEvent, StreamParser, ToolCall,
    Usage, parse_arguments, sse::SseItem,
};

/// The request body for `POST {base}/chat/completions`.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    for message in &request.messages {
        match message {
            Message::User { text } => messages.push(json!({ "role": "user", "content": text })),
            Message::Assistant { text, tool_calls } => {
                let mut m = json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) } });
                if !tool_calls.is_empty() {
                    m["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({ "id": c.id, "type": "function",
                                    "function": { "name": c.name, "arguments": c.arguments.to_string() } })
                        })
                        .collect();
                }
                messages.push(m);
            }
            // One `tool` message per call id.
            Message::Tool { results } => messages.extend(results.iter().map(
                |r| json!({ "role": "tool", "tool_call_id": r.call_id, "content": r.content }),
            )),
        }
    }
    let mut body = json!({
        "model": model,
        "stream": true,
        "stream_options": { "include_usage": true },
        "messages": messages,
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": t.parameters } }))
            .collect();
        body["tool_choice"] = json!("auto");
    }
    if let Some(max) = request.max_tokens {
        body["max_tokens"] = json!(max);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    body
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// Stream state: tool-call pieces are joined by `index`, never by position.
#[derive(Debug, Default)]
pub struct OpenAiParser {
    calls: BTreeMap<usize, PendingCall>,
    finish: Option<String>,
    done: bool,
}

pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u["prompt_tokens"].as_u64(),
        output_tokens: u["completion_tokens"].as_u64(),
        reasoning_tokens: u
            .pointer("/completion_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64),
        total_tokens: u["total_tokens"].as_u64(),
    })
}

/// An `error` object inside the stream (OpenAI, Groq, OpenRouter, vLLM, llama.cpp).
pub fn stream_error(error: &Value) -> ProviderError {
    let message = error["message"]
        .as_str()
        .unwrap_or("unknown error")
        .to_owned();
    let code = match (&error["code"], &error["type"]) {
        (Value::String(c), _) => Some(c.clone()),
        (Value::Number(n), _) => Some(n.to_string()),
        (_, Value::String(t)) => Some(t.clone()),
        _ => None,
    };
    let retryable = matches!(
        code.as_deref(),
        Some("server_error" | "overloaded" | "rate_limit_exceeded" | "500" | "502" | "503")
    );
    ProviderError::Stream {
        code,
        message,
        retryable,
    }
}

impl StreamParser for OpenAiParser {
    fn item(&mut self, item: SseItem, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        let SseItem::Event { event, data } = item else {
            return Ok(());
        };
        if self.done {
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(&data)
            .map_err(|e| ProviderError::Protocol(format!("bad chunk: {e}")))?;
        if let Some(u) = usage(&chunk) {
            out.push(ProviderEvent::Usage { usage: u });
        }
        if event.as_deref() == Some("error") || chunk.get("error").is_some_and(|e| !e.is_null()) {
            // Report how far the model got (OpenRouter sends finish_reason before its error).
            if let Some(raw) = self.finish.take() {
                out.push(ProviderEvent::Finish {
                    reason: finish_reason(&raw),
                    raw,
                });
            }
            return Err(stream_error(chunk.get("error").unwrap_or(&chunk)));
        }
        for choice in chunk["choices"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let delta = &choice["delta"];
            for key in ["reasoning", "reasoning_content"] {
                if let Some(text) = delta[key].as_str().filter(|t| !t.is_empty()) {
                    out.push(ProviderEvent::ReasoningDelta {
                        text: text.to_owned(),
                    });
                }
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                out.push(ProviderEvent::TextDelta {
                    text: text.to_owned(),
                });
            }
            if let Some(text) = delta["refusal"].as_str().filter(|t| !t.is_empty()) {
                out.push(ProviderEvent::RefusalDelta {
                    text: text.to_owned(),
                });
            }
            for call in delta["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let index = call["index"].as_u64().unwrap_or(0) as usize;
                let pending = self.calls.entry(index).or_default();
                let fresh = pending.id.is_empty() && pending.name.is_empty();
                if let Some(id) = call["id"].as_str() {
                    pending.id = id.to_owned();
                }
                if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                    pending.name.push_str(name);
                }
                if fresh && (!pending.id.is_empty() || !pending.name.is_empty()) {
                    out.push(ProviderEvent::ToolCallStart {
                        index,
                        id: pending.id.clone(),
                        name: pending.name.clone(),
                    });
                }
                if let Some(args) = call
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                {
                    pending.arguments.push_str(args);
                    out.push(ProviderEvent::ToolCallDelta {
                        index,
                        arguments: args.to_owned(),
                    });
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish = Some(reason.to_owned());
            }
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        for (index, pending) in std::mem::take(&mut self.calls) {
            let arguments = parse_arguments(&pending.name, &pending.arguments)?;
            let id = if pending.id.is_empty() {
                format!("call_{index}")
            } else {
                pending.id
            };
            out.push(ProviderEvent::ToolCall {
                index,
                call: ToolCall {
                    id,
                    name: pending.name,
                    arguments,
                    signature: None,
                },
            });
        }
        if let Some(raw) = self.finish.take() {
            out.push(ProviderEvent::Finish {
                reason: finish_reason(&raw),
                raw,
            });
        }
        Ok(())
    }
}
