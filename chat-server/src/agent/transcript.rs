//! The one fold of a run's events into what the run said: the answer's text
//! (step by step, so a step discarded after a takeover is cut back out),
//! the reasoning, the tool calls with their results, the calls left to an
//! API client, the memories recalled, the tokens used, and how the run ended. The producer saves
//! it, the JSON chat call and `/v1` answer with it, `ask` prints from it,
//! and a replica taking a run over rebuilds its checkpoint from it.

use serde_json::Value;

use super::{RunEvent, memory::RecalledMemory};
use crate::domain::{Message, ToolCall, ToolResult};

/// What a run said so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// The agent speaking now.
    pub agent: Option<String>,
    steps: Vec<Step>,
    pub reasoning: String,
    /// Calls of tools the API client runs itself (the run ends after them).
    pub client_calls: Vec<ToolCall>,
    /// The user's memories in the latest step's prompt.
    pub memories: Vec<RecalledMemory>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// `None` while the run goes on.
    pub outcome: Option<Outcome>,
}

/// One model step: its text and its tool calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub number: usize,
    pub text: String,
    pub calls: Vec<Call>,
    pub finished: bool,
}

/// A tool call and, once it ran, its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: String,
    pub tool: String,
    pub input: Value,
    pub output: Option<String>,
    pub is_error: bool,
    pub duration_ms: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Failed(String),
    Cancelled,
}

impl Transcript {
    /// The transcript of `events`, in order.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> Self {
        let mut transcript = Transcript::default();
        for event in events {
            transcript.apply(event);
        }
        transcript
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::AgentChanged { agent, .. } => self.agent = Some(agent.clone()),
            RunEvent::StepStarted { step } => self.steps.push(Step {
                number: *step,
                text: String::new(),
                calls: Vec::new(),
                finished: false,
            }),
            RunEvent::TextDelta { text } => self.open_step().text.push_str(text),
            RunEvent::ReasoningDelta { text } => self.reasoning.push_str(text),
            RunEvent::ToolInputAvailable {
                call_id,
                tool,
                input,
            } => self.open_step().calls.push(Call {
                id: call_id.clone(),
                tool: tool.clone(),
                input: input.clone(),
                output: None,
                is_error: false,
                duration_ms: 0,
            }),
            RunEvent::ToolOutput {
                call_id,
                output,
                is_error,
                duration_ms,
                ..
            } => {
                if let Some(call) = self.call_mut(call_id) {
                    call.output = Some(output.clone());
                    call.is_error = *is_error;
                    call.duration_ms = *duration_ms;
                }
            }
            RunEvent::StepFinished { .. } => {
                if let Some(step) = self.steps.last_mut() {
                    step.finished = true;
                }
            }
            // The step starts again: what it said so far is void.
            RunEvent::StepDiscarded { .. } => {
                if self.steps.last().is_some_and(|s| !s.finished) {
                    self.steps.pop();
                }
            }
            RunEvent::MemoryRecalled { memories } => self.memories = memories.clone(),
            RunEvent::ClientToolCalls { calls } => self.client_calls.extend(calls.iter().cloned()),
            RunEvent::Usage { usage, .. } => {
                let add = |total: Option<u64>, more: Option<u64>| match (total, more) {
                    (total, Some(more)) => Some(total.unwrap_or(0) + more),
                    (total, None) => total,
                };
                self.input_tokens = add(self.input_tokens, usage.input_tokens);
                self.output_tokens = add(self.output_tokens, usage.output_tokens);
            }
            RunEvent::Finished { .. } => self.outcome = Some(Outcome::Finished),
            RunEvent::Failed { message } => self.outcome = Some(Outcome::Failed(message.clone())),
            RunEvent::Cancelled => self.outcome = Some(Outcome::Cancelled),
            RunEvent::ToolInputStart { .. } | RunEvent::ToolInputDelta { .. } => {}
        }
    }

    /// The step that is speaking (one is opened if the events began mid-step).
    fn open_step(&mut self) -> &mut Step {
        if self.steps.last().is_none_or(|s| s.finished) {
            let number = self.steps.last().map_or(1, |s| s.number + 1);
            self.steps.push(Step {
                number,
                text: String::new(),
                calls: Vec::new(),
                finished: false,
            });
        }
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn call_mut(&mut self, id: &str) -> Option<&mut Call> {
        self.steps
            .iter_mut()
            .rev()
            .flat_map(|s| s.calls.iter_mut())
            .find(|c| c.id == id)
    }

    /// The answer's text so far.
    pub fn text(&self) -> String {
        self.steps.iter().map(|s| s.text.as_str()).collect()
    }

    /// The text of the finished steps only.
    pub fn finished_text(&self) -> String {
        self.steps
            .iter()
            .filter(|s| s.finished)
            .map(|s| s.text.as_str())
            .collect()
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Every tool call, in order (handoffs included).
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.steps.iter().flat_map(|s| s.calls.iter())
    }

    /// Input plus output tokens.
    pub fn tokens(&self) -> u64 {
        self.input_tokens.unwrap_or(0) + self.output_tokens.unwrap_or(0)
    }

    /// Why the run failed, if it did (a cancel is a failure to an API client
    /// that waited for the whole answer).
    pub fn failure(&self) -> Option<String> {
        match &self.outcome {
            Some(Outcome::Failed(message)) => Some(message.clone()),
            Some(Outcome::Cancelled) => Some("the run was cancelled".into()),
            _ => None,
        }
    }

    /// The finished steps as conversation turns: each step's text and calls,
    /// then their results.
    pub fn messages(&self) -> Vec<Message> {
        let mut messages = Vec::new();
        for step in self.steps.iter().filter(|s| s.finished) {
            messages.push(Message::Assistant {
                text: step.text.clone(),
                tool_calls: step.calls.iter().map(Call::to_call).collect(),
            });
            messages.push(Message::Tool {
                results: step.calls.iter().filter_map(Call::to_result).collect(),
            });
        }
        messages
    }

    /// The step in progress (not finished), if the run stopped inside one.
    pub fn interrupted(&self) -> Option<&Step> {
        self.steps.last().filter(|s| !s.finished)
    }
}

