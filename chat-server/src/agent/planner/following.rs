//! Follow-ups: a question that only says what changes ("and in Mombasa?",
//! "what about secondary schools?", "the second one") asks the previous
//! turn's tool again with the previous arguments, changing only what the
//! follow-up names; "the second one" opens the second school the previous
//! search listed. The previous turn's tool call and result are in the
//! conversation the context builder gives every run.

use serde_json::{Map, Value, json};

use super::reading::{any, read, words};
use crate::{
    agent::runner::HANDOFF_PREFIX,
    domain::{KnownValues, Message},
};

/// Openings that make a question a follow-up of the one before.
const OPENINGS: &[&str] = &[
    "and",
    "what about",
    "how about",
    "same for",
    "the same for",
    "now",
    "also",
    "then",
    "ok and",
];

/// "the second one": which of a list, from 1.
const ORDINALS: &[(&str, usize)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
];

/// The previous turn's data-tool call (not a handoff, not memory), with
/// the text of its result.
fn previous(history: &[Message]) -> Option<(&str, &Value, Option<&str>)> {
    // The question being answered is the last user message; look before it.
    let asked = history
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))?;
    history[..asked]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, m)| {
            let Message::Assistant { tool_calls, .. } = m else {
                return None;
            };
            let call = tool_calls.iter().find(|c| {
                !c.name.starts_with(HANDOFF_PREFIX)
                    && !matches!(c.name.as_str(), "remember" | "recall" | "forget")
            })?;
            let result = history[i + 1..asked].iter().find_map(|m| match m {
                Message::Tool { results } => results
                    .iter()
                    .find(|r| r.call_id == call.id)
                    .map(|r| r.content.as_str()),
                _ => None,
            });
            Some((call.name.as_str(), &call.arguments, result))
        })
}

