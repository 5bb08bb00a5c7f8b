//! One question answered by the agents (coordinator, specialists, handoffs)
//! with their tools, outside any session: the `ask` command.

use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{AgentRunner, RunEvent, RunInput, Transcript};
use crate::domain::Message;

/// The events of the answer, and what they said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub events: Vec<RunEvent>,
    pub transcript: Transcript,
}

impl Answer {
    /// The answer's text.
    pub fn text(&self) -> String {
        self.transcript.text()
    }

    /// The tools called, in order (handoffs included).
    pub fn tools(&self) -> Vec<&str> {
        self.transcript.calls().map(|c| c.tool.as_str()).collect()
    }
}

/// Runs one question through the agents; `progress` sees every event.
pub async fn ask(
    runner: Arc<AgentRunner>,
    question: &str,
    mut progress: impl FnMut(&RunEvent),
) -> Answer {
    let input = RunInput {
        history: vec![Message::User {
            text: question.to_owned(),
        }],
        agent: None,
        cancel: CancellationToken::new(),
        ..RunInput::default()
    };
    let mut answer = Answer::default();
    let mut events = Box::pin(runner.run(input));
    while let Some(event) = events.next().await {
        progress(&event);
        answer.transcript.apply(&event);
        answer.events.push(event);
    }
    answer
}
