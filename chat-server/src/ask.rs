//! `chat-server ask "<question>"`: one question, answered by the agents
//! (coordinator, specialists, handoffs) with the EMIS tools, streamed to the
//! terminal.

use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{AgentRunner, RunEvent, RunInput},
    providers::Message,
};

/// The final answer and the events on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub events: Vec<RunEvent>,
}

impl Answer {
    /// The tools called, in order (handoffs included).
    pub fn tools(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RunEvent::ToolInputAvailable { tool, .. } => Some(tool.as_str()),
                _ => None,
            })
            .collect()
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
        if let RunEvent::TextDelta { text } = &event {
            answer.text.push_str(text);
        }
        answer.events.push(event);
    }
    answer
}
