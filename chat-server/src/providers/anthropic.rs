//! Anthropic Messages: request building and the `event:` + `data:` stream
//! that ends at `message_stop`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    ChatRequest, FinishReason, Message, ProviderError, ProviderEvent, StreamParser, ToolCall,
    Usage, parse_arguments, sse::SseItem,
};

/// Anthropic requires `max_tokens`; this is used when the request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The request body for `POST {base}/v1/messages`.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    for message in &request.messages {
        match message {
            Message::User { text } => messages.push(json!({ "role": "user", "content": text })),
            Message::Assistant { text, tool_calls } => {
                let mut content = Vec::new();
                if !text.is_empty() {
                    content.push(json!({ "type": "text", "text": text }));
                }
                content.extend(
                    tool_calls
                        .iter()
                        .map(|c| json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments })),
                );
                messages.push(json!({ "role": "assistant", "content": content }));
            }
            // All results of one assistant turn go in one user message.
            Message::Tool { results } => messages.push(json!({
                "role": "user",
                "content": results.iter().map(|r| {
                    let mut block = json!({ "type": "tool_result", "tool_use_id": r.call_id, "content": r.content });
                    if r.is_error {
                        block["is_error"] = json!(true);
                    }
                    block
                }).collect::<Vec<_>>()
            })),
        }
    }
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
        "messages": messages,
    });
    if let Some(system) = &request.system {
        body["system"] = json!(system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
            .collect();
        body["tool_choice"] = json!({ "type": "auto" });
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    body
}

#[derive(Debug)]
struct ToolBlock {
    id: String,
    name: String,
    input: String,
}

#[derive(Debug, Default)]
pub struct AnthropicParser {
    tools: BTreeMap<usize, ToolBlock>,
    stop_reason: Option<String>,
    usage: Usage,
    stopped: bool,
}

pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

impl AnthropicParser {
    fn usage_from(&mut self, u: &Value) -> Option<Usage> {
        if !u.is_object() {
            return None;
        }
        if let Some(n) = u["input_tokens"].as_u64() {
            self.usage.input_tokens = Some(n);
        }
        if let Some(n) = u["output_tokens"].as_u64() {
            self.usage.output_tokens = Some(n); // cumulative: the last value is the total
        }
        Some(self.usage)
    }

    fn close_tool(
        &mut self,
        index: usize,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<(), ProviderError> {
        if let Some(block) = self.tools.remove(&index) {
            let arguments = parse_arguments(&block.name, &block.input)?;
            out.push(ProviderEvent::ToolCall {
                index,
                call: ToolCall {
                    id: block.id,
                    name: block.name,
                    arguments,
                    signature: None,
                },
            });
        }
        Ok(())
    }

    /// At `message_stop` (or end of bytes): report the finish, then refuse any
    /// tool call whose input never completed (e.g. cut off by max_tokens).
    fn stop(&mut self, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if let Some(raw) = self.stop_reason.take() {
            out.push(ProviderEvent::Finish {
                reason: finish_reason(&raw),
                raw,
            });
        }
        let open: Vec<usize> = self.tools.keys().copied().collect();
        for index in open {
            self.close_tool(index, out)?;
        }
        Ok(())
    }
}

impl StreamParser for AnthropicParser {
    fn item(&mut self, item: SseItem, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        let SseItem::Event { event, data } = item else {
            return Ok(());
        };
        let v: Value = serde_json::from_str(&data)
            .map_err(|e| ProviderError::Protocol(format!("bad event: {e}")))?;
        let kind = event
            .or_else(|| v["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let index = v["index"].as_u64().unwrap_or(0) as usize;
        match kind.as_str() {
            "message_start" => {
                if let Some(u) = self.usage_from(&v["message"]["usage"]) {
                    out.push(ProviderEvent::Usage { usage: u });
                }
            }
            "content_block_start" => {
                let block = &v["content_block"];
                if block["type"] == "tool_use" {
                    let id = block["id"].as_str().unwrap_or_default().to_owned();
                    let name = block["name"].as_str().unwrap_or_default().to_owned();
                    out.push(ProviderEvent::ToolCallStart {
                        index,
                        id: id.clone(),
                        name: name.clone(),
                    });
                    self.tools.insert(
                        index,
                        ToolBlock {
                            id,
                            name,
                            input: String::new(),
                        },
                    );
                }
            }
            "content_block_delta" => {
                let delta = &v["delta"];
                match delta["type"].as_str().unwrap_or_default() {
                    "text_delta" => out.push(ProviderEvent::TextDelta {
                        text: delta["text"].as_str().unwrap_or_default().to_owned(),
                    }),
                    "thinking_delta" => out.push(ProviderEvent::ReasoningDelta {
                        text: delta["thinking"].as_str().unwrap_or_default().to_owned(),
                    }),
                    "input_json_delta" => {
                        let piece = delta["partial_json"].as_str().unwrap_or_default();
                        if let Some(block) = self.tools.get_mut(&index) {
                            block.input.push_str(piece);
                        }
                        if !piece.is_empty() {
                            out.push(ProviderEvent::ToolCallDelta {
                                index,
                                arguments: piece.to_owned(),
                            });
                        }
                    }
                    _ => {} // signature_delta, citations
                }
            }
            "content_block_stop" => self.close_tool(index, out)?,
            "message_delta" => {
                if let Some(reason) = v["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(u) = self.usage_from(&v["usage"]) {
                    out.push(ProviderEvent::Usage { usage: u });
                }
            }
            "message_stop" => self.stop(out)?,
            "error" => {
                let error = &v["error"];
                let code = error["type"].as_str().map(str::to_owned);
                let retryable = matches!(
                    code.as_deref(),
                    Some("overloaded_error" | "api_error" | "rate_limit_error")
                );
                return Err(ProviderError::Stream {
                    message: error["message"]
                        .as_str()
                        .unwrap_or("unknown error")
                        .to_owned(),
                    code,
                    retryable,
                });
            }
            _ => {} // ping and future event types
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        self.stop(out)
    }
}
