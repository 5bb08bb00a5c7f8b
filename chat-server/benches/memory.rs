//! Memory benchmark. (1) The recollection a turn's prompt is built with
//! (profile, the version check, the recall index's candidates, scoring,
//! budget, prompt text) for a user
//! with 10,000 memories among 19,000 of other users, over 1,000 distinct
//! questions: p50, p99, max, on SQLite and, with `BENCH_DATABASE_URL`, on
//! PostgreSQL. (2) Time to first token through the chat server with memory
//! off, on without extraction, and on with a model extracting after every
//! turn (a fake model that takes 300 ms to extract), both memory-on runs
//! recalling the same memory: the extraction job must not show in it. Memory texts and questions are made from the real
//! Kenyan school names and counties. Run: `cargo bench -p chat-server --bench memory`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, body::Body, response::Response, routing::post};
use bytes::Bytes;
use chat_server::{
    app::Application,
    domain::KnownValues,
    memory::{Memories, MemorySettings, Profiles, extract::EXTRACTION_PROMPT, text},
    settings::{Settings, sources},
    store::{
        memories::{MemoryKind, MemoryStore, NewMemory, Origin, Retention, Source},
        now_ms,
        sql::SqlStore,
    },
};
use figment::providers::Serialized;
use futures::StreamExt;
use serde_json::json;

const MINE: usize = 10_000;
const THEIRS: usize = 19_000;
const QUESTIONS: usize = 1_000;

/// (school, county, level) of the Kenyan data, in file order.
fn schools() -> Vec<(String, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mcp-server/data/kenya_schools.csv"
    );
    let mut reader = csv::Reader::from_path(path).expect("the Kenyan schools");
    reader
        .records()
        .filter_map(Result::ok)
        .map(|r| (r[2].to_owned(), r[5].to_owned(), r[3].to_lowercase()))
        .collect()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn add(store: &SqlStore, owner: &str, text: &str, at: i64) {
    let norm = text::norm(text);
    let windows = MemorySettings::default().windows;
    let memory = NewMemory {
        owner,
        kind: MemoryKind::Fact,
        text,
        norm: &norm,
        slot: None,
        retention: Retention::Long,
        origin: Origin::Told,
        source: Source::default(),
        tokens: text::tokens(text),
        at,
        expires_at: windows.expiry(Retention::Long, at),
    };
    store
        .add_memory(&memory, 100_000, &windows)
        .await
        .expect("add");
}

/// The recollection's latency on `store`, for one user with `MINE` memories.
async fn recall(name: &str, store: Arc<SqlStore>, schools: &[(String, String, String)]) {
    let me = format!("bench-{}", uuid::Uuid::new_v4());
    let relations = ["daughter", "son", "niece", "nephew", "pupil"];
    let months = ["January", "March", "May", "July", "September", "November"];
    let now = now_ms();
    let started = Instant::now();
    for (i, (school, county, level)) in schools.iter().take(MINE).enumerate() {
        let text = match i % 3 {
            0 => format!(
                "My {} attends {school} in {county}",
                relations[i % relations.len()]
            ),
            1 => format!(
                "I visited {school} ({county}) in {}",
                months[i % months.len()]
            ),
            _ => format!("Remind me of the {county} report on {level} schools, item {i}"),
        };
        add(&store, &me, &text, now - (i as i64) * 60_000).await;
    }
    for (i, (school, county, _)) in schools.iter().skip(MINE).take(THEIRS).enumerate() {
        let owner = format!("{me}-other-{}", i % 19);
        add(
            &store,
            &owner,
            &format!("My school is {school} in {county}"),
            now,
        )
        .await;
    }
    let filled = started.elapsed();
    let memories = Memories::new(
        store.clone(),
        Profiles::new(store.clone(), None),
        MemorySettings::default(),
        KnownValues::default(),
    );
    let run = memories.for_run(&me, "bench-session").expect("memory on");
    let questions: Vec<String> = schools
        .iter()
        .rev()
        .step_by(7)
        .take(QUESTIONS + 100)
        .enumerate()
        .map(|(i, (school, county, level))| match i % 3 {
            0 => format!("How many {level} schools are in {county}?"),
            1 => format!("Tell me about {school}"),
            _ => format!("Which {level} schools near {school} in {county} should I visit?"),
        })
        .collect();
    let mut took = Vec::with_capacity(QUESTIONS);
    let (mut used, mut tokens) = (0, 0);
    let mut first = Duration::ZERO;
    for (i, question) in questions.iter().enumerate() {
        let started = Instant::now();
        let recollection = run.recall(question).await;
        if i == 0 {
            first = started.elapsed();
        }
        if i >= 100 {
            took.push(started.elapsed());
            used += recollection.memories.len();
            tokens += text::tokens(&recollection.prompt);
        }
    }
    took.sort();
    // After a change the next prompt rebuilds the user's index.
    let mut rebuilt = Vec::new();
    for (i, question) in questions.iter().take(21).enumerate() {
        add(&store, &me, &format!("A new note, number {i}"), now_ms()).await;
        let started = Instant::now();
        run.recall(question).await;
        rebuilt.push(started.elapsed());
    }
    rebuilt.sort();
    println!(
        "{name}: prompt with {MINE} memories of the user ({THEIRS} of others; filled in {:.1} s): \
         p50 {}, p95 {}, p99 {}, max {} over {QUESTIONS} distinct questions; {:.1} memories and {} tokens a prompt on average; \
         the first prompt (builds the index) {}, a prompt after a memory was added (rebuilds it) p50 {} over {}",
        filled.as_secs_f64(),
        ms(pct(&took, 0.5)),
        ms(pct(&took, 0.95)),
        ms(pct(&took, 0.99)),
        ms(*took.last().expect("timings")),
        used as f64 / QUESTIONS as f64,
        tokens / QUESTIONS as i64,
        ms(first),
        ms(pct(&rebuilt, 0.5)),
        rebuilt.len(),
    );
}

