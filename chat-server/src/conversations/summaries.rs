//! The summary of a long conversation, made by a background job
//! (`runs::SUMMARY_JOB`, queued after a turn once a session has more than
//! `CONTEXT_SUMMARY_TURNS` turns past its stored summary): the older half of
//! those turns, with the summary before them, become the new summary, by
//! the configured model or, with none (the embedded default), extractively
//! (the questions asked and the first sentence and figures of each answer).
//! Stored per session with the last message it covers; every later turn
//! reads those turns as the summary. Safe to run twice: a summary never
//! replaces one that covers as much.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::{
    context::{self, window::Counter},
    domain::Message,
    jobs::{JobError, JobHandler},
    providers::{ChatRequest, LlmProvider, ProviderEvent},
    runs::{Saved, SummaryJob, turn::conversation},
    store::{ChatStore, Role, SessionSummary, jobs::Job, now_ms},
};

/// What a model is asked for; the tests' fake model knows it by its start.
pub const SUMMARY_PROMPT: &str = "Summarise the earlier part of a conversation between a user and an assistant \
about schools and learning content.";

const INSTRUCTIONS: &str = "Keep what the rest of the conversation may need: who the user is and what they are \
after, each question asked, and the figures, places and school names of the answers. Write short bullet lines, \
no more than 300 words, and nothing else.";

/// Tokens an extractive summary may take.
const EXTRACTIVE_TOKENS: i64 = 1_500;

/// Characters of a turn's text a model is given.
const TURN_CHARS: usize = 1_500;

/// Runs the summary jobs.
pub struct Summariser {
    pub chat: Arc<dyn ChatStore>,
    /// The model that summarises (`None`: extractive).
    pub model: Option<Arc<dyn LlmProvider>>,
    /// `CONTEXT_SUMMARY_TURNS`.
    pub after_turns: usize,
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

/// `conversation` as plain text for a model: each question and answer,
/// with the tools called.
fn transcript(conversation: &[Message]) -> String {
    let mut out = String::new();
    for message in conversation {
        match message {
            Message::User { text } => {
                out.push_str(&format!("User: {}\n", context::truncate(text, TURN_CHARS)))
            }
            Message::Assistant { text, tool_calls } => {
                for call in tool_calls {
                    out.push_str(&format!("(called {} with {})\n", call.name, call.arguments));
                }
                if !text.is_empty() {
                    out.push_str(&format!(
                        "Assistant: {}\n",
                        context::truncate(text, TURN_CHARS)
                    ));
                }
            }
            Message::Tool { .. } => {}
        }
    }
    out
}

impl Summariser {
    async fn by_model(
        &self,
        model: &dyn LlmProvider,
        earlier: Option<&str>,
        conversation: &[Message],
    ) -> Result<String, JobError> {
        let mut text = String::new();
        if let Some(earlier) = earlier {
            text.push_str(&format!(
                "Summary so far:\n{earlier}\n\nThe turns after it:\n"
            ));
        }
        text.push_str(&transcript(conversation));
        let request = ChatRequest {
            system: Some(format!("{SUMMARY_PROMPT} {INSTRUCTIONS}")),
            messages: vec![Message::User { text }],
            max_tokens: Some(700),
            temperature: Some(0.0),
            ..ChatRequest::default()
        };
        let mut events = model.stream(&request).await.map_err(retry)?;
        let mut summary = String::new();
        while let Some(event) = events.next().await {
            if let ProviderEvent::TextDelta { text } = event.map_err(retry)? {
                summary.push_str(&text);
            }
        }
        let summary = summary.trim();
        if summary.is_empty() {
            return Err(JobError::Retry("the model's summary was empty".into()));
        }
        Ok(context::truncate(summary, 6_000))
    }
}

#[async_trait]
impl JobHandler for Summariser {
    fn kind(&self) -> &'static str {
        crate::runs::SUMMARY_JOB
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let job: SummaryJob = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Fatal(format!("not a summary job: {e}")))?;
        let stored = self
            .chat
            .session_summary(&job.session_id)
            .await
            .map_err(retry)?;
        let (through, turns_before) = stored.as_ref().map_or((0, 0), |s| (s.through_seq, s.turns));
        let messages: Vec<_> = self
            .chat
            .messages(&job.session_id)
            .await
            .map_err(retry)?
            .into_iter()
            .filter(|m| m.seq > through)
            .collect();
        let starts: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == Role::User)
            .map(|(i, _)| i)
            .collect();
        if starts.len() <= self.after_turns.max(1) {
            return Ok(());
        }
        // The older half goes into the summary; the newer stays verbatim.
        let keep = (self.after_turns / 2).max(1);
        let cut = starts[starts.len() - keep];
        let covered = &messages[..cut];
        let Some(last) = covered.last() else {
            return Ok(());
        };
        let tool_calls = self.chat.tool_calls(&job.session_id).await.map_err(retry)?;
        let conversation = conversation(Saved {
            messages: covered.to_vec(),
            tool_calls,
        });
        let earlier = stored.as_ref().map(|s| s.text.as_str());
        let (text, made_by) = match &self.model {
            Some(model) => (
                self.by_model(model.as_ref(), earlier, &conversation)
                    .await?,
                "model",
            ),
            None => (
                context::summary_of(&conversation, earlier, Counter::O200k, EXTRACTIVE_TOKENS)
                    .unwrap_or_default(),
                "extractive",
            ),
        };
        let turns = turns_before + i64::try_from(starts.len() - keep).unwrap_or(0);
        self.chat
            .save_session_summary(&SessionSummary {
                session_id: job.session_id,
                through_seq: last.seq,
                turns,
                text,
                made_by: made_by.into(),
                updated_at: now_ms(),
            })
            .await
            .map_err(retry)?;
        Ok(())
    }
}
