//! Context benchmark: building the context a model reads for a 1,000-turn
//! session, every turn a tool call with its result and an answer (made from
//! the real Kenyan school rows), for a large window (gpt-4o: most turns kept
//! verbatim) and a small one (gpt-4: most turns summarised). "First" is a
//! session this process has not counted before (every text encoded);
//! "next turn" is the same session one question later (its earlier texts'
//! counts are known), which is what each turn of a live conversation costs.
//! Then the same sessions as a run builds them at the default settings:
//! the stored summary of the older turns and the turns past it.
//! Distinct sessions throughout. Run: `cargo bench -p chat-server --bench context`.

use std::time::{Duration, Instant};

use chat_server::{
    context::{self, ContextSettings, window::Counter},
    domain::{Message, ToolCall, ToolResult},
};
use serde_json::json;

const TURNS: usize = 1_000;
const SESSIONS: usize = 100;

/// (school, level, status, county, sub-county) of the Kenyan data.
fn schools() -> Vec<[String; 5]> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mcp-server/data/kenya_schools.csv"
    );
    let mut reader = csv::Reader::from_path(path).expect("the Kenyan schools");
    reader
        .records()
        .filter_map(Result::ok)
        .map(|r| [2, 3, 4, 5, 8].map(|i| r[i].to_owned()))
        .collect()
}

/// Session `s`: `TURNS` turns, each a search with its result and an answer,
/// then the question being answered.
fn session(schools: &[[String; 5]], s: usize) -> Vec<Message> {
    let mut out = Vec::with_capacity(TURNS * 4 + 1);
    for t in 0..TURNS {
        let at = (s * 7_919 + t * 13) % (schools.len() - 8);
        let rows = &schools[at..at + 8];
        let [name, _, _, county, _] = &rows[0];
        let result = json!({
            "total": 8,
            "schools": rows.iter().map(|[name, level, status, county, sub]| json!({
                "name": name, "level": level, "ownership": status, "county": county, "sub_county": sub,
            })).collect::<Vec<_>>(),
        });
        let id = format!("call_{s}_{t}");
        out.push(Message::User {
            text: format!("Which schools are like {name} in {county}? (turn {t})"),
        });
        out.push(Message::Assistant {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: id.clone(),
                name: "search_schools".into(),
                arguments: json!({ "query": name, "county": county }),
                signature: None,
            }],
        });
        out.push(Message::Tool {
            results: vec![ToolResult {
                call_id: id,
                name: "search_schools".into(),
                content: result.to_string(),
                is_error: false,
            }],
        });
        out.push(Message::Assistant {
            text: format!(
                "I found 8 schools like {name} in {county}: {}. Of them, {} are public. Turn {t} of session {s}.",
                rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>().join(", "),
                rows.iter().filter(|r| r[2] == "Public").count()
            ),
            tool_calls: Vec::new(),
        });
    }
    out.push(Message::User {
        text: format!("And which of those is the largest? (session {s})"),
    });
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn report(what: &str, mut times: Vec<Duration>, tokens: i64, kept: usize) {
    times.sort();
    println!(
        "{what:<44} p50 {:>9}  p99 {:>9}  max {:>9}   ({} builds; {tokens} tokens at most, {kept} messages kept)",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        ms(*times.last().expect("times")),
        times.len()
    );
}

/// Builds session `s`'s context from message `from` on (after `earlier`, a
/// stored summary), then again one turn on: (first build, next turn,
/// tokens and messages of the second).
fn first_and_next(
    mut conversation: Vec<Message>,
    from: usize,
    earlier: Option<&str>,
    counter: Counter,
    budget: i64,
    s: usize,
) -> (Duration, Duration, i64, usize) {
    let settings = ContextSettings::default();
    let started = Instant::now();
    let built = context::build(&conversation[from..], earlier, counter, budget, &settings);
    let first = started.elapsed();
    conversation.push(Message::Assistant {
        text: "The largest is the first one.".into(),
        tool_calls: Vec::new(),
    });
    conversation.push(Message::User {
        text: format!("And in the county next to it? (session {s})"),
    });
    let started = Instant::now();
    let next = context::build(&conversation[from..], earlier, counter, budget, &settings);
    let elapsed = started.elapsed();
    assert!(built.tokens <= budget && next.tokens <= budget);
    (first, elapsed, next.tokens, next.messages.len())
}

fn main() {
    let schools = schools();
    // Loads the encodings once, as the server does at start-up.
    Counter::O200k.tokens("warm");
    Counter::Cl100k.tokens("warm");
    for (model, sessions) in [("gpt-4o", 0..SESSIONS), ("gpt-4", SESSIONS..2 * SESSIONS)] {
        let counter = Counter::for_model("openai", model);
        let budget = context::window::budget(model);
        let (mut first, mut next) = (Vec::new(), Vec::new());
        let (mut tokens, mut kept) = (0, 0);
        for s in sessions {
            let (f, n, t, k) = first_and_next(session(&schools, s), 0, None, counter, budget, s);
            first.push(f);
            next.push(n);
            (tokens, kept) = (t, k);
        }
        println!(
            "{model}: budget {budget} tokens, sessions of {TURNS} turns ({} messages)",
            TURNS * 4 + 1
        );
        report(
            "  first build (no text counted before)",
            first,
            tokens,
            kept,
        );
        report(
            "  next turn (the same session, one turn on)",
            next,
            tokens,
            kept,
        );
    }
    // What a run builds for a 1,000-turn session at the default
    // CONTEXT_SUMMARY_TURNS (40): its stored summary (made by the job,
    // extractively here) and the 20 to 40 turns past it, the worst case 40.
    let after = ContextSettings::default().summary_turns;
    for model in ["gpt-4o", "gpt-4"] {
        let counter = Counter::for_model("openai", model);
        let budget = context::window::budget(model);
        let (mut first, mut next) = (Vec::new(), Vec::new());
        let (mut tokens, mut kept) = (0, 0);
        for s in 2 * SESSIONS..3 * SESSIONS {
            let conversation = session(&schools, s);
            // Each turn is four messages; the question being answered is last.
            let cut = conversation.len() - 1 - after * 4;
            let summary = context::summary_of(&conversation[..cut], None, Counter::O200k, 1_500);
            let (f, n, t, k) =
                first_and_next(conversation, cut, summary.as_deref(), counter, budget, s);
            first.push(f);
            next.push(n);
            (tokens, kept) = (t, k);
        }
        println!("{model}: sessions of {TURNS} turns with a stored summary, {after} turns past it");
        report(
            "  first build (no text counted before)",
            first,
            tokens,
            kept,
        );
        report(
            "  next turn (the same session, one turn on)",
            next,
            tokens,
            kept,
        );
    }
}
