//! The offline planner: a provider that needs no model. Given the conversation
//! and the tool definitions it picks the tool that fits the question (from the
//! tools' names, descriptions and schemas plus the known counties, levels and
//! languages), calls it, and after the result streams a readable summary of it
//! (tables for lists), always saying it is the offline planner and how to
//! configure a real model. It is the default when no provider key is set.

use async_trait::async_trait;
use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

use super::{
    ChatRequest, EventStream, FinishReason, LlmProvider, Message, ProviderError, ProviderEvent,
    ToolCall, ToolResult, ToolSpec,
};

/// The footer every offline answer carries.
pub const OFFLINE_NOTE: &str = "_Answered by the offline planner: no LLM is configured. Set `GOOGLE_API_KEY` \
(Gemini), `OPENAI_API_KEY` or `OPENAI_BASE_URL` (OpenAI, or a local OpenAI-compatible server such as Ollama), or \
`ANTHROPIC_API_KEY` to use a real model._";

/// Values the planner recognises in a question.
#[derive(Debug, Clone, Default)]
pub struct KnownValues {
    /// (county as published, country code).
    pub counties: Vec<(String, String)>,
    pub sub_counties: Vec<String>,
    /// (code, name, other names).
    pub languages: Vec<(String, String, Vec<String>)>,
}

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

/// Lower-case words: apostrophes dropped ("children's" -> "childrens"), other punctuation turned into
/// spaces except hyphens and decimal points inside words.
fn words(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, '\'' | '’'))
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    format!(
        " {} ",
        cleaned
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '.' || c == '\''))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn has(q: &str, phrase: &str) -> bool {
    q.contains(&format!(" {phrase} "))
}

fn any(q: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has(q, p))
}

const STOP_WORDS: &[&str] = &[
    "what",
    "which",
    "where",
    "who",
    "is",
    "are",
    "was",
    "the",
    "a",
    "an",
    "in",
    "of",
    "for",
    "find",
    "show",
    "me",
    "list",
    "schools",
    "school",
    "named",
    "called",
    "tell",
    "about",
    "please",
    "any",
    "all",
    "there",
    "located",
    "near",
    "with",
    "and",
    "to",
    "on",
    "at",
    "get",
    "give",
    "info",
    "information",
    "details",
    "can",
    "you",
    "i",
    "want",
    "looking",
    "look",
    "up",
    "search",
    "some",
    "do",
    "does",
    "have",
    "has",
    "county",
    "story",
    "stories",
    "book",
    "books",
    "read",
    "reading",
    "children",
    "childrens",
    "kids",
    "language",
    "written",
    "by",
    "from",
    "that",
    "this",
    "my",
    "our",
    "country",
    "how",
    "many",
    "much",
    "s",
];

/// What the planner understood of a question.
#[derive(Debug, Default)]
struct Reading {
    country: Option<&'static str>,
    county: Option<String>,
    sub_county: Option<String>,
    level: Option<&'static str>,
    ownership: Option<&'static str>,
    language: Option<String>,
    /// Words left once the recognised values are taken out.
    rest: String,
}