/// A fake OpenAI model: a short answer at once; an extraction after 300 ms.
async fn fake_model() -> String {
    async fn answer(body: Bytes) -> Response {
        let extraction = String::from_utf8_lossy(&body).contains(EXTRACTION_PROMPT);
        let text = if extraction {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "{\"memories\": [{\"text\": \"I work in Kisumu\", \"kind\": \"profile\", \"slot\": \"workplace\"}]}"
                .to_owned()
        } else {
            "Here are the figures you asked for.".to_owned()
        };
        let mut out = String::new();
        for word in text.split_inclusive(' ') {
            let chunk = json!({ "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake",
                "choices": [{ "index": 0, "delta": { "content": word }, "finish_reason": null }] });
            out.push_str(&format!("data: {chunk}\n\n"));
        }
        out.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(out))
            .expect("response")
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, Router::new().fallback(post(answer))).await });
    format!("http://{addr}/v1")
}

/// Time to first token of `turns` turns through a chat server with `memory` settings.
async fn ttft(
    name: &str,
    model: &str,
    memory: &[(&str, serde_json::Value)],
    seeded: bool,
    schools: &[(String, String, String)],
) {
    let dir = std::env::temp_dir().join(format!("mas-bench-memory-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut figment = sources::figment(None, false, &[])
        .merge(Serialized::default("chat_port", 0))
        .merge(Serialized::default("database_url", format!("sqlite://{}", dir.join("chat.db").display())))
        .merge(Serialized::default("rate_limit_chat_per_second", 0))
        .merge(Serialized::default("openai_base_url", model))
        .merge(Serialized::default("llm_model", "fake"))
        .merge(Serialized::default("agents", json!([{ "name": "answer", "title": "Answer", "description": "Answers", "system_prompt": "Answer." }])));
    for (key, value) in memory {
        figment = figment.merge(Serialized::default(key, value));
    }
    let app = Application::build(Settings::from_figment(&figment).expect("settings"))
        .await
        .expect("app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let url = format!("{base}/chat/stream");
    tokio::spawn(app.serve(tokio_util::sync::CancellationToken::new()));
    let client = reqwest::Client::new();
    if seeded {
        // What the extraction learns at the first turn, there from the
        // start: both memory-on runs recall the same memory, and differ
        // only in the job that runs after each turn.
        let saved = client
            .post(format!("{base}/api/memory"))
            .json(&json!({ "text": "I work in Kisumu", "kind": "profile" }))
            .send()
            .await
            .expect("post");
        assert!(saved.status().is_success(), "{}", saved.status());
    }
    let mut took = Vec::new();
    for (i, (school, county, _)) in schools.iter().step_by(11).take(220).enumerate() {
        let message = format!("I work in {county}. How many pupils does {school} have?");
        let started = Instant::now();
        let response = client
            .post(&url)
            .json(&json!({ "message": message }))
            .send()
            .await
            .expect("post");
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        let mut first = None;
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if first.is_none() && seen.contains("\"text-delta\"") {
                first = Some(started.elapsed());
            }
        }
        if i >= 20 {
            took.push(first.expect("a token"));
        }
        // A person reads the answer before asking again; the extraction runs meanwhile.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    took.sort();
    println!(
        "{name}: time to first token p50 {}, p95 {}, p99 {} over {} turns",
        ms(pct(&took, 0.5)),
        ms(pct(&took, 0.95)),
        ms(pct(&took, 0.99)),
        took.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main]
async fn main() {
    let schools = schools();
    text::tokens("warm");
    let dir = std::env::temp_dir().join(format!("mas-bench-recall-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = SqlStore::connect(&format!("sqlite://{}", dir.join("memory.db").display()), 4)
        .await
        .expect("sqlite");
    recall("sqlite", Arc::new(sqlite), &schools).await;
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => {
            let postgres = SqlStore::connect(&url, 4).await.expect("postgres");
            recall("postgres", Arc::new(postgres), &schools).await;
        }
        Err(_) => println!("postgres: skipped (set BENCH_DATABASE_URL to measure it)"),
    }
    let model = fake_model().await;
    ttft(
        "memory off",
        &model,
        &[("memory_enabled", json!(false))],
        false,
        &schools,
    )
    .await;
    ttft(
        "memory on, no extraction",
        &model,
        &[("memory_extraction", json!("off"))],
        true,
        &schools,
    )
    .await;
    ttft(
        "memory on, the model extracts after every turn",
        &model,
        &[("memory_extraction", json!("auto"))],
        true,
        &schools,
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
