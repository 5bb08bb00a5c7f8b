//! Turning a tool's result into a readable answer: tables for lists of
//! schools, groups and regions, a list for stories, a record's fields (and
//! which ones the data does not publish), "n/a" for a missing figure.

use serde_json::Value;

use crate::domain::ToolResult;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "n/a".into(),
        Value::String(s) => s.replace('|', "/").trim().to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A readable answer from a tool's result.
pub(super) fn summarise(tool: &str, results: &[ToolResult]) -> String {
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
    if let Some(text) = v["remembered"]["text"].as_str() {
        return format!(
            "I will remember that: “{text}”. You can see, change and delete what I remember on your Memory page."
        );
    }
    if let Some(text) = v["forgotten"].as_str() {
        return format!("I have forgotten “{text}”.");
    }
    if short == "recall"
        && let Some(memories) = v["memories"].as_array()
    {
        if memories.is_empty() {
            return "I remember nothing about you yet.".into();
        }
        let lines: Vec<String> = memories
            .iter()
            .filter_map(|m| m["text"].as_str())
            .map(|t| format!("- {t}"))
            .collect();
        return format!(
            "What I remember about you:

{}",
            lines.join(
                "
"
            )
        );
    }
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
