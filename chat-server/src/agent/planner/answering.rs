//! Planning the tool calls an intent needs and answering the question that
//! was asked from their results: the answer's first sentence is the answer
//! ("Nairobi has more schools than Mombasa: 1,041 against 660."), then the
//! supporting table, saying what each figure is computed over. Each step
//! reads the calls already made this turn from the conversation, so a run
//! resumed on another replica plans the same way.

use serde_json::{Map, Value, json};

use super::{
    intent::{Decline, Dimension, Field, Figure, Intent, Scope},
    summary,
};
use crate::domain::{Message, ToolResult};

/// A call made this turn and its result.
pub(super) struct Done {
    pub name: String,
    pub arguments: Value,
    pub result: Option<ToolResult>,
}

/// What to do next.
#[derive(Debug, PartialEq)]
pub(super) enum Next {
    Call(&'static str, Value),
    Answer(String),
}

/// The data calls made since the question (not handoffs), with results.
pub(super) fn done_this_turn(messages: &[Message]) -> Vec<Done> {
    let asked = messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .map_or(0, |i| i + 1);
    let mut out: Vec<Done> = Vec::new();
    for m in &messages[asked..] {
        match m {
            Message::Assistant { tool_calls, .. } => {
                out.extend(
                    tool_calls
                        .iter()
                        .filter(|c| !c.name.starts_with(crate::agent::runner::HANDOFF_PREFIX))
                        .map(|c| Done {
                            name: short(&c.name).to_owned(),
                            arguments: c.arguments.clone(),
                            result: None,
                        }),
                );
            }
            Message::Tool { results } => {
                for r in results {
                    if let Some(d) = out
                        .iter_mut()
                        .find(|d| d.result.is_none() && d.name == short(&r.name))
                    {
                        d.result = Some(r.clone());
                    }
                }
            }
            Message::User { .. } => {}
        }
    }
    out
}

fn short(name: &str) -> &str {
    name.rsplit("__").next().unwrap_or(name)
}

fn filters(scope: &Scope, args: &mut Map<String, Value>) {
    for (k, v) in [
        ("country", scope.country.map(str::to_owned)),
        ("county", scope.county.clone()),
        ("sub_county", scope.sub_county.clone()),
        ("level", scope.level.map(str::to_owned)),
        ("ownership", scope.ownership.map(str::to_owned)),
    ] {
        if let Some(v) = v {
            args.insert(k.to_owned(), json!(v));
        }
    }
}

fn statistics(scope: &Scope, group_by: &str) -> (&'static str, Value) {
    let mut args = Map::new();
    args.insert("group_by".into(), json!(group_by));
    filters(scope, &mut args);
    args.insert("limit".into(), json!(500));
    ("school_statistics", Value::Object(args))
}

/// The group a figure over `scope` is shown by.
fn default_group(scope: &Scope) -> &'static str {
    // Small groups: a county-by-county table of a country would be cut
    // before the model (and the planner) read its total.
    if scope.sub_county.is_some() {
        "ownership"
    } else if scope.county.is_some() || scope.country.is_some() {
        "level"
    } else {
        "country"
    }
}

fn sort_field(figure: Figure) -> &'static str {
    match figure {
        Figure::Teachers => "teachers",
        Figure::Ratio => "pupil_teacher_ratio",
        _ => "enrolment",
    }
}

