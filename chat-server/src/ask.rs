//! `chat-server ask "<question>"`: one question, answered by the configured
//! provider with the EMIS tools, streamed to the terminal. A minimal tool loop;
//! the full agent (handoffs, runs, persistence) comes with the chat server.

use futures::StreamExt;

use crate::{
    providers::{ChatRequest, LlmProvider, Message, ProviderError, ProviderEvent, ToolCall},
    toolbox::Toolbox,
};

/// Model steps before `ask` gives up on reaching a final answer.
pub const MAX_STEPS: usize = 6;

const SYSTEM: &str = "You answer questions about schools in Kenya and Florida (US) and about African Storybook \
children's stories, using the tools. Use the data the tools return; say plainly when a figure is not available \
(Kenya publishes no enrolment figures); never invent numbers. Show each story's attribution with it.";

/// What `ask` reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Text(String),
    ToolCall(ToolCall),
    ToolResult {
        name: String,
        is_error: bool,
        chars: usize,
    },
}

/// The final answer and the calls made on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
}

pub async fn ask(
    provider: &dyn LlmProvider,
    toolbox: &Toolbox,
    question: &str,
    mut progress: impl FnMut(Progress),
) -> Result<Answer, ProviderError> {
    let mut request = ChatRequest {
        system: Some(SYSTEM.to_owned()),
        messages: vec![Message::User {
            text: question.to_owned(),
        }],
        tools: toolbox.tools().to_vec(),
        ..Default::default()
    };
    let mut answer = Answer::default();
    for _ in 0..MAX_STEPS {
        let mut stream = provider.stream(&request).await?;
        let mut text = String::new();
        let mut calls = Vec::new();
        while let Some(event) = stream.next().await {
            match event? {
                ProviderEvent::TextDelta { text: piece } => {
                    progress(Progress::Text(piece.clone()));
                    text.push_str(&piece);
                }
                ProviderEvent::ToolCall { call, .. } => {
                    progress(Progress::ToolCall(call.clone()));
                    calls.push(call);
                }
                _ => {}
            }
        }
        answer.text.push_str(&text);
        if calls.is_empty() {
            return Ok(answer);
        }
        let mut results = Vec::new();
        for call in &calls {
            let result = toolbox.call(call).await;
            progress(Progress::ToolResult {
                name: call.name.clone(),
                is_error: result.is_error,
                chars: result.content.len(),
            });
            results.push(result);
        }
        answer.tool_calls.extend(calls.iter().cloned());
        request.messages.push(Message::Assistant {
            text,
            tool_calls: calls,
        });
        request.messages.push(Message::Tool { results });
    }
    answer
        .text
        .push_str("\n\n(stopped after the maximum number of steps)");
    Ok(answer)
}
