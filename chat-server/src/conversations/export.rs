//! A conversation as its owner downloads it: JSON (the session, every
//! message with its tool calls, the runs' usage) or Markdown to read (the
//! questions and answers, each tool call folded under its answer with its
//! arguments and result). Nothing is shortened.

use serde::Serialize;
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::usage::Usage;
use crate::store::{MessageRecord, MessageStatus, Role, Session, ToolCallRecord, ToolStatus};

/// One message with its tool calls.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedMessage<'a> {
    #[serde(flatten)]
    pub message: &'a MessageRecord,
    pub tool_calls: Vec<&'a ToolCallRecord>,
}

/// Everything kept of one conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Export<'a> {
    pub exported_at: i64,
    pub session: &'a Session,
    pub messages: Vec<ExportedMessage<'a>>,
    pub usage: &'a Usage,
}

impl<'a> Export<'a> {
    pub fn new(
        session: &'a Session,
        messages: &'a [MessageRecord],
        calls: &'a [ToolCallRecord],
        usage: &'a Usage,
        at: i64,
    ) -> Self {
        Export {
            exported_at: at,
            session,
            messages: messages
                .iter()
                .map(|message| ExportedMessage {
                    message,
                    tool_calls: calls
                        .iter()
                        .filter(|c| c.message_id == message.id)
                        .collect(),
                })
                .collect(),
            usage,
        }
    }

    /// A file name for it: the title's letters and digits, with `extension`.
    pub fn file_name(&self, extension: &str) -> String {
        let mut name = String::new();
        for c in self.session.title.chars() {
            if c.is_ascii_alphanumeric() {
                name.push(c.to_ascii_lowercase());
            } else if !name.ends_with('-') && !name.is_empty() {
                name.push('-');
            }
            if name.len() >= 60 {
                break;
            }
        }
        let name = name.trim_end_matches('-');
        format!(
            "{}.{extension}",
            if name.is_empty() {
                "conversation"
            } else {
                name
            }
        )
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("# {}\n\n", one_line(&self.session.title));
        out.push_str(&format!(
            "Exported from MAS on {}: {} messages",
            when(self.exported_at),
            self.messages.len()
        ));
        if let (Some(input), Some(output)) = (self.usage.input_tokens, self.usage.output_tokens) {
            out.push_str(&format!(
                "; {input} input and {output} output tokens over {} of {} runs",
                self.usage.runs_with_tokens, self.usage.runs
            ));
            if let Some(cost) = self.usage.cost_usd {
                out.push_str(&format!(", about ${cost:.4}"));
            }
        }
        out.push_str(".\n");
        for exported in &self.messages {
            let m = exported.message;
            let who = match (m.role, &m.agent) {
                (Role::User, _) => "You".to_owned(),
                (Role::Assistant, Some(agent)) => format!("Answer ({agent})"),
                (Role::Assistant, None) => "Answer".to_owned(),
            };
            out.push_str(&format!("\n## {who} · {}\n\n", when(m.created_at)));
            for call in &exported.tool_calls {
                out.push_str(&tool_call(call));
            }
            out.push_str(m.content.trim_end());
            out.push('\n');
            match m.status {
                MessageStatus::Cancelled => out.push_str("\n_(Stopped; the answer so far.)_\n"),
                MessageStatus::Failed => {
                    out.push_str("\n_(This answer failed before it was complete.)_\n")
                }
                MessageStatus::Streaming => {
                    out.push_str("\n_(Still being written when exported.)_\n")
                }
                MessageStatus::Complete => {}
            }
        }
        out
    }
}

/// A tool call as a folded section: its arguments and its result.
fn tool_call(call: &ToolCallRecord) -> String {
    let status = match call.status {
        ToolStatus::Ok => "",
        ToolStatus::Error => " (failed)",
        ToolStatus::Running => " (unfinished)",
        ToolStatus::Cancelled => " (cancelled)",
    };
    let mut out = format!(
        "<details><summary>Tool call: {}{status}</summary>\n\n",
        one_line(&call.name)
    );
    out.push_str(&fenced("Arguments", &call.arguments));
    if let Some(result) = &call.result {
        out.push_str(&fenced("Result", result));
    }
    out.push_str("</details>\n\n");
    out
}

/// `text` in a code block, pretty when it is JSON, fenced longer than any
/// run of backticks inside it.
fn fenced(label: &str, text: &str) -> String {
    let (body, language) = match serde_json::from_str::<Value>(text) {
        Ok(value) => (
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned()),
            "json",
        ),
        Err(_) => (text.to_owned(), ""),
    };
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{label}:\n\n{fence}{language}\n{}\n{fence}\n\n",
        body.trim_end()
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Epoch milliseconds as an RFC 3339 UTC time.
fn when(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_with_backticks_gets_a_longer_fence() {
        let block = fenced("Result", "a ``` b");
        assert!(block.contains("````\na ``` b\n````"), "{block}");
        let json = fenced("Arguments", "{\"county\":\"Lamu\"}");
        assert!(
            json.contains("```json\n{\n  \"county\": \"Lamu\"\n}\n```"),
            "{json}"
        );
    }
}
