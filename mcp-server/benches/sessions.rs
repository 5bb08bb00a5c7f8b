//! Load generator: full MCP sessions over Streamable HTTP, as a client would
//! run them (initialize -> notifications/initialized -> tools/call
//! search_schools -> DELETE), from many concurrent virtual users. Works
//! against any MCP server exposing `search_schools` (ours or the FastMCP
//! comparison server). Prints requests/s, sessions/s and latency percentiles.
//!
//! `MCP_URL=http://127.0.0.1:8001/mcp VUS=50 SECONDS=20 cargo bench -p mcp-server --bench sessions`

use std::{
    env,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{Client, header};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const QUERIES: &[&str] = &[
    "moi girls",
    "bakwanim",
    "parker elementary",
    "st joseph",
    "nairobi",
    "lake",
    "kisumu",
];

#[derive(Default)]
struct Samples {
    requests: Vec<Duration>,
    sessions: Vec<Duration>,
    errors: u64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn post(
    client: &Client,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> Result<(Option<String>, String), String> {
    let mut request = client
        .post(url)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body);
    if let Some(s) = session {
        request = request.header("mcp-session-id", s);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((session, text))
}

async fn one_session(
    client: &Client,
    url: &str,
    query: &str,
    samples: &mut Vec<Duration>,
) -> Result<(), String> {
    let t = Instant::now();
    let (session, _) = post(
        client,
        url,
        None,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "bench", "version": "1" } } }),
    )
    .await?;
    samples.push(t.elapsed());
    let session = session.ok_or("no session id")?;
    let t = Instant::now();
    post(
        client,
        url,
        Some(&session),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await?;
    samples.push(t.elapsed());
    let t = Instant::now();
    let (_, body) = post(
        client,
        url,
        Some(&session),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": { "name": "search_schools", "arguments": { "query": query, "limit": 10 } } }),
    )
    .await?;
    samples.push(t.elapsed());
    if !body.contains("\"result\"") || body.contains("\"isError\":true") {
        return Err(format!(
            "tool call failed: {}",
            &body[..body.len().min(200)]
        ));
    }
    let t = Instant::now();
    let response = client
        .delete(url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() && response.status().as_u16() != 405 {
        return Err(format!("DELETE: HTTP {}", response.status()));
    }
    samples.push(t.elapsed());
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let url = env::var("MCP_URL").unwrap_or_else(|_| "http://127.0.0.1:8001/mcp".into());
    let vus: usize = env_or("VUS", 50);
    let seconds: u64 = env_or("SECONDS", 20);
    let client = Client::builder()
        .pool_max_idle_per_host(vus)
        .build()
        .expect("client");
    let all = Arc::new(Mutex::new(Samples::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..vus)
        .map(|vu| {
            let (client, url, all) = (client.clone(), url.clone(), all.clone());
            tokio::spawn(async move {
                let mut local = Samples::default();
                let mut i = vu;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match one_session(
                        &client,
                        &url,
                        QUERIES[i % QUERIES.len()],
                        &mut local.requests,
                    )
                    .await
                    {
                        Ok(()) => local.sessions.push(t.elapsed()),
                        Err(e) => {
                            if local.errors == 0 {
                                eprintln!("vu {vu}: {e}");
                            }
                            local.errors += 1;
                        }
                    }
                    i += 1;
                }
                let mut all = all.lock().await;
                all.requests.extend(local.requests);
                all.sessions.extend(local.sessions);
                all.errors += local.errors;
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("virtual user");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut s = Arc::try_unwrap(all)
        .ok()
        .expect("all tasks done")
        .into_inner();
    s.requests.sort();
    s.sessions.sort();
    println!("target      {url}");
    println!("users       {vus} for {seconds} s");
    println!(
        "sessions    {} ({:.0}/s), errors {}",
        s.sessions.len(),
        s.sessions.len() as f64 / elapsed,
        s.errors
    );
    println!(
        "requests    {} ({:.0}/s)",
        s.requests.len(),
        s.requests.len() as f64 / elapsed
    );
    println!(
        "request     p50 {:.2?}  p99 {:.2?}",
        pct(&s.requests, 0.5),
        pct(&s.requests, 0.99)
    );
    println!(
        "session     p50 {:.2?}  p99 {:.2?}",
        pct(&s.sessions, 0.5),
        pct(&s.sessions, 0.99)
    );
}