/// The calls `intent` needs, given those `done` so far (a later call may
/// depend on an earlier result).
fn calls(intent: &Intent, done: &[Done]) -> Vec<(&'static str, Value)> {
    match intent {
        Intent::Figure { scope, .. } => vec![statistics(scope, default_group(scope))],
        Intent::Compare { sides, .. } => sides
            .iter()
            .map(|(_, s)| statistics(s, "country"))
            .collect(),
        Intent::Rank {
            by: Dimension::School,
            figure,
            scope,
            highest,
            top,
        } => {
            let mut args = Map::new();
            filters(scope, &mut args);
            args.insert("sort_by".into(), json!(sort_field(*figure)));
            args.insert("order".into(), json!(if *highest { "desc" } else { "asc" }));
            args.insert("limit".into(), json!(top));
            vec![("search_schools", Value::Object(args))]
        }
        Intent::Rank {
            by,
            scope,
            figure,
            highest,
            top,
        } => {
            let group = match by {
                Dimension::County => "county",
                Dimension::SubCounty => "sub_county",
                Dimension::Level => "level",
                Dimension::Ownership | Dimension::School => "ownership",
            };
            // The tool ranks the groups, so the answer needs only the first ones.
            let (name, mut args) = statistics(scope, group);
            args["sort_by"] = json!(match figure {
                Figure::Schools => "schools",
                Figure::AverageEnrolment => "average_enrolment",
                other => sort_field(*other),
            });
            args["order"] = json!(if *highest { "desc" } else { "asc" });
            args["limit"] = json!((*top).max(2));
            vec![(name, args)]
        }
        Intent::Field { name, scope, .. } => {
            let mut args = Map::new();
            args.insert("query".into(), json!(name));
            filters(scope, &mut args);
            args.insert("limit".into(), json!(5));
            let mut out = vec![("search_schools", Value::Object(args))];
            if let Some(id) = done
                .first()
                .and_then(|d| d.result.as_ref())
                .and_then(|r| serde_json::from_str::<Value>(&r.content).ok())
                .and_then(|v| v["schools"][0]["id"].as_str().map(str::to_owned))
            {
                out.push(("get_school", json!({ "id": id })));
            }
            out
        }
        Intent::Decline(_) | Intent::Other => Vec::new(),
    }
}

/// The next call for `intent`, or its answer; `None` when the calls made
/// this turn are not the intent's (a follow-up's), or it is not planned here.
pub(super) fn next(intent: &Intent, done: &[Done]) -> Option<Next> {
    if let Intent::Decline(why) = intent {
        return Some(Next::Answer(decline(why)));
    }
    let planned = calls(intent, done);
    if planned.is_empty() {
        return None;
    }
    for (d, (name, args)) in done.iter().zip(&planned) {
        if d.name != *name || (d.arguments != *args && d.name != "get_school") {
            return None;
        }
    }
    if let Some(failed) = done
        .iter()
        .filter_map(|d| d.result.as_ref())
        .find(|r| r.is_error)
    {
        return Some(Next::Answer(summary::summarise(
            &failed.name,
            std::slice::from_ref(failed),
        )));
    }
    if done.len() < planned.len() {
        let (name, args) = planned[done.len()].clone();
        return Some(Next::Call(name, args));
    }
    let results: Vec<Value> = done
        .iter()
        .map(|d| {
            d.result
                .as_ref()
                .and_then(|r| serde_json::from_str(&r.content).ok())
                .unwrap_or(Value::Null)
        })
        .collect();
    Some(Next::Answer(answer(intent, &results, done)))
}

/// A count with thousands separated: 37,930.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn place_of(scope: &Scope) -> String {
    if let Some(sub) = &scope.sub_county {
        return format!("in {sub} sub-county");
    }
    match (&scope.county, scope.country) {
        (Some(county), Some("US")) => format!("in {county} county, Florida"),
        (Some(county), _) => format!("in {county} county"),
        (None, Some("KE")) => "in Kenya".into(),
        (None, Some("US")) => "in Florida".into(),
        (None, _) => "in Kenya and Florida".into(),
    }
}

/// "public secondary schools".
fn schools_of(scope: &Scope) -> String {
    let mut words = Vec::new();
    if let Some(o) = scope.ownership {
        words.push(o.to_owned());
    }
    if let Some(l) = scope.level {
        words.push(l.replace('_', "-"));
    }
    words.push("schools".into());
    words.join(" ")
}