impl Call {
    pub fn to_call(&self) -> ToolCall {
        ToolCall {
            id: self.id.clone(),
            name: self.tool.clone(),
            arguments: self.input.clone(),
            signature: None,
        }
    }

    /// Its result, once it ran.
    pub fn to_result(&self) -> Option<ToolResult> {
        Some(ToolResult {
            call_id: self.id.clone(),
            name: self.tool.clone(),
            content: self.output.clone()?,
            is_error: self.is_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Usage;

    fn text(t: &str) -> RunEvent {
        RunEvent::TextDelta { text: t.into() }
    }

    #[test]
    fn a_transcript_gathers_text_calls_usage_and_outcome_and_drops_a_discarded_step() {
        let usage = |i, o| RunEvent::Usage {
            provider: "p".into(),
            model: "m".into(),
            usage: Usage {
                input_tokens: Some(i),
                output_tokens: o,
                ..Usage::default()
            },
        };
        let events = vec![
            RunEvent::AgentChanged {
                agent: "schools".into(),
                title: "Schools specialist".into(),
            },
            RunEvent::StepStarted { step: 1 },
            text("Let me look. "),
            RunEvent::ToolInputAvailable {
                call_id: "c1".into(),
                tool: "search_schools".into(),
                input: json!({ "query": "moi" }),
            },
            RunEvent::ToolOutput {
                call_id: "c1".into(),
                tool: "search_schools".into(),
                output: "{}".into(),
                is_error: false,
                duration_ms: 7,
            },
            usage(10, Some(5)),
            RunEvent::StepFinished { step: 1 },
            RunEvent::StepStarted { step: 2 },
            text("Half an ans"),
            RunEvent::StepDiscarded { step: 2 },
            RunEvent::StepStarted { step: 2 },
            text("Found one."),
            usage(20, None),
            RunEvent::StepFinished { step: 2 },
            RunEvent::Finished {
                text: "ignored".into(),
            },
        ];
        let transcript = Transcript::of(&events);
        assert_eq!(transcript.text(), "Let me look. Found one.");
        assert_eq!(transcript.agent.as_deref(), Some("schools"));
        let calls: Vec<&Call> = transcript.calls().collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].output.as_deref(), calls[0].duration_ms),
            (Some("{}"), 7)
        );
        assert_eq!(
            (transcript.input_tokens, transcript.output_tokens),
            (Some(30), Some(5))
        );
        assert_eq!(transcript.outcome, Some(Outcome::Finished));
        assert_eq!(transcript.failure(), None);
        assert_eq!(transcript.messages().len(), 4, "two steps, two turns each");

        let cut = Transcript::of(&events[..9]);
        assert_eq!(cut.finished_text(), "Let me look. ");
        assert_eq!(cut.interrupted().map(|s| s.number), Some(2));
        assert_eq!(
            Transcript::of(&[RunEvent::Cancelled]).failure().as_deref(),
            Some("the run was cancelled")
        );
    }
}
