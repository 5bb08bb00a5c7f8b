//! Extraction by the model: one short prompt over the finished turn (the
//! user's message, the answer, the tools' results) asking for the lasting
//! facts and preferences in it as JSON. What comes back is checked like
//! anything a user writes; an answer that is not the JSON asked for falls
//! back to the rules.

use futures::StreamExt;
use serde::Deserialize;

use super::{Fact, Learnt, ProfileFields};
use crate::{
    domain::{Detail, Message, ProfileRole},
    providers::{ChatRequest, LlmProvider, ProviderError, ProviderEvent},
    store::{
        ToolCallRecord,
        memories::{MemoryKind, Retention},
    },
};

/// The start of the extraction prompt (a fake model in the tests knows an
/// extraction request by it).
pub const EXTRACTION_PROMPT: &str =
    "You extract long-term memories about the user from one turn of a conversation.";

const INSTRUCTIONS: &str = "Keep only lasting facts about the user themselves (their role, where they work, their \
school) and their preferences for answers (language, length), stated by the user; never figures from tools, \
never guesses, never anything about other people. Answer with JSON only: {\"memories\": [{\"text\": \"in the \
user's words\", \"kind\": \"fact|preference|profile\", \"retention\": \"short|long\", \"slot\": \"workplace|role|\
name|language|detail or null\", \"tool_call\": \"the id of the tool result it came from, or null\"}], \"profile\": \
{\"display_name\": null, \"role\": \"teacher|head_teacher|county_officer|parent|researcher|other or null\", \
\"county\": null, \"language\": null, \"detail\": \"short|detailed or null\"}}. Use {\"memories\": []} when there \
is nothing to keep.";

/// Most characters of one tool result shown to the extractor.
const TOOL_RESULT_CHARS: usize = 1_000;

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    memories: Vec<Item>,
    #[serde(default)]
    profile: Option<Fields>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    retention: Option<String>,
    #[serde(default)]
    slot: Option<String>,
    #[serde(default)]
    tool_call: Option<String>,
}

#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    county: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The turn as the extractor reads it.
fn turn_text(question: &str, answer: &str, calls: &[ToolCallRecord]) -> String {
    let mut out = format!("User: {question}\n\nAssistant: {answer}");
    for call in calls {
        let result: String = call
            .result
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(TOOL_RESULT_CHARS)
            .collect();
        out.push_str(&format!(
            "\n\nTool result [{}] {}: {result}",
            call.id, call.name
        ));
    }
    out
}

/// The JSON object in `text` (models wrap it in prose or code fences).
fn answer_of(text: &str) -> Option<Answer> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    serde_json::from_str(text.get(start..=end)?).ok()
}

fn learnt_of(answer: Answer, calls: &[ToolCallRecord]) -> Learnt {
    let facts = answer
        .memories
        .into_iter()
        .filter(|item| !item.text.trim().is_empty())
        .map(|item| Fact {
            text: item.text.trim().to_owned(),
            kind: item
                .kind
                .as_deref()
                .and_then(MemoryKind::parse)
                .unwrap_or(MemoryKind::Fact),
            retention: match item.retention.as_deref().and_then(Retention::parse) {
                Some(Retention::Long) => Retention::Long,
                _ => Retention::Short,
            },
            slot: item.slot.filter(|s| {
                ["workplace", "role", "name", "language", "detail"].contains(&s.as_str())
            }),
            // Only the turn's own tool calls can be a source.
            tool_call: item
                .tool_call
                .filter(|id| calls.iter().any(|c| &c.id == id)),
        })
        .collect();
    let profile = answer
        .profile
        .map_or_else(ProfileFields::default, |f| ProfileFields {
            display_name: f.display_name,
            role: f.role.as_deref().and_then(ProfileRole::parse),
            county: f.county,
            country: None,
            language: f.language,
            detail: f.detail.as_deref().and_then(Detail::parse),
        });
    Learnt { facts, profile }
}

/// What `model` finds in the turn; `Ok(None)` when its answer is not the JSON asked for.
pub async fn extract(
    model: &dyn LlmProvider,
    question: &str,
    answer: &str,
    calls: &[ToolCallRecord],
) -> Result<Option<Learnt>, ProviderError> {
    let request = ChatRequest {
        system: Some(format!("{EXTRACTION_PROMPT} {INSTRUCTIONS}")),
        messages: vec![Message::User {
            text: turn_text(question, answer, calls),
        }],
        max_tokens: Some(600),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let mut events = model.stream(&request).await?;
    let mut text = String::new();
    while let Some(event) = events.next().await {
        if let ProviderEvent::TextDelta { text: piece } = event? {
            text.push_str(&piece);
        }
    }
    Ok(answer_of(&text).map(|a| learnt_of(a, calls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_json_is_read_and_checked() {
        let calls = vec![ToolCallRecord {
            id: "call-1".into(),
            session_id: "s".into(),
            run_id: "r".into(),
            message_id: "m".into(),
            call_id: "c".into(),
            name: "search_schools".into(),
            arguments: "{}".into(),
            result: Some("{}".into()),
            status: crate::store::ToolStatus::Ok,
            started_at: 0,
            duration_ms: None,
        }];
        let text = "Here you are:\n```json\n{\"memories\": [{\"text\": \"My school is Moi Girls\", \"kind\": \"fact\", \
                    \"retention\": \"pinned\", \"slot\": \"bogus\", \"tool_call\": \"call-1\"}, {\"text\": \"x\", \
                    \"tool_call\": \"call-9\"}, {\"text\": \"  \"}], \"profile\": {\"role\": \"teacher\", \"county\": \
                    \"Kisumu\"}}\n```";
        let learnt = learnt_of(answer_of(text).expect("json"), &calls);
        assert_eq!(learnt.facts.len(), 2);
        let first = &learnt.facts[0];
        assert_eq!(first.retention, Retention::Short, "a model does not pin");
        assert_eq!(first.slot, None, "unknown slots are dropped");
        assert_eq!(first.tool_call.as_deref(), Some("call-1"));
        assert_eq!(learnt.facts[1].tool_call, None, "not a call of this turn");
        assert_eq!(learnt.profile.role, Some(ProfileRole::Teacher));
        assert!(answer_of("I cannot do that").is_none());
    }
}