impl OfflinePlanner {
    fn read(&self, question: &str) -> Reading {
        let mut q = words(question);
        let mut r = Reading::default();
        let take = |q: &mut String, phrase: &str| *q = q.replace(&format!(" {phrase} "), " ");
        if any(&q, &["kenya", "kenyan"]) {
            r.country = Some("KE");
        } else if any(
            &q,
            &[
                "florida",
                "usa",
                "us",
                "united states",
                "america",
                "american",
            ],
        ) {
            r.country = Some("US");
        }
        for w in [
            "kenya",
            "kenyan",
            "florida",
            "usa",
            "united states",
            "america",
            "american",
        ] {
            take(&mut q, w);
        }
        let mut counties = self.known.counties.clone();
        counties.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        for (name, country) in &counties {
            let phrase = words(name).trim().to_owned();
            // US county names are often plain words ("Lake", "Orange"): require "county" after them.
            let found = if country == "US" {
                has(&q, &format!("{phrase} county"))
            } else {
                has(&q, &phrase)
            };
            if found {
                r.county = Some(name.clone());
                r.country = r.country.or(if country == "US" {
                    Some("US")
                } else {
                    Some("KE")
                });
                take(&mut q, &phrase);
                break;
            }
        }
        let mut subs = self.known.sub_counties.clone();
        subs.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for name in subs {
            let phrase = words(&name).trim().to_owned();
            if has(&q, &phrase)
                && r.county
                    .as_deref()
                    .is_none_or(|c| words(c).trim() != phrase)
            {
                r.sub_county = Some(name.clone());
                take(&mut q, &phrase);
                break;
            }
        }
        for (phrases, level) in [
            (
                &[
                    "pre-primary",
                    "preprimary",
                    "pre-kindergarten",
                    "prekindergarten",
                    "nursery",
                    "ecde",
                ][..],
                "pre_primary",
            ),
            (&["primary", "elementary"][..], "primary"),
            (&["secondary", "high", "middle"][..], "secondary"),
        ] {
            if let Some(p) = phrases.iter().find(|p| has(&q, p)) {
                r.level = Some(level);
                take(&mut q, p);
                break;
            }
        }
        for (word, ownership) in [
            ("private", "private"),
            ("public", "public"),
            ("government", "public"),
        ] {
            if has(&q, word) {
                r.ownership = Some(ownership);
                take(&mut q, word);
            }
        }
        'languages: for (code, name, aliases) in &self.known.languages {
            for candidate in std::iter::once(name).chain(aliases.iter()) {
                let phrase = words(candidate).trim().to_owned();
                if phrase.len() > 2 && has(&q, &phrase) {
                    r.language = Some(code.clone());
                    take(&mut q, &phrase);
                    break 'languages;
                }
            }
        }
        r.rest = q
            .split_whitespace()
            .filter(|w| !STOP_WORDS.contains(w))
            .collect::<Vec<_>>()
            .join(" ");
        r
    }

    /// The tool call that answers `question`, if a tool fits. When the tool is
    /// not offered here but a handoff to an agent that has it is, that handoff.
    fn plan(&self, question: &str, tools: &[ToolSpec]) -> Option<(String, Value)> {
        let (name, args) = self.choose(question, tools)?;
        Some(if name.starts_with(HANDOFF) {
            (name, json!({}))
        } else {
            (name, args)
        })
    }

    fn choose(&self, question: &str, tools: &[ToolSpec]) -> Option<(String, Value)> {
        let q = words(question);
        let r = self.read(question);
        let tool = |name: &str| find_tool(tools, name).or_else(|| handoff_for(tools, name));
        let mut args = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                args.insert(k.to_owned(), v);
            }
        };
        // An id names one record.
        for token in q.split_whitespace() {
            let upper = token.to_ascii_uppercase();
            if (upper.starts_with("KE-") || upper.starts_with("US-"))
                && upper[3..].chars().all(|c| c.is_ascii_digit())
            {
                put("id", Some(json!(upper)));
                return tool("get_school").map(|t| (t, Value::Object(args)));
            }
            if token.starts_with("asp-")
                && token
                    .rsplit('-')
                    .next()
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            {
                put("id", Some(json!(token)));
                return tool("get_content").map(|t| (t, Value::Object(args)));
            }
        }
        // Two decimal numbers are a position.
        let numbers: Vec<f64> = q
            .split_whitespace()
            .filter(|w| w.contains('.'))
            .filter_map(|w| w.parse().ok())
            .collect();
        if numbers.len() >= 2
            && any(
                &q,
                &[
                    "near", "nearby", "close", "around", "within", "closest", "nearest",
                ],
            )
        {
            put("latitude", Some(json!(numbers[0])));
            put("longitude", Some(json!(numbers[1])));
            let radius = q
                .split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .find_map(|w| {
                    (w[1] == "km" || w[1] == "kilometres" || w[1] == "kilometers")
                        .then(|| w[0].parse::<f64>().ok())
                        .flatten()
                });
            put("radius_km", radius.map(|r| json!(r)));
            put("level", r.level.map(|l| json!(l)));
            put("ownership", r.ownership.map(|o| json!(o)));
            return tool("find_schools_near").map(|t| (t, Value::Object(args)));
        }
        let story = any(
            &q,
            &[
                "story",
                "stories",
                "book",
                "books",
                "read",
                "reading",
                "storybook",
                "tale",
                "tales",
            ],
        );
        if story || (r.language.is_some() && !any(&q, &["school", "schools"])) {
            put("query", (!r.rest.is_empty()).then(|| json!(r.rest)));
            put("language", r.language.as_ref().map(|l| json!(l)));
            return tool("search_content").map(|t| (t, Value::Object(args)));
        }
        if any(&q, &["regions", "counties", "sub-counties", "subcounties"])
            && any(&q, &["list", "which", "what", "regions"])
        {
            put("country", r.country.map(|c| json!(c)));
            return tool("list_regions").map(|t| (t, Value::Object(args)));
        }
        let stats = any(
            &q,
            &[
                "how many",
                "number of",
                "count",
                "statistics",
                "stats",
                "total",
                "enrolment",
                "enrollment",
                "pupils",
                "students",
                "teachers",
                "ratio",
                "average",
                "compare",
                "breakdown",
            ],
        );
        let filters = |args: &mut Map<String, Value>| {
            for (k, v) in [
                ("country", r.country.map(|c| json!(c))),
                ("county", r.county.as_ref().map(|c| json!(c))),
                ("sub_county", r.sub_county.as_ref().map(|c| json!(c))),
                ("level", r.level.map(|l| json!(l))),
                ("ownership", r.ownership.map(|o| json!(o))),
            ] {
                if let Some(v) = v {
                    args.insert(k.to_owned(), v);
                }
            }
        };
        if stats {
            let group_by = [
                "sub-county",
                "sub county",
                "county",
                "level",
                "ownership",
                "country",
            ]
            .iter()
            .find(|g| {
                has(&q, &format!("by {g}"))
                    || has(&q, &format!("per {g}"))
                    || has(&q, &format!("each {g}"))
            })
            .map(|g| g.replace(['-', ' '], "_"))
            .unwrap_or_else(|| {
                if r.county.is_some() || r.sub_county.is_some() {
                    "level".into()
                } else if r.country.is_some() && !any(&q, &["total", "how many", "number of"]) {
                    "county".into()
                } else {
                    "country".into()
                }
            });
            args.insert("group_by".into(), json!(group_by));
            filters(&mut args);
            return tool("school_statistics").map(|t| (t, Value::Object(args)));
        }
        filters(&mut args);
        if !r.rest.is_empty() {
            args.insert("query".into(), json!(r.rest));
        }
        tool("search_schools")
            .map(|t| (t, Value::Object(args)))
            .or_else(|| best_by_description(tools, &q))
    }

    fn respond(&self, request: &ChatRequest) -> Vec<ProviderEvent> {
        let mut out = Vec::new();
        match request.messages.last() {
            // After a handoff the new agent answers the user's question itself.
            Some(Message::Tool { results })
                if !results.is_empty()
                    && results.iter().all(|r| r.name.starts_with("transfer_to_")) =>
            {
                let question = request.messages.iter().rev().find_map(|m| match m {
                    Message::User { text } => Some(text.clone()),
                    _ => None,
                });
                let mut asked = request.clone();
                asked.messages = question
                    .map(|text| vec![Message::User { text }])
                    .unwrap_or_default();
                return self.respond(&asked);
            }
            Some(Message::Tool { results }) => {
                let tool = tool_name_of(request, results);
                text(&mut out, &summarise(&tool, results));
            }
            Some(Message::User { text: question }) if !request.tools.is_empty() => {
                match self.plan(question, &request.tools) {
                    Some((name, arguments)) => {
                        let id = format!("offline-{}", uuid::Uuid::new_v4().simple());
                        out.push(ProviderEvent::ToolCallStart {
                            index: 0,
                            id: id.clone(),
                            name: name.clone(),
                        });
                        out.push(ProviderEvent::ToolCall {
                            index: 0,
                            call: ToolCall {
                                id,
                                name,
                                arguments,
                                signature: None,
                            },
                        });
                        out.push(ProviderEvent::Finish {
                            reason: FinishReason::ToolCalls,
                            raw: "tool_calls".into(),
                        });
                        return out;
                    }
                    None => text(
                        &mut out,
                        "I could not match this question to any of my tools. Try asking about schools (by name, county, level or ownership), school statistics, schools near a position, or children's stories in a language.",
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

/// Prefix of the agents' handoff tools.
const HANDOFF: &str = "transfer_to_";

/// The handoff to an agent whose description covers `tool` (stories for
/// content tools, the web for web search, schools otherwise).
fn handoff_for(tools: &[ToolSpec], tool: &str) -> Option<String> {
    let topic: &[&str] = if tool.contains("content") {
        &["stories", "story"]
    } else if tool.contains("web") {
        &["web"]
    } else {
        &["schools", "school"]
    };
    tools
        .iter()
        .filter(|t| t.name.starts_with(HANDOFF))
        .find(|t| {
            let d = words(&t.description);
            topic.iter().any(|w| has(&d, w))
        })
        .map(|t| t.name.clone())
}

/// The tool named `name`, also when it is namespaced (`emis__search_schools`).
fn find_tool(tools: &[ToolSpec], name: &str) -> Option<String> {
    tools
        .iter()
        .find(|t| t.name == name || t.name.ends_with(&format!("__{name}")))
        .map(|t| t.name.clone())
}

/// Falls back to the tool whose description shares the most words with the question.
fn best_by_description(tools: &[ToolSpec], q: &str) -> Option<(String, Value)> {
    tools
        .iter()
        .filter(|t| {
            t.parameters["required"]
                .as_array()
                .is_none_or(Vec::is_empty)
        })
        .map(|t| {
            (
                words(&t.description)
                    .split_whitespace()
                    .filter(|w| w.len() > 3 && has(q, w))
                    .count(),
                t,
            )
        })
        .filter(|(score, _)| *score > 0)
        .max_by_key(|(score, _)| *score)
        .map(|(_, t)| (t.name.clone(), json!({})))
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

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "n/a".into(),
        Value::String(s) => s.replace('|', "/").trim().to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A readable answer from a tool's result.
fn summarise(tool: &str, results: &[ToolResult]) -> String {
    let Some(result) = results.first() else {
        return "The tool returned nothing.".into();
    };
    let short = tool.rsplit("__").next().unwrap_or(tool);
    if result.is_error {
        return format!(
            "The `{short}` tool could not answer: {}",
            result.content.trim()
        );
    }
    let Ok(v) = serde_json::from_str::<Value>(&result.content) else {
        return result.content.trim().to_owned();
    };
    if let Some(schools) = v["schools"].as_array() {
        let total = v["total"].as_u64().unwrap_or(schools.len() as u64);
        if schools.is_empty() {
            return format!("No school matched (`{short}` found {total}).");
        }
        let near = schools.iter().any(|s| s.get("distance_km").is_some());
        let mut out = format!(
            "Found **{total}** school{}{}:\n\n",
            if total == 1 { "" } else { "s" },
            if (schools.len() as u64) < total {
                format!(" (the first {} are listed)", schools.len())
            } else {
                String::new()
            }
        );
        let columns: &[&str] = if near {
            &["name", "id", "distance_km", "county", "level", "ownership"]
        } else {
            &["name", "id", "county", "level", "ownership", "enrolment"]
        };
        out.push_str(if near {
            "| School | ID | Distance (km) | County | Level | Ownership |\n|---|---|---|---|---|---|\n"
        } else {
            "| School | ID | County | Level | Ownership | Enrolment |\n|---|---|---|---|---|---|\n"
        });
        for s in schools {
            let cells: Vec<String> = columns.iter().map(|c| cell(&s[*c])).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        return out;
    }
    if let Some(groups) = v["groups"].as_array() {
        let by = v["group_by"].as_str().unwrap_or("group");
        let total = &v["total"];
        let mut out = format!(
            "**{}** schools in all, by {by}:\n\n| {by} | Schools | Enrolment | Teachers | Pupil-teacher ratio |\n|---|---|---|---|---|\n",
            cell(&total["schools"])
        );
        for g in groups {
            let key = if g["key"].is_null() {
                "(not given)".to_owned()
            } else {
                cell(&g["key"])
            };
            out.push_str(&format!(
                "| {key} | {} | {} | {} | {} |\n",
                cell(&g["schools"]),
                cell(&g["enrolment"]),
                cell(&g["teachers"]),
                cell(&g["pupil_teacher_ratio"])
            ));
        }
        if let Some(notes) = total["notes"].as_array().filter(|n| !n.is_empty()) {
            out.push('\n');
            for note in notes {
                out.push_str(&format!("- {}\n", cell(note)));
            }
        }
        return out;
    }
    if let Some(stories) = v["stories"].as_array() {
        let total = v["total"].as_u64().unwrap_or(stories.len() as u64);
        if stories.is_empty() {
            return "No story matched.".into();
        }
        let mut out = format!(
            "Found **{total}** stor{}:\n\n",
            if total == 1 { "y" } else { "ies" }
        );
        for (i, s) in stories.iter().enumerate() {
            out.push_str(&format!(
                "{}. **{}** ({}, {} pages, id `{}`): {}\n   _{}_\n",
                i + 1,
                cell(&s["title"]),
                cell(&s["language_name"]),
                cell(&s["pages"]),
                cell(&s["id"]),
                cell(&s["excerpt"]),
                cell(&s["attribution"])
            ));
        }
        return out;
    }
    if let Some(countries) = v["countries"].as_array() {
        let mut out = String::from("| Country | County | Schools |\n|---|---|---|\n");
        for c in countries {
            out.push_str(&format!(
                "| **{}** | (all) | {} |\n",
                cell(&c["name"]),
                cell(&c["schools"])
            ));
            for county in c["counties"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let name = if county["name"].is_null() {
                    "(not given)".to_owned()
                } else {
                    cell(&county["name"])
                };
                out.push_str(&format!(
                    "| {} | {name} | {} |\n",
                    cell(&c["country"]),
                    cell(&county["schools"])
                ));
            }
        }
        return out;
    }
    if v.get("body").is_some() && v.get("attribution").is_some() {
        let body: String = v["body"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(2_000)
            .collect();
        return format!(
            "**{}** ({})\n\n{}\n\n_{}_",
            cell(&v["title"]),
            cell(&v["language_name"]),
            body,
            cell(&v["attribution"])
        );
    }
    if v.get("level_detail").is_some() {
        let mut out = format!("**{}** (`{}`)\n\n", cell(&v["name"]), cell(&v["id"]));
        if let Some(map) = v.as_object() {
            for (k, value) in map
                .iter()
                .filter(|(k, value)| !value.is_null() && *k != "name" && *k != "id")
            {
                out.push_str(&format!("- {}: {}\n", k.replace('_', " "), cell(value)));
            }
            let missing: Vec<&str> = map
                .iter()
                .filter(|(_, value)| value.is_null())
                .map(|(k, _)| k.as_str())
                .collect();
            if !missing.is_empty() {
                out.push_str(&format!(
                    "\nNot published for this school: {}.\n",
                    missing.join(", ").replace('_', " ")
                ));
            }
        }
        return out;
    }
    if let Some(results) = v["results"].as_array() {
        let mut out = v["answer"]
            .as_str()
            .map(|a| format!("{a}\n\n"))
            .unwrap_or_default();
        for r in results {
            out.push_str(&format!(
                "- [{}]({}): {}\n",
                cell(&r["title"]),
                cell(&r["url"]),
                cell(&r["content"])
            ));
        }
        return out;
    }
    format!(
        "```json\n{}\n```",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        planner().plan(q, &tools()).expect("a tool")
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
