//! Google Gemini `streamGenerateContent?alt=sse`: request building (function
//! declarations, function responses, thought signatures echoed back) and the
//! `data:`-only stream, which has no `[DONE]` and no tool finish reason.

use serde_json::{Map, Value, json};

use super::{
    ChatRequest, FinishReason, Message, ProviderError, ProviderEvent, StreamParser, ToolCall,
    Usage, sse::SseItem,
};

/// The request body for `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`.
pub fn request_body(request: &ChatRequest) -> Value {
    let mut contents = Vec::new();
    for message in &request.messages {
        match message {
            Message::User { text } => {
                contents.push(json!({ "role": "user", "parts": [{ "text": text }] }))
            }
            Message::Assistant { text, tool_calls } => {
                let mut parts = Vec::new();
                if !text.is_empty() {
                    parts.push(json!({ "text": text }));
                }
                for call in tool_calls {
                    let mut part =
                        json!({ "functionCall": { "name": call.name, "args": call.arguments } });
                    if let Some(signature) = &call.signature {
                        part["thoughtSignature"] = json!(signature);
                    }
                    parts.push(part);
                }
                contents.push(json!({ "role": "model", "parts": parts }));
            }
            // All responses to one model turn go in one content; `response` must be an object.
            Message::Tool { results } => contents.push(json!({
                "role": "user",
                "parts": results.iter().map(|r| {
                    let response = match serde_json::from_str::<Value>(&r.content) {
                        Ok(Value::Object(map)) if !r.is_error => Value::Object(map),
                        _ if r.is_error => json!({ "error": r.content }),
                        _ => json!({ "result": r.content }),
                    };
                    json!({ "functionResponse": { "name": r.name, "response": response } })
                }).collect::<Vec<_>>()
            })),
        }
    }
    let mut body = json!({ "contents": contents });
    if let Some(system) = &request.system {
        body["systemInstruction"] = json!({ "parts": [{ "text": system }] });
    }
    if !request.tools.is_empty() {
        body["tools"] = json!([{ "functionDeclarations": request.tools.iter().map(|t| json!({
            "name": t.name, "description": t.description, "parametersJsonSchema": t.parameters
        })).collect::<Vec<_>>() }]);
        body["toolConfig"] = json!({ "functionCallingConfig": { "mode": "AUTO" } });
    }
    let mut generation = Map::new();
    if let Some(max) = request.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(t) = request.temperature {
        generation.insert("temperature".into(), json!(t));
    }
    if !generation.is_empty() {
        body["generationConfig"] = Value::Object(generation);
    }
    body
}

/// A function call whose arguments are still streaming (Gemini 3 `partialArgs`).
#[derive(Debug)]
struct OpenCall {
    name: String,
    args: Map<String, Value>,
    signature: Option<String>,
}

#[derive(Debug, Default)]
pub struct GeminiParser {
    calls: usize,
    open: Option<OpenCall>,
    finish: Option<String>,
    /// Lines outside SSE framing (Vertex sends mid-stream errors as raw JSON).
    raw: String,
}

pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_owned()),
    }
}