/// A figure of one statistics group: (its value, as said, what it is over).
fn measure(figure: Figure, g: &Value) -> (Option<f64>, String, String) {
    let n = |k: &str| g[k].as_u64();
    let over = |k: &str, what: &str| {
        n(k).map(|m| format!("over the {} schools that report {what}", thousands(m)))
            .unwrap_or_default()
    };
    match figure {
        Figure::Schools => {
            let s = n("schools").unwrap_or(0);
            (
                Some(s as f64),
                format!("{} school{}", thousands(s), if s == 1 { "" } else { "s" }),
                "every school listed".into(),
            )
        }
        Figure::Enrolment => (
            n("enrolment").map(|v| v as f64),
            n("enrolment").map_or("not available".into(), |v| {
                format!("{} pupils", thousands(v))
            }),
            over("schools_reporting_enrolment", "enrolment"),
        ),
        Figure::Teachers => (
            n("teachers").map(|v| v as f64),
            n("teachers").map_or("not available".into(), |v| {
                format!("{} teachers", thousands(v))
            }),
            over("schools_reporting_teachers", "teachers"),
        ),
        Figure::Ratio => (
            g["pupil_teacher_ratio"].as_f64(),
            g["pupil_teacher_ratio"]
                .as_f64()
                .map_or("not available".into(), |r| {
                    format!("{r:.2} pupils per teacher")
                }),
            over(
                "schools_in_ratio",
                "both enrolment and teachers (more than 0)",
            ),
        ),
        Figure::AverageEnrolment => {
            let avg = match (n("enrolment"), n("schools_reporting_enrolment")) {
                (Some(e), Some(s)) if s > 0 => Some(((e as f64 / s as f64) * 10.0).round() / 10.0),
                _ => None,
            };
            (
                avg,
                avg.map_or("not available".into(), |a| {
                    format!("{a:.1} pupils per school")
                }),
                over("schools_reporting_enrolment", "enrolment"),
            )
        }
    }
}

fn figure_name(figure: Figure, scope: &Scope) -> String {
    match figure {
        Figure::Schools => schools_of(scope),
        Figure::Enrolment => "pupils".into(),
        Figure::Teachers => "teachers".into(),
        Figure::Ratio => "pupil-teacher ratio".into(),
        Figure::AverageEnrolment => "pupils per school on average".into(),
    }
}

