//! Chat-server relay benchmark: a fake OpenAI-compatible model streaming
//! 1,000 tokens as fast as it can, read directly and through the chat server
//! (agent loop, run log, SQLite saves, AI SDK protocol, SSE). Prints the time
//! to first token each adds, relayed tokens/s, and what 2,000 concurrent
//! streams cost. Run: `cargo bench -p chat-server --bench relay`.

use std::time::{Duration, Instant};

use axum::{
    Router, body::Body, extract::State, response::Response, routing::post, serve::ListenerExt,
};
use bytes::Bytes;
use chat_server::{
    app::Application,
    domain::Message,
    providers::{
        ChatRequest, LlmProvider, ProviderEvent,
        client::HttpPolicy,
        vendors::{Vendor, VendorProvider},
    },
    settings::{Settings, sources},
};
use figment::providers::Serialized;
use futures::StreamExt;
use serde_json::json;

const TOKENS: usize = 1_000;

fn sse_body(tokens: usize) -> Bytes {
    let mut s = String::new();
    for i in 0..tokens {
        let chunk = json!({ "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake",
            "choices": [{ "index": 0, "delta": { "content": format!("t{i} ") }, "finish_reason": null }] });
        s.push_str(&format!("data: {chunk}\n\n"));
    }
    s.push_str(&format!("data: {}\n\n", json!({ "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake", "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] })));
    s.push_str("data: [DONE]\n\n");
    Bytes::from(s)
}

#[derive(Clone)]
struct Fake {
    fast: Bytes,
    /// Tokens per slow stream (one every 50 ms), for the concurrency test.
    slow_tokens: usize,
}

async fn fake(State(f): State<Fake>, body: Bytes) -> Response {
    let slow = body.windows(4).any(|w| w == b"SLOW");
    let body = if slow {
        let n = f.slow_tokens;
        let chunks = futures::stream::iter(0..=n).then(move |i| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let text = if i < n {
                format!("data: {}\n\n", json!({ "choices": [{ "index": 0, "delta": { "content": "s " } }] }))
            } else {
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_owned()
            };
            Ok::<_, std::io::Error>(Bytes::from(text))
        });
        Body::from_stream(chunks)
    } else {
        Body::from(f.fast.clone())
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .expect("response")
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // As the chat server's own `serve` does (and uvicorn by default).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reads an SSE response: (time to the first token, tokens, total time).
async fn read(
    response: reqwest::Response,
    started: Instant,
    marker: &str,
) -> (Duration, usize, Duration) {
    let mut first = None;
    let mut tokens = 0;
    let mut body = response.bytes_stream();
    let mut carry = String::new();
    while let Some(chunk) = body.next().await {
        // sse-starlette ends lines with CRLF; the chat server with LF.
        carry.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")).replace('\r', ""));
        let mut start = 0;
        while let Some(end) = carry[start..].find("\n\n") {
            if carry[start..start + end].contains(marker) {
                tokens += 1;
                first.get_or_insert_with(|| started.elapsed());
            }
            start += end + 2;
        }
        carry.drain(..start);
    }
    (first.unwrap_or_default(), tokens, started.elapsed())
}

/// Tokens per second relayed by `streams` concurrent 1,000-token answers.
async fn aggregate(client: &reqwest::Client, url: &str, streams: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_owned());
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({ "message": "go" }))
                    .send()
                    .await
                    .expect("stream");
                read(r, Instant::now(), "\"text-delta\"").await.1
            })
        })
        .collect();
    let mut tokens = 0;
    for t in tasks {
        tokens += t.await.expect("task");
    }
    tokens as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let fake_url = serve(Router::new().fallback(post(fake)).with_state(Fake {
        fast: sse_body(TOKENS),
        slow_tokens: 20,
    }))
    .await;
    let dir = std::env::temp_dir().join(format!("mas-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The chat server as it runs, with one agent that answers directly
    // (no tools), the fake as its model, and no limits in the way.
    let relay = json!([{ "name": "relay", "title": "Relay", "description": "Answers directly",
        "system_prompt": "Answer." }]);
    let figment = sources::figment(None, false, &[])
        .merge(Serialized::default("chat_port", 0))
        .merge(Serialized::default(
            "database_url",
            format!("sqlite://{}", dir.join("chat.db").display()),
        ))
        .merge(Serialized::default("max_concurrent_sessions", 10_000))
        .merge(Serialized::default("rate_limit_chat_per_second", 0))
        .merge(Serialized::default(
            "openai_base_url",
            format!("{fake_url}/v1"),
        ))
        .merge(Serialized::default("llm_model", "fake"))
        // Like the Python relay it is compared with: no memory recalled or
        // learnt (benches/memory.rs measures what memory costs).
        .merge(Serialized::default("memory_enabled", false))
        .merge(Serialized::default("agents", relay));
    let settings = Settings::from_figment(&figment).expect("settings");
    let app = Application::build(settings).await.expect("the chat server");
    let chat_url = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.serve(tokio_util::sync::CancellationToken::new()));
    let provider = VendorProvider::new(
        Vendor::OpenAi,
        "fake",
        &format!("{fake_url}/v1"),
        None,
        HttpPolicy::default(),
    )
    .expect("provider");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4_000)
        .build()
        .expect("client");

    let rounds = 200;
    let (mut direct_ttft, mut direct_total, mut relay_ttft, mut relay_total) =
        (vec![], vec![], vec![], vec![]);
    for i in 0..rounds + 20 {
        let started = Instant::now();
        let r = client
            .post(format!("{fake_url}/v1/chat/completions"))
            .json(&json!({ "stream": true }))
            .send()
            .await
            .expect("direct");
        let (ttft, tokens, total) = read(r, started, "\"content\"").await;
        assert_eq!(tokens, TOKENS);
        let started = Instant::now();
        let r = client
            .post(format!("{chat_url}/chat/stream"))
            .json(&json!({ "message": "go" }))
            .send()
            .await
            .expect("relay");
        let (rttft, rtokens, rtotal) = read(r, started, "\"text-delta\"").await;
        assert_eq!(rtokens, TOKENS, "every token relayed");
        if i >= 20 {
            direct_ttft.push(ttft);
            direct_total.push(total);
            relay_ttft.push(rttft);
            relay_total.push(rtotal);
        }
    }
    // The provider client alone (request, first parsed token), without the
    // chat server around it: how much of the added time is the second hop.
    let mut provider_ttft = vec![];
    for i in 0..rounds + 20 {
        let request = ChatRequest {
            messages: vec![Message::User { text: "go".into() }],
            ..Default::default()
        };
        let started = Instant::now();
        let mut events = provider.stream(&request).await.expect("stream");
        while let Some(event) = events.next().await {
            if matches!(event, Ok(ProviderEvent::TextDelta { .. })) {
                break;
            }
        }
        if i >= 20 {
            provider_ttft.push(started.elapsed());
        }
        while events.next().await.is_some() {}
    }
    let p50 = |v: &Vec<Duration>| pct(v.clone(), 0.5);
    println!(
        "provider client alone: first parsed token p50 {:.2?}",
        p50(&provider_ttft)
    );
    println!("{TOKENS}-token answers, {rounds} sequential runs each way");
    println!(
        "direct from the fake:   TTFT p50 {:.2?}, whole answer p50 {:.2?}",
        p50(&direct_ttft),
        p50(&direct_total)
    );
    println!(
        "through the chat server: TTFT p50 {:.2?}, whole answer p50 {:.2?}",
        p50(&relay_ttft),
        p50(&relay_total)
    );
    println!(
        "added TTFT p50: {:.2?}",
        p50(&relay_ttft).saturating_sub(p50(&direct_ttft))
    );
    println!(
        "relayed tokens/s (one stream): {:.0}",
        TOKENS as f64 / p50(&relay_total).as_secs_f64()
    );

    // Aggregate throughput: 50 streams of 1,000 tokens at once, ours and (when
    // FASTAPI_PYTHON names a Python with fastapi, sse-starlette, httpx and uvicorn)
    // a FastAPI relay of the same fake.
    // Three rounds each (ours, then the Python relay's when it runs),
    // and the median reported: the machine is shared, single runs wobble.
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut ours_runs = vec![];
    for _ in 0..3 {
        ours_runs.push(aggregate(&client, &format!("{chat_url}/chat/stream"), 50).await);
    }
    let ours = median(ours_runs.clone());
    println!(
        "50 concurrent 1,000-token streams through the chat server: {ours:.0} tokens/s relayed (median of {ours_runs:.0?})"
    );
    if let Ok(python) = std::env::var("FASTAPI_PYTHON") {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let mut child = std::process::Command::new(python)
            .args([
                concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/fastapi_relay.py"),
                &fake_url,
                &port.to_string(),
            ])
            .spawn()
            .expect("start the FastAPI relay");
        let url = format!("http://127.0.0.1:{port}/chat/stream");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let single = {
            let started = Instant::now();
            let r = client
                .post(&url)
                .json(&json!({ "message": "go" }))
                .send()
                .await
                .expect("python relay");
            let (ttft, tokens, total) = read(r, started, "\"text-delta\"").await;
            assert_eq!(tokens, TOKENS);
            (ttft, total)
        };
        let mut theirs_runs = vec![];
        for _ in 0..3 {
            theirs_runs.push(aggregate(&client, &url, 50).await);
        }
        let theirs = median(theirs_runs.clone());
        println!(
            "FastAPI + sse-starlette relay of the same fake: TTFT {:.2?}, one stream {:.0} tokens/s, 50 streams {theirs:.0} tokens/s (median of {theirs_runs:.0?})",
            single.0,
            TOKENS as f64 / single.1.as_secs_f64()
        );
        println!("ratio (50 streams): {:.1}x", ours / theirs);
        let _ = child.kill();
        let _ = child.wait();
    }

    // Many streams at once: each 20 slow tokens (~1 s), all open together.
    for streams in [2_000usize] {
        let before = rss_kb();
        let started = Instant::now();
        let tasks: Vec<_> = (0..streams)
            .map(|_| {
                let (client, url) = (client.clone(), chat_url.clone());
                tokio::spawn(async move {
                    let r = client
                        .post(format!("{url}/chat/stream"))
                        .json(&json!({ "message": "SLOW" }))
                        .send()
                        .await
                        .ok()?;
                    if !r.status().is_success() {
                        return None;
                    }
                    let (_, tokens, _) = read(r, Instant::now(), "\"text-delta\"").await;
                    Some(tokens)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let during = rss_kb();
        let mut ok = 0;
        let mut errors = 0;
        for t in tasks {
            match t.await {
                Ok(Some(20)) => ok += 1,
                _ => errors += 1,
            }
        }
        println!(
            "{streams} concurrent streams: {ok} complete, {errors} errors, {:.1?} in all; ~{} KiB per open stream (server, client and fake in one process)",
            started.elapsed(),
            during.saturating_sub(before) / streams as u64
        );
    }
}
