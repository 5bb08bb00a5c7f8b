//! The offline planner's eval set (`tests/eval/offline.json`): every
//! question is asked through `ask` (as `chat-server ask` does) and through
//! `/api/chat`, and its answer is checked against the figure computed here
//! from the raw data files by the data's own rules. The score per intent
//! is printed; any wrong answer fails the build, and a declined question
//! must show no figures and call no data tool.

use std::collections::BTreeMap;

use chat_server::agent::ask::ask;
use serde_json::Value;

use crate::support::{TestApp, data};

/// A school as the raw files give it, mapped as the data's README says.
struct Row {
    id: String,
    name: String,
    country: &'static str,
    county: String,
    sub_county: String,
    level: &'static str,
    ownership: &'static str,
    lat: f64,
    lon: f64,
    enrolment: Option<u64>,
    teachers: Option<u64>,
    raw: BTreeMap<String, String>,
}

/// Florida's -999 and "NOT AVAILABLE" are no figure.
fn figure(v: &str) -> Option<u64> {
    match v {
        "-999" | "NOT AVAILABLE" | "" => None,
        v => v.parse::<f64>().ok().map(|f| f as u64),
    }
}

fn schools() -> Vec<Row> {
    let mut out = Vec::new();
    for r in data::rows("kenya_schools.csv") {
        out.push(Row {
            id: format!("KE-{}", r["objectid"]),
            name: r["school_name"].trim().to_owned(),
            country: "KE",
            county: r["county"].clone(),
            sub_county: r["sub_county"].clone(),
            level: if r["level"] == "Primary" {
                "primary"
            } else {
                "secondary"
            },
            ownership: match r["status"].as_str() {
                "Public" => "public",
                "Private" => "private",
                _ => "",
            },
            lat: r["latitude"].parse().unwrap_or(f64::NAN),
            lon: r["longitude"].parse().unwrap_or(f64::NAN),
            enrolment: None,
            teachers: None,
            raw: r,
        });
    }
    for r in data::rows("florida_public_schools.csv") {
        out.push(Row {
            id: format!("US-{}", r["NCESID"]),
            name: r["NAME"].clone(),
            country: "US",
            county: r["COUNTY"].clone(),
            sub_county: String::new(),
            level: match r["LEVEL_"].as_str() {
                "ELEMENTARY" => "primary",
                "MIDDLE" | "HIGH" | "SECONDARY" => "secondary",
                "PREKINDERGARTEN" => "pre_primary",
                "NOT REPORTED" => "unknown",
                _ => "other",
            },
            ownership: "public",
            lat: r["LATITUDE"].parse().unwrap_or(f64::NAN),
            lon: r["LONGITUDE"].parse().unwrap_or(f64::NAN),
            enrolment: figure(&r["ENROLLMENT"]),
            teachers: figure(&r["FT_TEACHERS"]),
            raw: r,
        });
    }
    out
}

fn matches(row: &Row, filter: &Value) -> bool {
    let is = |k: &str, v: &str| filter[k].as_str().is_none_or(|f| f == v);
    is("country", row.country)
        && is("county", &row.county)
        && is("sub_county", &row.sub_county)
        && is("level", row.level)
        && is("ownership", row.ownership)
}

fn thousands(n: u64) -> String {
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

/// A figure over `rows`, as the answer says it (`None`: no figure).
fn said(figure: &str, rows: &[&Row]) -> Option<(f64, String)> {
    let with_e: Vec<u64> = rows.iter().filter_map(|r| r.enrolment).collect();
    let with_t: Vec<u64> = rows.iter().filter_map(|r| r.teachers).collect();
    match figure {
        "schools" => Some((
            rows.len() as f64,
            // "1,041 schools", "414 secondary schools".
            format!(" {} ", thousands(rows.len() as u64)),
        )),
        "enrolment" => (!with_e.is_empty()).then(|| {
            let s: u64 = with_e.iter().sum();
            (s as f64, format!("{} pupils", thousands(s)))
        }),
        "teachers" => (!with_t.is_empty()).then(|| {
            let s: u64 = with_t.iter().sum();
            (s as f64, format!("{} teachers", thousands(s)))
        }),
        // The data's rule: only over the schools reporting both, more than 0 of each.
        "ratio" => {
            let both: Vec<(u64, u64)> = rows
                .iter()
                .filter_map(|r| Some((r.enrolment?, r.teachers?)))
                .filter(|(e, t)| *e > 0 && *t > 0)
                .collect();
            (!both.is_empty()).then(|| {
                let e: u64 = both.iter().map(|b| b.0).sum();
                let t: u64 = both.iter().map(|b| b.1).sum();
                let r = (e as f64 / t as f64 * 100.0).round() / 100.0;
                (r, format!("{r:.2} pupils per teacher"))
            })
        }
        "average" => (!with_e.is_empty()).then(|| {
            let a = (with_e.iter().sum::<u64>() as f64 / with_e.len() as f64 * 10.0).round() / 10.0;
            (a, format!("{a:.1} pupils per school"))
        }),
        other => panic!("figure {other}"),
    }
}

fn km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let d = (lon2 - lon1).to_radians();
    let c = (p1.sin() * p2.sin() + p1.cos() * p2.cos() * d.cos()).clamp(-1.0, 1.0);
    6_371.008_8 * c.acos()
}