fn answer(intent: &Intent, results: &[Value], done: &[Done]) -> String {
    let table = |i: usize| {
        done.get(i)
            .and_then(|d| d.result.as_ref())
            .map(|r| summary::summarise(&d_name(done, i), std::slice::from_ref(r)))
            .unwrap_or_default()
    };
    match intent {
        Intent::Figure { figure, scope } => {
            let total = &results[0]["total"];
            let (value, said, over) = measure(*figure, total);
            let _ = &said;
            let place = place_of(scope);
            let first = match (figure, value) {
                (_, None) => format!(
                    "The data has no {} figure for {} {place}.",
                    figure_name(*figure, scope),
                    schools_of(scope)
                ),
                (Figure::Schools, Some(n)) => {
                    let n = n as u64;
                    let what = schools_of(scope);
                    if n == 1 {
                        format!("There is 1 {} {place}.", what.trim_end_matches('s'))
                    } else {
                        format!("There are {} {what} {place}.", thousands(n))
                    }
                }
                (Figure::Enrolment, _) => format!(
                    "{} {place} enrol {said} in all, {over}.",
                    capital(&schools_of(scope))
                ),
                (Figure::Teachers, _) => format!(
                    "{} {place} have {said} in all, {over}.",
                    capital(&schools_of(scope))
                ),
                (Figure::Ratio, _) => format!(
                    "The pupil-teacher ratio of {} {place} is {said}, {over}.",
                    schools_of(scope)
                ),
                (Figure::AverageEnrolment, _) => format!(
                    "{} {place} have {said} on average, {over}.",
                    capital(&schools_of(scope))
                ),
            };
            format!("{first}\n\n{}", table(0))
        }
        Intent::Compare { figure, sides } => {
            let mut rows: Vec<(String, Option<f64>, String, String)> = sides
                .iter()
                .zip(results)
                .map(|((label, _), r)| {
                    let (v, said, over) = measure(*figure, &r["total"]);
                    (label.clone(), v, said, over)
                })
                .collect();
            let shown = rows.clone();
            rows.sort_by(|a, b| b.1.unwrap_or(f64::MIN).total_cmp(&a.1.unwrap_or(f64::MIN)));
            let scope = &sides[0].1;
            let what = match figure {
                Figure::Schools
                    if sides
                        .iter()
                        .all(|(_, s)| s.level == scope.level && s.ownership == scope.ownership) =>
                {
                    schools_of(scope)
                }
                Figure::Schools => "schools".into(),
                other => figure_name(*other, scope),
            };
            let first = if rows.len() == 2 && rows[0].1 == rows[1].1 {
                format!(
                    "{} and {} have the same: {} each.",
                    shown[0].0, shown[1].0, rows[0].2
                )
            } else if rows.len() == 2 {
                let more = match figure {
                    Figure::Ratio => format!("a higher pupil-teacher ratio than {}", rows[1].0),
                    Figure::AverageEnrolment => {
                        format!("more pupils per school than {}", rows[1].0)
                    }
                    _ => format!("more {what} than {}", rows[1].0),
                };
                format!(
                    "{} has {more}: {} against {}.",
                    rows[0].0, rows[0].2, rows[1].2
                )
            } else {
                format!(
                    "{} has the most {what}: {}; then {}.",
                    rows[0].0,
                    rows[0].2,
                    rows[1..]
                        .iter()
                        .map(|r| format!("{} {}", r.0, r.2))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let mut out = format!(
                "{first}\n\n| | {} | Computed over |\n|---|---|---|\n",
                capital(&figure_name(*figure, scope))
            );
            for (label, _, said, over) in &shown {
                out.push_str(&format!(
                    "| {label} | {said} | {} |\n",
                    if over.is_empty() {
                        "every school"
                    } else {
                        over
                    }
                ));
            }
            out
        }
        Intent::Rank {
            figure,
            by: Dimension::School,
            scope,
            highest,
            ..
        } => {
            let schools = results[0]["schools"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let value = |s: &Value| match figure {
                Figure::Teachers => s["teachers"].as_f64(),
                Figure::Ratio => match (s["enrolment"].as_f64(), s["teachers"].as_f64()) {
                    (Some(e), Some(t)) if t > 0.0 => Some((e / t * 100.0).round() / 100.0),
                    _ => None,
                },
                _ => s["enrolment"].as_f64(),
            };
            let said = |v: f64| match figure {
                Figure::Teachers => format!("{} teachers", thousands(v as u64)),
                Figure::Ratio => format!("{v:.2} pupils per teacher"),
                _ => format!("{} pupils", thousands(v as u64)),
            };
            let ranked: Vec<&Value> = schools.iter().filter(|s| value(s).is_some()).collect();
            let Some(top) = ranked.first() else {
                return format!(
                    "No {} {} reports {}.",
                    schools_of(scope),
                    place_of(scope),
                    figure_name(*figure, scope)
                );
            };
            let adjective = match (figure, highest) {
                (Figure::Teachers, true) => "with the most teachers",
                (Figure::Teachers, false) => "with the fewest teachers",
                (Figure::Ratio, true) => "with the highest pupil-teacher ratio",
                (Figure::Ratio, false) => "with the lowest pupil-teacher ratio",
                (_, true) => "with the most pupils",
                (_, false) => "with the fewest pupils",
            };
            let mut out = format!(
                "The {} {place} {adjective} is {} (`{}`, {} county): {}.\n\n| School | ID | County | {} |\n|---|---|---|---|\n",
                schools_of(scope).trim_end_matches('s'),
                summary_cell(&top["name"]),
                summary_cell(&top["id"]),
                summary_cell(&top["county"]),
                value(top).map(said).unwrap_or_default(),
                capital(&figure_name(*figure, scope)),
                place = place_of(scope),
            );
            for s in &ranked {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    summary_cell(&s["name"]),
                    summary_cell(&s["id"]),
                    summary_cell(&s["county"]),
                    value(s).map(said).unwrap_or_default()
                ));
            }
            out.push_str(&format!(
                "\nRanked over the {} that report the figure.\n",
                schools_of(scope)
            ));
            out
        }
        Intent::Rank {
            figure,
            by,
            scope,
            highest,
            top,
        } => {
            let mut groups: Vec<(String, Option<f64>, String, String)> = results[0]["groups"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|g| {
                    let key = g["key"].as_str()?.to_owned();
                    let (v, said, over) = measure(*figure, g);
                    v.map(|_| (key, v, said, over))
                })
                .collect();
            groups.sort_by(|a, b| {
                let (a, b) = (a.1.unwrap_or(0.0), b.1.unwrap_or(0.0));
                if *highest {
                    b.total_cmp(&a)
                } else {
                    a.total_cmp(&b)
                }
            });
            let noun = match by {
                Dimension::County => "county",
                Dimension::SubCounty => "sub-county",
                Dimension::Level => "level",
                _ => "ownership",
            };
            let Some(first) = groups.first() else {
                return format!(
                    "No {noun} {} has a {} figure.",
                    place_of(scope),
                    figure_name(*figure, scope)
                );
            };
            let ties: Vec<&str> = groups
                .iter()
                .skip(1)
                .take_while(|g| g.1 == first.1)
                .map(|g| g.0.as_str())
                .collect();
            let most = match (figure, highest) {
                (Figure::Ratio, true) => "the highest pupil-teacher ratio".to_owned(),
                (Figure::Ratio, false) => "the lowest pupil-teacher ratio".to_owned(),
                (Figure::AverageEnrolment, true) => "the most pupils per school".to_owned(),
                (Figure::AverageEnrolment, false) => "the fewest pupils per school".to_owned(),
                (f, true) => format!("the most {}", figure_name(*f, scope)),
                (f, false) => format!("the fewest {}", figure_name(*f, scope)),
            };
            let who = if ties.is_empty() {
                format!("{} has", first.0)
            } else {
                format!("{} and {} share", first.0, ties.join(", "))
            };
            let over = if first.3.is_empty() {
                String::new()
            } else {
                format!(" ({})", first.3)
            };
            let mut out = format!(
                "{who} {most} of the {} {}: {}{over}.\n\n| Rank | {} | {} | Computed over |\n|---|---|---|---|\n",
                match by {
                    Dimension::County => "counties",
                    Dimension::SubCounty => "sub-counties",
                    Dimension::Level => "levels",
                    _ => "kinds of ownership",
                },
                place_of(&match by {
                    Dimension::County => Scope {
                        county: None,
                        sub_county: None,
                        ..scope.clone()
                    },
                    _ => scope.clone(),
                })
                .replace("in Kenya and Florida", "in both countries"),
                first.2,
                capital(noun),
                capital(&figure_name(*figure, scope)),
            );
            for (i, (key, _, said, over)) in groups.iter().take(*top).enumerate() {
                out.push_str(&format!(
                    "| {} | {key} | {said} | {} |\n",
                    i + 1,
                    if over.is_empty() {
                        "every school"
                    } else {
                        over
                    }
                ));
            }
            out
        }
        Intent::Field { field, name, .. } => {
            let found = &results[0];
            let total = found["total"].as_u64().unwrap_or(0);
            let Some(school) = results.get(1).filter(|s| s.is_object()) else {
                return format!(
                    "I found no school named “{name}”. Try part of its name, or add its county."
                );
            };
            let title = format!(
                "{} (`{}`, {})",
                summary_cell(&school["name"]),
                summary_cell(&school["id"]),
                place_label(school)
            );
            let kenyan = school["country"] == "KE";
            let value = |k: &str| {
                school[k]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| school[k].as_f64().map(|f| f.to_string()))
            };
            let missing = |what: &str| {
                if kenyan
                    && matches!(
                        field,
                        Field::Enrolment
                            | Field::Teachers
                            | Field::Ratio
                            | Field::Phone
                            | Field::Website
                            | Field::Address
                            | Field::Grades
                    )
                {
                    format!(
                        "Kenya's school data does not publish {what}, so I cannot give it for {title}."
                    )
                } else {
                    format!("The data publishes no {what} for {title}.")
                }
            };
            let first = match field {
                Field::Enrolment => school["enrolment"].as_u64().map_or_else(
                    || missing("enrolment"),
                    |n| format!("{title} has {} pupils enrolled.", thousands(n)),
                ),
                Field::Teachers => school["teachers"].as_u64().map_or_else(
                    || missing("teacher counts"),
                    |n| {
                        format!(
                            "{title} has {} full-time-equivalent teachers.",
                            thousands(n)
                        )
                    },
                ),
                Field::Ratio => school["pupil_teacher_ratio"].as_f64().map_or_else(
                    || missing("a pupil-teacher ratio"),
                    |r| format!("{title} has {r:.2} pupils per teacher."),
                ),
                Field::Phone => value("phone").map_or_else(
                    || missing("phone number"),
                    |p| format!("The phone number of {title} is {p}."),
                ),
                Field::Website => value("website").map_or_else(
                    || missing("website"),
                    |w| format!("The website of {title} is {w}."),
                ),
                Field::Grades => value("grades").map_or_else(
                    || missing("grade span"),
                    |g| format!("{title} teaches grades {g}."),
                ),
                Field::Level => format!(
                    "{title} is a {} {} school ({}).",
                    school["ownership"].as_str().unwrap_or(""),
                    school["level"].as_str().unwrap_or("").replace('_', "-"),
                    summary_cell(&school["level_detail"])
                )
                .replace("a  ", "a "),
                Field::Coordinates => format!(
                    "{title} is at latitude {}, longitude {}.",
                    school["latitude"], school["longitude"]
                ),
                Field::Address => match (value("address"), value("city")) {
                    (Some(a), Some(c)) => format!(
                        "The address of {title} is {a}, {c}, FL {}.",
                        value("zip").unwrap_or_default()
                    )
                    .replace(", FL .", "."),
                    _ => {
                        let parts: Vec<String> = ["ward", "sub_county", "county"]
                            .iter()
                            .filter_map(|k| value(k))
                            .collect();
                        if parts.is_empty() {
                            missing("address")
                        } else {
                            format!(
                                "{title} has no street address in the data; it is in {}.",
                                parts.join(", ")
                            )
                        }
                    }
                },
            };
            let others = if total > 1 {
                format!(
                    "\n\n{} schools match “{name}”; this is the best match. Add a county to choose another.",
                    thousands(total)
                )
            } else {
                String::new()
            };
            format!("{first}{others}\n\n{}", table(1))
        }
        Intent::Decline(why) => decline(why),
        Intent::Other => String::new(),
    }
}

