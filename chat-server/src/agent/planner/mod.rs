//! The offline planner: a provider that needs no model, so that the
//! embedded default answers without any key. Given the conversation
//! and the tool definitions it picks the tool that fits the question (from the
//! tools' names, descriptions and schemas plus the known counties, levels and
//! languages), calls it, and after the result streams a readable summary of it
//! (tables for lists), always saying it is the offline planner and how to
//! configure a real model. A follow-up ("and in Mombasa?", "the second
//! one") asks the previous turn's tool again, changed only where it says
//! (`following`). It is the default when no provider key is set.

mod answering;
mod choosing;
mod following;
mod intent;
mod reading;
mod summary;

use async_trait::async_trait;
use futures::{StreamExt, stream};

use crate::{
    agent::runner::HANDOFF_PREFIX,
    domain::{KnownValues, Message, ToolCall, ToolResult},
    providers::{
        ChatRequest, EventStream, FinishReason, LlmProvider, ProviderError, ProviderEvent,
    },
};

/// The footer every offline answer carries.
pub const OFFLINE_NOTE: &str = "_Answered by the offline planner: no LLM is configured. Set `GOOGLE_API_KEY` \
(Gemini), `OPENAI_API_KEY` or `OPENAI_BASE_URL` (OpenAI, or a local OpenAI-compatible server such as Ollama), or \
`ANTHROPIC_API_KEY` to use a real model._";

pub struct OfflinePlanner {
    known: KnownValues,
}

impl OfflinePlanner {
    pub fn new(known: KnownValues) -> Self {
        OfflinePlanner { known }
    }
}

#[async_trait]
impl LlmProvider for OfflinePlanner {
    fn name(&self) -> &str {
        "offline"
    }

    fn model(&self) -> &str {
        "offline-planner"
    }

    async fn stream(&self, request: &ChatRequest) -> Result<EventStream, ProviderError> {
        let events = self.respond(request);
        Ok(stream::iter(events.into_iter().map(Ok)).boxed())
    }
}

impl OfflinePlanner {
    fn respond(&self, request: &ChatRequest) -> Vec<ProviderEvent> {
        let mut out = Vec::new();
        match request.messages.last() {
            // After a handoff the new agent answers the user's question itself.
            Some(Message::Tool { results })
                if !results.is_empty()
                    && results.iter().all(|r| r.name.starts_with(HANDOFF_PREFIX)) =>
            {
                // The conversation up to the question, without the handoff
                // (a follow-up reads the turns before it).
                let asked_at = request
                    .messages
                    .iter()
                    .rposition(|m| matches!(m, Message::User { .. }));
                let mut asked = request.clone();
                asked.messages = asked_at
                    .map(|i| request.messages[..=i].to_vec())
                    .unwrap_or_default();
                return self.respond(&asked);
            }
            Some(Message::Tool { results }) => {
                // The question's own plan goes on (a comparison's next place,
                // the named school's record) or answers it; a follow-up's
                // call, planned from the turn before, is summarised.
                // (A decline is the question's first step only, never after a call.)
                let planned = question_of(&request.messages)
                    .map(|q| intent::read(&self.known, q))
                    .filter(|i| !matches!(i, intent::Intent::Decline(_)))
                    .and_then(|read| {
                        answering::next(&read, &answering::done_this_turn(&request.messages))
                    });
                match planned {
                    Some(answering::Next::Call(name, arguments)) => {
                        match choosing::tool_or_handoff(&request.tools, name) {
                            Some(tool) if !tool.starts_with(HANDOFF_PREFIX) => {
                                return call(tool, arguments);
                            }
                            _ => text(
                                &mut out,
                                &summary::summarise(&tool_name_of(request, results), results),
                            ),
                        }
                    }
                    Some(answering::Next::Answer(answer)) => text(&mut out, &answer),
                    None => {
                        let tool = tool_name_of(request, results);
                        text(&mut out, &summary::summarise(&tool, results));
                    }
                }
            }
            Some(Message::User { text: question }) if !request.tools.is_empty() => {
                let planned =
                    following::follow_up(&self.known, question, &request.messages, |name| {
                        choosing::tool_or_handoff(&request.tools, name)
                    })
                    .map(|(name, args)| {
                        // Handed off, the agent that has the tool follows up itself.
                        if name.starts_with(HANDOFF_PREFIX) {
                            (name, serde_json::json!({}))
                        } else {
                            (name, args)
                        }
                    })
                    .map(Ok)
                    .or_else(|| choosing::memory_request(question, &request.tools).map(Ok))
                    .or_else(|| match intent::read(&self.known, question) {
                        intent::Intent::Other => choosing::plan(
                            &self.known,
                            question,
                            &request.tools,
                            request.profile.as_ref(),
                        )
                        .map(Ok),
                        read => match answering::next(&read, &[])? {
                            answering::Next::Answer(answer) => Some(Err(answer)),
                            answering::Next::Call(name, arguments) => {
                                let tool = choosing::tool_or_handoff(&request.tools, name)?;
                                Some(Ok(if tool.starts_with(HANDOFF_PREFIX) {
                                    (tool, serde_json::json!({}))
                                } else {
                                    (tool, arguments)
                                }))
                            }
                        },
                    });
                match planned {
                    Some(Ok((name, arguments))) => return call(name, arguments),
                    Some(Err(answer)) => text(&mut out, &answer),
                    None => text(
                        &mut out,
                        &format!(
                            "I could not read this question as one I can answer from the data.\n\n{}",
                            answering::SUGGESTIONS
                        ),
                    ),
                }
            }
            _ => text(
                &mut out,
                "I can only answer by calling the EMIS tools, and none are available to me here.",
            ),
        }
        out.push(ProviderEvent::Finish {
            reason: FinishReason::Stop,
            raw: "stop".into(),
        });
        out
    }
}