/// The `n`th school id of a list result, in order ("id": "KE-…" or "US-…").
/// The result may have been cut short in the context, so it is scanned
/// rather than parsed.
fn nth_id(result: &str, n: usize) -> Option<String> {
    let mut ids: Vec<String> = Vec::new();
    for piece in result.split("\"id\":").skip(1) {
        let id: String = piece
            .trim_start()
            .strip_prefix('"')?
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        if (id.starts_with("KE-") || id.starts_with("US-")) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.into_iter().nth(n.checked_sub(1)?)
}

/// Which of a list `q` points at: "the second one", "number 2", "the last".
fn pointed(q: &str) -> Option<usize> {
    for (word, n) in ORDINALS {
        if any(
            q,
            &[
                &format!("the {word}"),
                &format!("{word} one"),
                &format!("{word} school"),
            ],
        ) {
            return Some(*n);
        }
    }
    let tokens: Vec<&str> = q.split_whitespace().collect();
    tokens.windows(2).find_map(|w| {
        (w[0] == "number" || w[0] == "no" || w[0] == "#")
            .then(|| w[1].parse::<usize>().ok())
            .flatten()
            .filter(|n| (1..=50).contains(n))
    })
}

/// The tool call a follow-up asks for, when `question` is one and the
/// conversation has a turn it follows. `tool` names a tool as this agent
/// has it (or the handoff to the agent that has it).
pub(super) fn follow_up(
    known: &KnownValues,
    question: &str,
    history: &[Message],
    tool: impl Fn(&str) -> Option<String>,
) -> Option<(String, Value)> {
    let q = words(question);
    let (name, arguments, result) = previous(history)?;
    let bare = name.rsplit("__").next().unwrap_or(name);
    if let Some(n) = pointed(&q)
        && matches!(bare, "search_schools" | "find_schools_near")
    {
        let id = nth_id(result?, n)?;
        return tool("get_school").map(|t| (t, json!({ "id": id })));
    }
    let opening = OPENINGS.iter().any(|o| q.starts_with(&format!(" {o} ")));
    if !opening {
        return None;
    }
    let r = read(known, question);
    let mut args: Map<String, Value> = arguments.as_object().cloned().unwrap_or_default();
    let mut changed = false;
    if let Some(county) = &r.county {
        args.insert("county".into(), json!(county));
        args.remove("sub_county");
        match r.country {
            Some(country) => args.insert("country".into(), json!(country)),
            None => args.remove("country"),
        };
        changed = true;
    } else if let Some(country) = r.country {
        args.insert("country".into(), json!(country));
        args.remove("county");
        args.remove("sub_county");
        changed = true;
    }
    if let Some(sub) = &r.sub_county {
        args.insert("sub_county".into(), json!(sub));
        changed = true;
    }
    for (key, value) in [("level", r.level), ("ownership", r.ownership)] {
        if let Some(value) = value {
            args.insert(key.into(), json!(value));
            changed = true;
        }
    }
    if let Some(language) = &r.language
        && bare == "search_content"
    {
        args.insert("language".into(), json!(language));
        changed = true;
    }
    // Grouped by what the follow-up now fixes, a table would have one row.
    if bare == "school_statistics"
        && let Some(group) = args
            .get("group_by")
            .and_then(Value::as_str)
            .map(str::to_owned)
        && args.contains_key(&group)
    {
        let instead = if group == "level" {
            "ownership"
        } else {
            "level"
        };
        args.insert("group_by".into(), json!(instead));
    }
    if !changed {
        return None;
    }
    tool(bare).map(|t| (t, Value::Object(args)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ToolCall, ToolResult};

    fn known() -> KnownValues {
        KnownValues {
            counties: vec![
                ("Nairobi".into(), "KE".into()),
                ("Mombasa".into(), "KE".into()),
            ],
            sub_counties: vec![],
            languages: vec![("fr".into(), "French".into(), vec![])],
        }
    }

    fn turn(name: &str, arguments: Value, result: &str) -> Vec<Message> {
        vec![
            Message::User {
                text: "first".into(),
            },
            Message::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: name.into(),
                    arguments,
                    signature: None,
                }],
            },
            Message::Tool {
                results: vec![ToolResult {
                    call_id: "c1".into(),
                    name: name.into(),
                    content: result.into(),
                    is_error: false,
                }],
            },
            Message::Assistant {
                text: "answer".into(),
                tool_calls: vec![],
            },
        ]
    }

    fn ask(history: &[Message], question: &str) -> Option<(String, Value)> {
        let mut messages = history.to_vec();
        messages.push(Message::User {
            text: question.into(),
        });
        follow_up(&known(), question, &messages, |t| Some(t.to_owned()))
    }

    #[test]
    fn a_place_or_a_level_changes_only_itself() {
        let history = turn(
            "school_statistics",
            json!({ "county": "Nairobi", "country": "KE", "group_by": "level" }),
            "{}",
        );
        assert_eq!(
            ask(&history, "And in Mombasa?"),
            Some((
                "school_statistics".into(),
                json!({ "county": "Mombasa", "country": "KE", "group_by": "level" })
            ))
        );
        assert_eq!(
            ask(&history, "What about secondary schools?"),
            Some((
                "school_statistics".into(),
                json!({ "county": "Nairobi", "country": "KE", "level": "secondary", "group_by": "ownership" })
            ))
        );
        assert_eq!(
            ask(&history, "How many schools are in Mombasa?"),
            None,
            "a whole question"
        );
        assert_eq!(ask(&history, "and then?"), None, "nothing named");
        assert_eq!(ask(&[], "And in Mombasa?"), None, "nothing to follow");
    }

    #[test]
    fn the_second_one_opens_the_second_school_listed() {
        let history = turn(
            "search_schools",
            json!({ "query": "moi" }),
            r#"{"total":3,"schools":[{"id":"KE-1","name":"A"},{"id":"KE-22","name":"B"},{"id":"KE-3","na"#,
        );
        assert_eq!(
            ask(&history, "Tell me about the second one"),
            Some(("get_school".into(), json!({ "id": "KE-22" })))
        );
        assert_eq!(
            ask(&history, "number 3"),
            Some(("get_school".into(), json!({ "id": "KE-3" })))
        );
        assert_eq!(ask(&history, "the fifth one"), None, "only three listed");
    }
}