/// An `{"error": {...}}` body (HTTP error, data event or raw JSON in the stream).
pub fn error_of(body: &Value) -> Option<ProviderError> {
    let error = body.get("error")?;
    let status = error["status"].as_str().map(str::to_owned);
    let code = error["code"].as_u64();
    let retryable = matches!(
        status.as_deref(),
        Some("UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "CANCELLED")
    ) || matches!(code, Some(499 | 500 | 503 | 504));
    Some(ProviderError::Stream {
        code: status.or_else(|| code.map(|c| c.to_string())),
        message: error["message"]
            .as_str()
            .unwrap_or("unknown error")
            .to_owned(),
        retryable,
    })
}

/// Sets `$.a.b` in `args`; string pieces of one value are appended.
fn set_path(args: &mut Map<String, Value>, path: &str, piece: &Value) {
    let keys: Vec<&str> = path
        .trim_start_matches('$')
        .split('.')
        .filter(|k| !k.is_empty())
        .collect();
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut node = args;
    for key in parents {
        let entry = node
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        node = next;
    }
    match (node.get_mut(*last), piece) {
        (Some(Value::String(existing)), Value::String(more)) => existing.push_str(more),
        _ => {
            node.insert((*last).to_owned(), piece.clone());
        }
    }
}

impl GeminiParser {
    fn emit_call(&mut self, call: OpenCall, out: &mut Vec<ProviderEvent>) {
        let index = self.calls;
        self.calls += 1;
        let id = format!("gemini-call-{index}");
        out.push(ProviderEvent::ToolCallStart {
            index,
            id: id.clone(),
            name: call.name.clone(),
        });
        out.push(ProviderEvent::ToolCall {
            index,
            call: ToolCall {
                id,
                name: call.name,
                arguments: Value::Object(call.args),
                signature: call.signature,
            },
        });
    }

    fn part(&mut self, part: &Value, out: &mut Vec<ProviderEvent>) {
        let signature = part["thoughtSignature"].as_str().map(str::to_owned);
        if let Some(call) = part.get("functionCall") {
            let name = call["name"].as_str();
            let partial = call["partialArgs"].as_array();
            let continues = call["willContinue"].as_bool().unwrap_or(false);
            match (name, partial) {
                (Some(name), _) => {
                    if let Some(open) = self.open.take() {
                        self.emit_call(open, out);
                    }
                    let args = call["args"].as_object().cloned().unwrap_or_default();
                    let open = OpenCall {
                        name: name.to_owned(),
                        args,
                        signature,
                    };
                    if continues {
                        self.open = Some(open)
                    } else {
                        self.emit_call(open, out)
                    }
                }
                (None, Some(pieces)) => {
                    if let Some(open) = self.open.as_mut() {
                        for piece in pieces {
                            let path = piece["jsonPath"].as_str().unwrap_or_default();
                            let value = ["stringValue", "numberValue", "boolValue", "nullValue"]
                                .iter()
                                .find_map(|k| piece.get(*k))
                                .cloned()
                                .unwrap_or(Value::Null);
                            set_path(&mut open.args, path, &value);
                        }
                    }
                }
                // `functionCall: {}` closes the call that was streaming.
                (None, None) => {
                    if let Some(open) = self.open.take() {
                        self.emit_call(open, out);
                    }
                }
            }
            return;
        }
        if let Some(text) = part["text"].as_str().filter(|t| !t.is_empty()) {
            let event = if part["thought"].as_bool() == Some(true) {
                ProviderEvent::ReasoningDelta {
                    text: text.to_owned(),
                }
            } else {
                ProviderEvent::TextDelta {
                    text: text.to_owned(),
                }
            };
            out.push(event);
        }
    }

    fn raw_error(&mut self) -> Option<ProviderError> {
        let body: Value = serde_json::from_str(&self.raw).ok()?;
        self.raw.clear();
        error_of(&body)
    }
}

impl StreamParser for GeminiParser {
    fn item(&mut self, item: SseItem, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        let data = match item {
            SseItem::Event { data, .. } => data,
            SseItem::Raw(line) => {
                self.raw.push_str(&line);
                self.raw.push('\n');
                return match self.raw_error() {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
            }
        };
        let chunk: Value = serde_json::from_str(&data)
            .map_err(|e| ProviderError::Protocol(format!("bad chunk: {e}")))?;
        if let Some(error) = error_of(&chunk) {
            return Err(error);
        }
        if let Some(reason) = chunk
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            return Err(ProviderError::Blocked {
                reason: format!("prompt blocked ({reason})"),
            });
        }
        if let Some(candidate) = chunk["candidates"].get(0) {
            for part in candidate
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                self.part(part, out);
            }
            if let Some(reason) = candidate["finishReason"].as_str() {
                self.finish = Some(reason.to_owned());
            }
        }
        let u = &chunk["usageMetadata"];
        if u.get("promptTokenCount").is_some() {
            out.push(ProviderEvent::Usage {
                usage: Usage {
                    input_tokens: u["promptTokenCount"].as_u64(),
                    output_tokens: u["candidatesTokenCount"].as_u64(),
                    reasoning_tokens: u["thoughtsTokenCount"].as_u64(),
                    total_tokens: u["totalTokenCount"].as_u64(),
                },
            });
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        if !self.raw.trim().is_empty() {
            return Err(self.raw_error().unwrap_or_else(|| {
                ProviderError::Protocol(format!(
                    "unreadable text in the stream: {}",
                    self.raw.trim()
                ))
            }));
        }
        if let Some(open) = self.open.take() {
            return Err(ProviderError::InvalidToolArguments {
                tool: open.name,
                detail: "the stream ended while the call's arguments were still arriving".into(),
            });
        }
        if let Some(raw) = self.finish.take() {
            // Gemini says STOP even after function calls; report what happened.
            let reason = if self.calls > 0 && raw == "STOP" {
                FinishReason::ToolCalls
            } else {
                finish_reason(&raw)
            };
            out.push(ProviderEvent::Finish { reason, raw });
        }
        Ok(())
    }
}