fn d_name(done: &[Done], i: usize) -> String {
    done.get(i).map(|d| d.name.clone()).unwrap_or_default()
}

fn place_label(school: &Value) -> String {
    match (school["county"].as_str(), school["country"].as_str()) {
        (Some(c), Some("US")) => format!("{c} county, Florida"),
        (Some(c), _) => format!("{c} county, Kenya"),
        _ => school["country"].as_str().unwrap_or("").to_owned(),
    }
}

fn summary_cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.replace('|', "/").trim().to_owned(),
        Value::Null => "n/a".into(),
        other => other.to_string(),
    }
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Questions the planner can answer, offered when it cannot.
pub(super) const SUGGESTIONS: &str = "You could ask, for example:\n\
- How many secondary schools are in Nakuru?\n\
- Which Florida county has the highest pupil-teacher ratio?\n\
- Find stories in Kiswahili about animals.";

/// The plain answer to a question the planner will not answer.
pub(super) fn decline(why: &Decline) -> String {
    let reason = match why {
        Decline::KenyaFigure => {
            "Kenya's school data has no enrolment or teacher counts (it lists schools only), so I cannot give that figure for Kenya."
        }
        Decline::Trend => {
            "The data is one snapshot (Kenya's lists of 2016 and 2007, Florida's of 2024), so I cannot show changes over time."
        }
        Decline::OutOfDomain => {
            "I can only answer questions about the schools of Kenya and Florida and about African Storybook children's stories, so I cannot answer that."
        }
    };
    format!("{reason}\n\n{SUGGESTIONS}")
}
