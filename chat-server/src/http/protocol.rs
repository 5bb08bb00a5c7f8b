//! The Vercel AI SDK UI message stream protocol (v1), so `useChat` and
//! `readUIMessageStream` consume our SSE unchanged. Run events map to protocol
//! parts deterministically, so a stream resumed from any event id continues
//! exactly where it left off: part ids are `<run event number>.<part index>`.

use serde_json::{Value, json};

use crate::agent::RunEvent;

/// The header that announces the protocol.
pub const HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// Turns run events into protocol parts, tracking open text/reasoning parts.
#[derive(Debug, Default)]
pub struct Mapper {
    text_open: Option<String>,
    reasoning_open: Option<String>,
    step_open: bool,
}

impl Mapper {
    fn close_text(&mut self, out: &mut Vec<Value>) {
        if let Some(id) = self.text_open.take() {
            out.push(json!({ "type": "text-end", "id": id }));
        }
        if let Some(id) = self.reasoning_open.take() {
            out.push(json!({ "type": "reasoning-end", "id": id }));
        }
    }

    /// The parts for run event number `seq`.
    pub fn parts(
        &mut self,
        seq: u64,
        event: &RunEvent,
        run_id: &str,
        session_id: &str,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        match event {
            RunEvent::AgentChanged { agent, title } => {
                if seq == 1 {
                    out.push(json!({ "type": "start", "messageId": run_id }));
                    out.push(json!({ "type": "data-run", "data": { "runId": run_id, "sessionId": session_id } }));
                }
                out.push(
                    json!({ "type": "data-agent", "data": { "agent": agent, "title": title } }),
                );
            }
            RunEvent::StepStarted { .. } => {
                self.step_open = true;
                out.push(json!({ "type": "start-step" }));
            }
            RunEvent::MemoryRecalled { memories } => {
                out.push(json!({ "type": "data-memory", "data": { "memories": memories } }));
            }
            RunEvent::TextDelta { text } => {
                if let Some(id) = self.reasoning_open.take() {
                    out.push(json!({ "type": "reasoning-end", "id": id }));
                }
                let opens = self.text_open.is_none();
                let id = self
                    .text_open
                    .get_or_insert_with(|| format!("text-{seq}"))
                    .clone();
                if opens {
                    out.push(json!({ "type": "text-start", "id": id }));
                }
                out.push(json!({ "type": "text-delta", "id": id, "delta": text }));
            }
            RunEvent::ReasoningDelta { text } => {
                let opens = self.reasoning_open.is_none();
                let id = self
                    .reasoning_open
                    .get_or_insert_with(|| format!("reasoning-{seq}"))
                    .clone();
                if opens {
                    out.push(json!({ "type": "reasoning-start", "id": id }));
                }
                out.push(json!({ "type": "reasoning-delta", "id": id, "delta": text }));
            }
            RunEvent::ToolInputStart { call_id, tool } => {
                self.close_text(&mut out);
                out.push(
                    json!({ "type": "tool-input-start", "toolCallId": call_id, "toolName": tool }),
                );
            }
            RunEvent::ToolInputDelta { call_id, delta } => {
                out.push(json!({ "type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": delta }));
            }
            RunEvent::ToolInputAvailable {
                call_id,
                tool,
                input,
            } => {
                self.close_text(&mut out);
                out.push(json!({ "type": "tool-input-available", "toolCallId": call_id, "toolName": tool, "input": input }));
            }
            RunEvent::ToolOutput {
                call_id,
                output,
                is_error,
                duration_ms,
                ..
            } => {
                if *is_error {
                    out.push(json!({ "type": "tool-output-error", "toolCallId": call_id, "errorText": output }));
                } else {
                    let value: Value =
                        serde_json::from_str(output).unwrap_or_else(|_| json!(output));
                    out.push(json!({ "type": "tool-output-available", "toolCallId": call_id, "output": value }));
                }
                out.push(json!({ "type": "data-tool-timing", "data": { "toolCallId": call_id, "durationMs": duration_ms } }));
            }
            RunEvent::StepFinished { .. } => {
                self.close_text(&mut out);
                self.step_open = false;
                out.push(json!({ "type": "finish-step" }));
            }
            // The calls were shown as they came (tool-input-available).
            RunEvent::ClientToolCalls { .. } => {}
            RunEvent::StepDiscarded { step } => {
                self.close_text(&mut out);
                self.step_open = false;
                out.push(json!({ "type": "data-step-discarded", "data": { "step": step } }));
            }
            RunEvent::Usage {
                provider,
                model,
                usage,
            } => {
                out.push(json!({ "type": "data-usage", "data": { "provider": provider, "model": model, "usage": usage } }));
            }
            RunEvent::Finished { .. } => {
                self.close_text(&mut out);
                out.push(json!({ "type": "finish" }));
            }
            RunEvent::Failed { message } => {
                self.close_text(&mut out);
                out.push(json!({ "type": "error", "errorText": message }));
                out.push(json!({ "type": "finish" }));
            }
            RunEvent::Cancelled => {
                self.close_text(&mut out);
                if self.step_open {
                    out.push(json!({ "type": "finish-step" }));
                }
                out.push(json!({ "type": "data-cancelled", "data": { "runId": run_id } }));
                out.push(json!({ "type": "finish" }));
            }
        }
        out
    }
}

/// Parses a `Last-Event-ID` (`<event>.<part>`) into (event, part).
pub fn parse_event_id(id: &str) -> Option<(u64, usize)> {
    let (event, part) = id.trim().split_once('.')?;
    Some((event.parse().ok()?, part.parse().ok()?))
}