/// The user's question this turn answers.
fn question_of(messages: &[Message]) -> Option<&str> {
    messages.iter().rev().find_map(|m| match m {
        Message::User { text } => Some(text.as_str()),
        _ => None,
    })
}

/// The events of one tool call.
fn call(name: String, arguments: serde_json::Value) -> Vec<ProviderEvent> {
    let id = format!("offline-{}", uuid::Uuid::new_v4().simple());
    vec![
        ProviderEvent::ToolCallStart {
            index: 0,
            id: id.clone(),
            name: name.clone(),
        },
        ProviderEvent::ToolCall {
            index: 0,
            call: ToolCall {
                id,
                name,
                arguments,
                signature: None,
            },
        },
        ProviderEvent::Finish {
            reason: FinishReason::ToolCalls,
            raw: "tool_calls".into(),
        },
    ]
}

fn tool_name_of(request: &ChatRequest, results: &[ToolResult]) -> String {
    results.first().map(|r| r.name.clone()).unwrap_or_else(|| {
        request
            .messages
            .iter()
            .rev()
            .find_map(|m| match m {
                Message::Assistant { tool_calls, .. } => tool_calls.first().map(|c| c.name.clone()),
                _ => None,
            })
            .unwrap_or_default()
    })
}

/// Streams `body` word by word, then the offline footer.
fn text(out: &mut Vec<ProviderEvent>, body: &str) {
    let full = format!("{body}\n\n{OFFLINE_NOTE}");
    let mut piece = String::new();
    for ch in full.chars() {
        piece.push(ch);
        if ch == ' ' || ch == '\n' {
            out.push(ProviderEvent::TextDelta {
                text: std::mem::take(&mut piece),
            });
        }
    }
    if !piece.is_empty() {
        out.push(ProviderEvent::TextDelta { text: piece });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::ToolSpec;

    fn planner() -> OfflinePlanner {
        OfflinePlanner::new(KnownValues {
            counties: vec![
                ("Nairobi".into(), "KE".into()),
                ("Kisumu".into(), "KE".into()),
                ("ORANGE".into(), "US".into()),
            ],
            sub_counties: vec!["Westlands".into()],
            languages: vec![
                ("sw".into(), "Kiswahili".into(), vec!["swahili".into()]),
                ("en".into(), "English".into(), vec![]),
            ],
        })
    }

    fn tools() -> Vec<ToolSpec> {
        [
            "search_schools",
            "get_school",
            "find_schools_near",
            "school_statistics",
            "list_regions",
            "search_content",
            "get_content",
        ]
        .iter()
        .map(|n| ToolSpec {
            name: (*n).into(),
            description: String::new(),
            parameters: json!({ "type": "object" }),
        })
        .collect()
    }

    fn plan(q: &str) -> (String, Value) {
        choosing::plan(&planner().known, q, &tools(), None).expect("a tool")
    }

    #[test]
    fn questions_map_to_the_tool_and_arguments_that_answer_them() {
        assert_eq!(
            plan("Find Moi Girls school in Nairobi"),
            (
                "search_schools".into(),
                json!({ "query": "moi girls", "county": "Nairobi", "country": "KE" })
            )
        );
        assert_eq!(
            plan("How many private primary schools are in Kisumu?").1,
            json!({ "group_by": "level", "county": "Kisumu", "country": "KE", "level": "primary", "ownership": "private" })
        );
        assert_eq!(
            plan("Total enrolment in Orange county by level").1["county"],
            "ORANGE"
        );
        assert_eq!(plan("Show me school KE-1234").1, json!({ "id": "KE-1234" }));
        assert_eq!(
            plan("schools near -1.2921, 36.8219 within 3 km").0,
            "find_schools_near"
        );
        assert_eq!(
            plan("stories about goats in Swahili").1,
            json!({ "query": "goats", "language": "sw" })
        );
        assert_eq!(plan("Which counties are in Kenya?").0, "list_regions");
        assert_eq!(
            plan("How many schools are there in Florida by county?").1["group_by"],
            "county"
        );
    }

    #[test]
    fn my_county_is_the_profiles_and_remember_that_saves_a_memory() {
        let profile = crate::domain::Profile {
            county: Some("Kisumu".into()),
            country: Some("KE".into()),
            ..Default::default()
        };
        let mut with_memory = tools();
        with_memory.push(ToolSpec {
            name: "remember".into(),
            description: String::new(),
            parameters: json!({ "type": "object" }),
        });
        let (tool, args) = choosing::plan(
            &planner().known,
            "How many schools are in my county?",
            &with_memory,
            Some(&profile),
        )
        .expect("a tool");
        assert_eq!(tool, "school_statistics");
        assert_eq!(
            (args["county"].as_str(), args["country"].as_str()),
            (Some("Kisumu"), Some("KE"))
        );
        let (_, without) = choosing::plan(
            &planner().known,
            "How many schools are in my county?",
            &tools(),
            None,
        )
        .expect("a tool");
        assert!(
            without.get("county").is_none(),
            "no profile, no county: {without}"
        );
        assert_eq!(
            choosing::plan(
                &planner().known,
                "Remember that I work in Kisumu.",
                &with_memory,
                None
            ),
            Some(("remember".into(), json!({ "text": "I work in Kisumu" })))
        );
        assert_ne!(
            choosing::plan(
                &planner().known,
                "Remember that I work in Kisumu.",
                &tools(),
                None
            )
            .map(|c| c.0),
            Some("remember".into()),
            "not without the tool"
        );
    }

    #[test]
    fn a_tool_result_becomes_a_table_with_the_offline_note() {
        let result = ToolResult {
            call_id: "1".into(),
            name: "search_schools".into(),
            content: json!({ "total": 1, "schools": [{ "id": "KE-1", "name": "Bakwanin", "county": "Baringo", "level": "primary", "ownership": "public", "enrolment": null }] }).to_string(),
            is_error: false,
        };
        let request = ChatRequest {
            messages: vec![Message::Tool {
                results: vec![result],
            }],
            ..Default::default()
        };
        let text: String = planner()
            .respond(&request)
            .into_iter()
            .filter_map(|e| match e {
                ProviderEvent::TextDelta { text } => Some(text),
                _ => None,
            })
            .collect();
        assert!(
            text.contains("| Bakwanin | KE-1 | Baringo | primary | public | n/a |"),
            "{text}"
        );
        assert!(
            text.contains("offline planner") && text.contains("GOOGLE_API_KEY"),
            "{text}"
        );
    }
}