/// Whether `answer` (and the data tools it called) is right for `expect`.
fn check(
    schools: &[Row],
    stories: &[Value],
    expect: &Value,
    answer: &str,
    tools: &[String],
) -> Result<(), String> {
    let first = answer.lines().next().unwrap_or("");
    let rows =
        |filter: &Value| -> Vec<&Row> { schools.iter().filter(|r| matches(r, filter)).collect() };
    let want = |cond: bool, what: String| if cond { Ok(()) } else { Err(what) };
    let figure = expect["figure"].as_str().unwrap_or("schools");
    match expect["kind"].as_str().unwrap_or("") {
        "figure" => {
            let (_, text) = said(figure, &rows(&expect["where"])).ok_or("no figure in the file")?;
            want(
                first.contains(&text),
                format!("expected {text:?} in the first line"),
            )
        }
        "compare" => {
            let sides: Vec<(String, f64, String)> = expect["sides"]
                .as_array()
                .ok_or("sides")?
                .iter()
                .map(|s| {
                    let (v, t) = said(figure, &rows(&s[1])).unwrap_or((f64::NAN, "none".into()));
                    (s[0].as_str().unwrap_or("").to_owned(), v, t)
                })
                .collect();
            let best = sides
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .ok_or("no side")?;
            want(
                first.starts_with(&best.0),
                format!("expected {:?} first (it has {})", best.0, best.2),
            )?;
            for (label, _, text) in &sides {
                want(
                    first.contains(text.as_str()),
                    format!("expected {label}'s {text:?}"),
                )?;
            }
            Ok(())
        }
        "rank" => {
            let by = expect["by"].as_str().unwrap_or("county");
            let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
            for r in rows(&expect["where"]) {
                let key = if by == "sub_county" {
                    &r.sub_county
                } else {
                    &r.county
                };
                if !key.is_empty() {
                    groups.entry(key.clone()).or_default().push(r);
                }
            }
            let mut ranked: Vec<(String, f64, String)> = groups
                .iter()
                .filter_map(|(k, rs)| said(figure, rs).map(|(v, t)| (k.clone(), v, t)))
                .collect();
            let asc = expect["order"] == "asc";
            ranked.sort_by(|a, b| {
                if asc {
                    a.1.total_cmp(&b.1)
                } else {
                    b.1.total_cmp(&a.1)
                }
            });
            let top = ranked.first().ok_or("no groups")?;
            let tied: Vec<&String> = ranked
                .iter()
                .filter(|g| g.1 == top.1)
                .map(|g| &g.0)
                .collect();
            want(
                tied.iter().any(|k| first.starts_with(k.as_str())) && first.contains(&top.2),
                format!("expected {tied:?} first with {:?}", top.2),
            )
        }
        "rank_school" => {
            let value = |r: &Row| match figure {
                "teachers" => r.teachers.map(|t| t as f64),
                _ => r.enrolment.map(|e| e as f64),
            };
            let candidates = rows(&expect["where"]);
            let best = candidates
                .iter()
                .filter_map(|r| value(r))
                .fold(f64::MIN, f64::max);
            let tied: Vec<&&Row> = candidates
                .iter()
                .filter(|r| value(r) == Some(best))
                .collect();
            let text = if figure == "teachers" {
                format!("{} teachers", thousands(best as u64))
            } else {
                format!("{} pupils", thousands(best as u64))
            };
            want(
                tied.iter().any(|r| first.contains(&r.name)) && first.contains(&text),
                format!(
                    "expected one of {:?} with {text:?}",
                    tied.iter().map(|r| &r.name).collect::<Vec<_>>()
                ),
            )
        }
        "field" | "field_missing" => {
            let id = expect["id"].as_str().ok_or("id")?;
            let row = schools.iter().find(|r| r.id == id).ok_or("no such id")?;
            want(first.contains(id), format!("expected the school {id}"))?;
            let text = match expect["field"].as_str().unwrap_or("") {
                _ if expect["kind"] == "field_missing" => "does not publish".to_owned(),
                "enrolment" => {
                    format!("{} pupils", thousands(row.enrolment.ok_or("no enrolment")?))
                }
                "teachers" => format!(
                    "{} full-time-equivalent teachers",
                    thousands(row.teachers.ok_or("no teachers")?)
                ),
                "ratio" => {
                    let (e, t) = (
                        row.enrolment.ok_or("e")? as f64,
                        row.teachers.ok_or("t")? as f64,
                    );
                    format!("{:.2} pupils per teacher", (e / t * 100.0).round() / 100.0)
                }
                "phone" => row.raw["TELEPHONE"].clone(),
                "website" => row.raw["WEBSITE"].clone(),
                "address" => row.raw["ADDRESS"].clone(),
                "grades" => row.raw["ST_GRADE"].clone(),
                other => return Err(format!("field {other}")),
            };
            want(first.contains(&text), format!("expected {text:?}"))
        }
        "list" => {
            let n = rows(&expect["where"]).len();
            want(
                answer.contains(&format!("Found **{n}**")),
                format!("expected {n} schools found"),
            )
        }
        "list_has" => {
            let id = expect["id"].as_str().ok_or("id")?;
            want(
                answer.contains(&format!("| {id} |")),
                format!("expected {id} listed"),
            )
        }
        "nearest" => {
            let (lat, lon) = (
                expect["lat"].as_f64().ok_or("lat")?,
                expect["lon"].as_f64().ok_or("lon")?,
            );
            let nearest = schools
                .iter()
                .filter(|r| expect["level"].as_str().is_none_or(|l| l == r.level))
                .min_by(|a, b| km(lat, lon, a.lat, a.lon).total_cmp(&km(lat, lon, b.lat, b.lon)))
                .ok_or("no school")?;
            want(
                answer.contains(&format!("| {} |", nearest.id)),
                format!("expected {} ({}) nearest", nearest.id, nearest.name),
            )
        }
        "stories" => {
            let language = expect["language"].as_str().ok_or("language")?;
            let words: Vec<String> = expect["words"]
                .as_array()
                .ok_or("words")?
                .iter()
                .filter_map(|w| w.as_str().map(str::to_lowercase))
                .collect();
            let ids: Vec<&str> = answer
                .split("id `")
                .skip(1)
                .filter_map(|s| s.split('`').next())
                .collect();
            want(!ids.is_empty(), "expected stories listed".into())?;
            for id in ids {
                let story = stories
                    .iter()
                    .find(|s| s["id"] == id)
                    .ok_or(format!("{id} not in the file"))?;
                want(
                    story["language"] == language,
                    format!("{id} is not in {language}"),
                )?;
                let text = format!("{} {}", story["title"], story["body"]).to_lowercase();
                let has = text
                    .split(|c: char| !c.is_alphanumeric() && c != '-')
                    .any(|w| words.iter().any(|x| w.starts_with(x.as_str())));
                want(has, format!("{id} has none of the theme's words"))?;
            }
            Ok(())
        }
        "decline" => {
            want(
                answer.contains("You could ask"),
                "expected three questions it can answer".into(),
            )?;
            want(
                !answer.contains('|'),
                "a declined question shows no table".into(),
            )?;
            want(
                tools.is_empty(),
                format!("a declined question calls no data tool: {tools:?}"),
            )
        }
        other => Err(format!("unknown kind {other}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_planner_answers_the_eval_set_right_or_declines() {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/eval/offline.json"
        ))
        .expect("eval set"),
    )
    .expect("eval json");
    assert!(cases.len() >= 80, "{} questions", cases.len());
    let schools = schools();
    let stories: Vec<Value> = std::fs::read_to_string(data::path("african_storybook_ccby.jsonl"))
        .expect("stories")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("story"))
        .collect();
    let app = TestApp::spawn().await;
    let (settings, _) = TestApp::builder().settings();
    let runner = chat_server::app::agents(&settings).await.expect("agents");
    let data_tool = |t: &str| !t.starts_with("transfer_to_");

    let mut score: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let (intent, q, expect) = (
            case["intent"].as_str().expect("intent"),
            case["q"].as_str().expect("q"),
            &case["expect"],
        );
        // Through `ask`.
        let asked = ask(runner.clone(), q, |_| {}).await;
        let tools: Vec<String> = asked
            .tools()
            .into_iter()
            .filter(|t| data_tool(t))
            .map(str::to_owned)
            .collect();
        let by_ask = check(&schools, &stories, expect, &asked.text(), &tools);
        // Through /api/chat, a new conversation each.
        let (status, reply) = app.chat(serde_json::json!({ "message": q }), None).await;
        let text = reply["message"].as_str().unwrap_or("").to_owned();
        let tools: Vec<String> = reply["tool_calls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["tool"].as_str())
            .filter(|t| data_tool(t))
            .map(str::to_owned)
            .collect();
        let by_api = if status == 200 {
            check(&schools, &stories, expect, &text, &tools)
        } else {
            Err(format!("status {status}"))
        };
        let entry = score.entry(intent.to_owned()).or_default();
        entry.1 += 1;
        match (by_ask, by_api) {
            (Ok(()), Ok(())) => entry.0 += 1,
            (a, b) => failures.push(format!(
                "[{intent}] {q}\n  ask: {:?}\n  api: {:?}\n  answer: {}",
                a.err(),
                b.err(),
                asked.text().chars().take(240).collect::<String>()
            )),
        }
    }
    println!(
        "offline planner eval ({} questions, each through ask and /api/chat):",
        cases.len()
    );
    for (intent, (right, all)) in &score {
        println!(
            "  {intent:<12} {right:>3}/{all:<3} {:>5.1}%",
            *right as f64 * 100.0 / *all as f64
        );
    }
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
