//! Choosing the tool that answers a question, and its arguments: "remember
//! that ..." is the memory tool, an id names one record, two decimals near
//! "near" are a position, story words mean the content tools, counting words
//! mean statistics, anything else a school search; "my county" is the
//! profile's. A tool this agent lacks becomes a handoff to the agent that
//! has it.

use serde_json::{Map, Value, json};

use super::reading::{Reading, any, has, read, words};
use crate::{
    agent::runner::HANDOFF_PREFIX,
    domain::{KnownValues, Profile, ToolSpec},
};

/// The memory tools: never a fallback for a question about the data.
const MEMORY_TOOLS: &[&str] = &["remember", "recall", "forget"];

/// The tool call that answers `question`, if a tool fits. When the tool is
/// not offered here but a handoff to an agent that has it is, that handoff.
pub(super) fn plan(
    known: &KnownValues,
    question: &str,
    tools: &[ToolSpec],
    profile: Option<&Profile>,
) -> Option<(String, Value)> {
    if let Some(call) = memory_request(question, tools) {
        return Some(call);
    }
    let (name, args) = choose(known, question, tools, profile)?;
    Some(if name.starts_with(HANDOFF_PREFIX) {
        (name, json!({}))
    } else {
        (name, args)
    })
}

/// "Remember that ..." and "what do you remember about me?", when the
/// memory tools are offered.
pub(super) fn memory_request(question: &str, tools: &[ToolSpec]) -> Option<(String, Value)> {
    let trimmed = question.trim();
    let lower = trimmed.to_lowercase();
    let offered = |name: &str| tools.iter().any(|t| t.name == name);
    for opening in [
        "please remember that ",
        "remember that ",
        "please remember ",
        "remember ",
    ] {
        if lower.starts_with(opening) && offered("remember") {
            let text = trimmed[opening.len()..].trim().trim_end_matches('.');
            return (!text.is_empty()).then(|| ("remember".into(), json!({ "text": text })));
        }
    }
    let q = words(question);
    if offered("recall")
        && any(
            &q,
            &[
                "what do you remember",
                "what do you know about me",
                "what have you remembered",
            ],
        )
    {
        return Some(("recall".into(), json!({ "query": "" })));
    }
    None
}

fn choose(
    known: &KnownValues,
    question: &str,
    tools: &[ToolSpec],
    profile: Option<&Profile>,
) -> Option<(String, Value)> {
    let q = words(question);
    let mut r: Reading = read(known, question);
    // "My county" is the one in the user's profile.
    if r.county.is_none()
        && any(
            &q,
            &[
                "my county",
                "my district",
                "my area",
                "where i work",
                "my sub-county",
            ],
        )
        && let Some(profile) = profile
        && let Some(county) = &profile.county
    {
        r.county = Some(county.clone());
        r.country = match profile.country.as_deref() {
            Some("KE") => Some("KE"),
            Some("US") => Some("US"),
            _ => r.country,
        };
    }
    let tool = |name: &str| tool_or_handoff(tools, name);
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
            "hadithi",
            "histoires",
            "contes",
            "historias",
            "tale",
            "tales",
        ],
    );
    if story || (r.language.is_some() && !any(&q, &["school", "schools"])) {
        // A common theme is looked for by its words in the story's language.
        match theme_words(&q, r.language.as_deref()) {
            Some(words) => {
                put("query", Some(json!(words)));
                put("any_word", Some(json!(true)));
            }
            None => put("query", (!r.rest.is_empty()).then(|| json!(r.rest))),
        }
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

/// Children's-story themes and their words in the languages with the most
/// stories (English, Kiswahili, French, Portuguese): a theme asked for in
/// any of them is looked for in the story's language.
const THEMES: &[(&[&str], [&str; 4])] = &[
    (
        &[
            "animal", "animals", "wanyama", "mnyama", "animaux", "animais",
        ],
        [
            "animal animals dog cat goat cow lion elephant hare hen chicken bird monkey",
            "wanyama mnyama mbwa paka mbuzi ngombe simba tembo sungura kuku ndege nyani",
            "animal animaux chien chat chèvre vache lion éléphant lièvre poule oiseau singe",
            "animal animais cão gato cabra vaca leão elefante lebre galinha pássaro macaco",
        ],
    ),
    (
        &["family", "familia", "famille", "família"],
        [
            "family mother father grandmother grandfather brother sister baby",
            "familia mama baba bibi babu kaka dada mtoto",
            "famille mère père grand-mère frère sœur bébé",
            "família mãe pai avó avô irmão irmã bebé",
        ],
    ),
    (
        &["school", "shule", "école", "escola"],
        [
            "school teacher class learn",
            "shule mwalimu darasa kusoma",
            "école maître maîtresse classe",
            "escola professor professora aula",
        ],
    ),
    (
        &["water", "maji", "eau", "água", "agua", "river", "rain"],
        [
            "water river rain lake sea well",
            "maji mto mvua ziwa bahari kisima",
            "eau rivière pluie lac mer puits",
            "água rio chuva lago mar poço",
        ],
    ),
    (
        &["food", "chakula", "nourriture", "comida"],
        [
            "food eat cook hungry",
            "chakula kula pika njaa",
            "nourriture manger cuisine faim",
            "comida comer cozinhar fome",
        ],
    ),
    (
        &[
            "friend",
            "friends",
            "friendship",
            "rafiki",
            "marafiki",
            "ami",
            "amis",
            "amigo",
            "amigos",
        ],
        [
            "friend friends",
            "rafiki marafiki",
            "ami amie amis",
            "amigo amiga amigos",
        ],
    ),
];

/// The words of the theme `rest` names, in `language` (English's when it
/// is none of the four).
fn theme_words(question: &str, language: Option<&str>) -> Option<&'static str> {
    let rest = words(question);
    let (_, by_language) = THEMES
        .iter()
        .find(|(names, _)| names.iter().any(|n| has(&rest, n)))?;
    let at = match language {
        Some("sw") => 1,
        Some("fr") => 2,
        Some("pt") => 3,
        _ => 0,
    };
    Some(by_language[at])
}

/// `name` as this agent has it, or the handoff to the agent that has it.
pub(super) fn tool_or_handoff(tools: &[ToolSpec], name: &str) -> Option<String> {
    find_tool(tools, name).or_else(|| handoff_for(tools, name))
}

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
        .filter(|t| t.name.starts_with(HANDOFF_PREFIX))
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
        .filter(|t| !MEMORY_TOOLS.contains(&t.name.as_str()))
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
