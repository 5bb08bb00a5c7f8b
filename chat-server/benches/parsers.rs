//! Stream-parser throughput: MB/s of recorded provider SSE, and the cost per
//! streamed token on a synthetic 1,000-token answer in each vendor's format.
//! Run: `cargo bench -p chat-server --bench parsers`.

use std::{hint::black_box, path::PathBuf, time::Instant};

use chat_server::providers::{
    ProviderEvent, StreamParser, anthropic::AnthropicParser, gemini::GeminiParser,
    openai::OpenAiParser, parse_chunks,
};

fn fixtures(prefix: &[&str]) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".sse") && prefix.iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).expect("read"))
        .collect()
}

/// Parses `streams` repeatedly in 1,400-byte chunks (a typical TCP segment); returns (MB/s, events).
fn throughput<P: StreamParser + Default>(streams: &[Vec<u8>]) -> (f64, usize) {
    let bytes: usize = streams.iter().map(Vec::len).sum();
    let rounds = (50_000_000 / bytes.max(1)).max(1);
    let started = Instant::now();
    let mut events = 0;
    for _ in 0..rounds {
        for s in streams {
            let chunks: Vec<&[u8]> = s.chunks(1400).collect();
            events += black_box(parse_chunks(P::default(), &chunks)).len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    ((bytes * rounds) as f64 / secs / 1e6, events / rounds)
}

/// Nanoseconds per text token on a synthetic 1,000-token stream.
fn per_token<P: StreamParser + Default>(stream: &[u8]) -> f64 {
    let rounds = 200;
    let chunks: Vec<&[u8]> = stream.chunks(1400).collect();
    let started = Instant::now();
    let mut tokens = 0;
    for _ in 0..rounds {
        tokens += parse_chunks(P::default(), &chunks)
            .iter()
            .filter(|e| matches!(e, Ok(ProviderEvent::TextDelta { .. })))
            .count();
    }
    started.elapsed().as_nanos() as f64 / tokens as f64
}

fn synthetic(vendor: &str) -> Vec<u8> {
    let mut s = String::new();
    match vendor {
        "openai" => {
            for i in 0..1000 {
                s.push_str(&format!(
                    "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}]}}\n\n"
                ));
            }
            s.push_str("data: [DONE]\n\n");
        }
        "anthropic" => {
            s.push_str("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n");
            s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
            for i in 0..1000 {
                s.push_str(&format!(
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"tok{i} \"}}}}\n\n"
                ));
            }
            s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        }
        _ => {
            for i in 0..1000 {
                s.push_str(&format!(
                    "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"tok{i} \"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 7,\"totalTokenCount\": 7}},\"modelVersion\": \"gemini-2.5-flash\"}}\r\n\r\n"
                ));
            }
        }
    }
    s.into_bytes()
}

fn main() {
    println!(
        "{:<10} {:>14} {:>16} {:>18}",
        "provider", "recorded MB/s", "events/pass", "ns per token (1k)"
    );
    let (mb, ev) = throughput::<OpenAiParser>(&fixtures(&["openai"]));
    println!(
        "{:<10} {mb:>14.1} {ev:>16} {:>18.0}",
        "openai",
        per_token::<OpenAiParser>(&synthetic("openai"))
    );
    let (mb, ev) = throughput::<AnthropicParser>(&fixtures(&["anthropic"]));
    println!(
        "{:<10} {mb:>14.1} {ev:>16} {:>18.0}",
        "anthropic",
        per_token::<AnthropicParser>(&synthetic("anthropic"))
    );
    let (mb, ev) = throughput::<GeminiParser>(&fixtures(&["gemini"]));
    println!(
        "{:<10} {mb:>14.1} {ev:>16} {:>18.0}",
        "gemini",
        per_token::<GeminiParser>(&synthetic("gemini"))
    );
}
