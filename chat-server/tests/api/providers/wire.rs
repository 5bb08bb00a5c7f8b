//! Every recorded provider stream in `tests/fixtures/wire` (copied byte for
//! byte from shared/wire, checked against SHA256SUMS) parses to what
//! `expected.json` says, also when the bytes arrive split at every offset.

use std::collections::BTreeMap;

use chat_server::providers::{
    ProviderError, ProviderEvent, anthropic::AnthropicParser, gemini::GeminiParser,
    openai::OpenAiParser, parse_chunks,
};

use super::dir;
use proptest::prelude::*;
use serde_json::Value;
use sha2::Digest;

type Parsed = Vec<Result<ProviderEvent, ProviderError>>;

fn expected() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

fn parse(parser: &str, chunks: &[&[u8]]) -> Parsed {
    match parser {
        "openai" => parse_chunks(OpenAiParser::default(), chunks),
        "anthropic" => parse_chunks(AnthropicParser::default(), chunks),
        "gemini" => parse_chunks(GeminiParser::default(), chunks),
        other => panic!("unknown parser {other}"),
    }
}

/// What a parse produced, folded for comparison with expected.json.
#[derive(Debug, Default)]
struct Summary {
    text: String,
    reasoning: String,
    refusal: String,
    calls: Vec<(String, String, Value, Option<String>)>,
    finish: Option<String>,
    usage: Option<chat_server::domain::Usage>,
    error: Option<ProviderError>,
}

fn summarise(parsed: &Parsed) -> Summary {
    let mut s = Summary::default();
    for item in parsed {
        match item {
            Ok(ProviderEvent::TextDelta { text }) => s.text.push_str(text),
            Ok(ProviderEvent::ReasoningDelta { text }) => s.reasoning.push_str(text),
            Ok(ProviderEvent::RefusalDelta { text }) => s.refusal.push_str(text),
            Ok(ProviderEvent::ToolCall { call, .. }) => s.calls.push((
                call.id.clone(),
                call.name.clone(),
                call.arguments.clone(),
                call.signature.clone(),
            )),
            Ok(ProviderEvent::Finish { raw, .. }) => s.finish = Some(raw.clone()),
            Ok(ProviderEvent::Usage { usage }) => s.usage = Some(*usage),
            Ok(_) => {}
            Err(e) => s.error = Some(e.clone()),
        }
    }
    s
}

fn chars(s: &str) -> u64 {
    s.chars().count() as u64
}

fn check(name: &str, parser: &str, want: &Value, got: &Summary) {
    let ctx = |what: &str| format!("{name}: {what}");
    match parser {
        "openai" => {
            assert_eq!(
                got.text,
                want["text"].as_str().unwrap_or_default(),
                "{}",
                ctx("text")
            );
            assert_eq!(
                got.finish.as_deref(),
                want["finish_reason"].as_str(),
                "{}",
                ctx("finish")
            );
            if let Some(refusal) = want["refusal"].as_str() {
                assert_eq!(got.refusal, refusal, "{}", ctx("refusal"));
            }
            if let Some(n) = want["reasoning_chars"].as_u64() {
                assert_eq!(chars(&got.reasoning), n, "{}", ctx("reasoning"));
            }
            let calls = want["tool_calls"].as_array().cloned().unwrap_or_default();
            if got.error.is_none() {
                assert_eq!(got.calls.len(), calls.len(), "{}", ctx("tool calls"));
            }
            for (call, (id, name, args, _)) in calls.iter().zip(&got.calls) {
                assert_eq!(
                    id,
                    call["id"].as_str().unwrap_or_default(),
                    "{}",
                    ctx("call id")
                );
                assert_eq!(
                    name,
                    call["name"].as_str().unwrap_or_default(),
                    "{}",
                    ctx("call name")
                );
                assert_eq!(args, &call["arguments_json"], "{}", ctx("call arguments"));
            }
            match want.get("usage") {
                Some(u) => {
                    let got = got
                        .usage
                        .unwrap_or_else(|| panic!("{}", ctx("usage missing")));
                    assert_eq!(
                        got.input_tokens,
                        u["prompt_tokens"].as_u64(),
                        "{}",
                        ctx("input tokens")
                    );
                    assert_eq!(
                        got.output_tokens,
                        u["completion_tokens"].as_u64(),
                        "{}",
                        ctx("output tokens")
                    );
                    assert_eq!(
                        got.total_tokens,
                        u["total_tokens"].as_u64(),
                        "{}",
                        ctx("total tokens")
                    );
                }
                None => assert!(got.usage.is_none(), "{}", ctx("no usage expected")),
            }
        }
        "anthropic" => {
            let blocks = want["blocks"].as_array().cloned().unwrap_or_default();
            let text: String = blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            assert_eq!(got.text, text, "{}", ctx("text"));
            let thinking: u64 = blocks
                .iter()
                .filter_map(|b| b["thinking_chars"].as_u64())
                .sum();
            assert_eq!(chars(&got.reasoning), thinking, "{}", ctx("thinking"));
            assert_eq!(
                got.finish.as_deref(),
                want["stop_reason"].as_str(),
                "{}",
                ctx("stop reason")
            );
            let tools: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "tool_use").collect();
            let valid: Vec<&&Value> = tools.iter().filter(|b| b["input"].is_object()).collect();
            assert_eq!(got.calls.len(), valid.len(), "{}", ctx("tool calls"));
            for (block, (id, name, args, _)) in valid.iter().zip(&got.calls) {
                assert_eq!(
                    id,
                    block["id"].as_str().unwrap_or_default(),
                    "{}",
                    ctx("id")
                );
                assert_eq!(
                    name,
                    block["name"].as_str().unwrap_or_default(),
                    "{}",
                    ctx("name")
                );
                assert_eq!(args, &block["input"], "{}", ctx("input"));
            }
            if tools.iter().any(|b| {
                b["input"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("INVALID"))
            }) {
                assert!(
                    matches!(&got.error, Some(ProviderError::InvalidToolArguments { tool, .. }) if tool == "make_file"),
                    "{}: a truncated tool input is an error, never a call: {:?}",
                    name,
                    got.error
                );
            }
            let usage = got.usage.unwrap_or_else(|| panic!("{}", ctx("usage")));
            assert_eq!(
                usage.input_tokens,
                want["usage"]["input_tokens"].as_u64(),
                "{}",
                ctx("input tokens")
            );
            assert_eq!(
                usage.output_tokens,
                want["usage"]["output_tokens"].as_u64(),
                "{}",
                ctx("output tokens")
            );
        }
        "gemini" => {
            assert_eq!(
                got.text,
                want["text"].as_str().unwrap_or_default(),
                "{}",
                ctx("text")
            );
            if let Some(n) = want["thought_chars"].as_u64() {
                assert_eq!(chars(&got.reasoning), n, "{}", ctx("thoughts"));
            }
            let calls = want["function_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(got.calls.len(), calls.len(), "{}", ctx("function calls"));
            for (call, (_, name, args, signature)) in calls.iter().zip(&got.calls) {
                assert_eq!(
                    name,
                    call["name"].as_str().unwrap_or_default(),
                    "{}",
                    ctx("name")
                );
                assert_eq!(args, &call["args"], "{}", ctx("args"));
                if let Some(len) = call["thoughtSignature_len"].as_u64() {
                    assert_eq!(
                        signature.as_deref().map(|s| s.len() as u64),
                        Some(len),
                        "{}",
                        ctx("signature")
                    );
                }
            }
            if got.error.is_none() {
                assert_eq!(
                    got.finish.as_deref(),
                    want["finish_reason"].as_str(),
                    "{}",
                    ctx("finish")
                );
            }
            if let Some(u) = want.get("usage") {
                let usage = got.usage.unwrap_or_else(|| panic!("{}", ctx("usage")));
                assert_eq!(
                    usage.input_tokens,
                    u["promptTokenCount"].as_u64(),
                    "{}",
                    ctx("prompt")
                );
                assert_eq!(
                    usage.output_tokens,
                    u["candidatesTokenCount"].as_u64(),
                    "{}",
                    ctx("candidates")
                );
                assert_eq!(
                    usage.reasoning_tokens,
                    u["thoughtsTokenCount"].as_u64(),
                    "{}",
                    ctx("thoughts tokens")
                );
                assert_eq!(
                    usage.total_tokens,
                    u["totalTokenCount"].as_u64(),
                    "{}",
                    ctx("total")
                );
            }
            if let Some(reason) = want["prompt_block_reason"].as_str() {
                assert!(
                    matches!(&got.error, Some(ProviderError::Blocked { reason: r }) if r.contains(reason)),
                    "{}",
                    ctx("block")
                );
            }
        }
        other => panic!("unknown parser {other}"),
    }
    let errors = want["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        got.error.is_some(),
        !errors.is_empty() || want["prompt_block_reason"].is_string() || has_invalid(want),
        "{}",
        ctx("error")
    );
}

fn has_invalid(want: &Value) -> bool {
    want["blocks"].as_array().is_some_and(|b| {
        b.iter().any(|b| {
            b["input"]
                .as_str()
                .is_some_and(|s| s.starts_with("INVALID"))
        })
    })
}

#[test]
fn fixtures_are_byte_for_byte_the_shared_recordings() {
    let sums = std::fs::read_to_string(dir().join("SHA256SUMS")).expect("sums");
    assert!(sums.lines().count() >= 40);
    // Every listed file hashes to its listed sum, and every fixture is listed.
    for line in sums.lines() {
        let (sum, name) = line.split_once("  ").expect("`<sha256>  <name>` lines");
        let bytes = std::fs::read(dir().join(name))
            .unwrap_or_else(|e| panic!("{name} is listed but unreadable: {e}"));
        let hashed: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hashed, sum, "{name} differs from the recording");
    }
    for entry in std::fs::read_dir(dir()).expect("fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        if name.ends_with(".sse") {
            assert!(
                sums.contains(&format!("  {name}")),
                "{name} is not in SHA256SUMS"
            );
        }
    }
    let index = std::fs::read_to_string(dir().join("INDEX.md")).expect("index");
    for name in expected().keys() {
        assert!(
            sums.contains(name.as_str()),
            "{name} is listed in SHA256SUMS"
        );
        assert!(
            index.contains(name.as_str()),
            "{name} is described in INDEX.md"
        );
    }
}

#[test]
fn every_recorded_stream_parses_to_the_expected_result() {
    for (name, want) in expected() {
        let bytes = std::fs::read(dir().join(&name)).expect("fixture");
        let parser = want["parser"].as_str().expect("parser");
        let summary = summarise(&parse(parser, &[&bytes]));
        check(&name, parser, &want["result"], &summary);
    }
}

#[test]
fn mid_stream_errors_surface_with_the_vendors_code_and_message() {
    let errors: Vec<(String, ProviderError)> = expected()
        .into_iter()
        .filter_map(|(name, want)| {
            let bytes = std::fs::read(dir().join(&name)).ok()?;
            let parsed = parse(want["parser"].as_str()?, &[&bytes]);
            Some((name, summarise(&parsed).error?))
        })
        .collect();
    let find = |name: &str| {
        errors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
    };
    assert!(
        matches!(find("openaicompat_groq_midstream_error_event.sse"),
        Some(ProviderError::Stream { code: Some(c), message, .. }) if c == "tool_use_failed" && message.contains("Tool call validation failed"))
    );
    assert!(
        matches!(find("openaicompat_openrouter_comments_midstream_error.sse"),
        Some(ProviderError::Stream { message, .. }) if message == "Token limit reached")
    );
    assert!(
        matches!(find("anthropic_midstream_overloaded_error_spliced.sse"),
        Some(ProviderError::Stream { code: Some(c), retryable: true, .. }) if c == "overloaded_error")
    );
    assert!(matches!(find("gemini_vertex_error_midstream_raw_json.sse"),
        Some(ProviderError::Stream { code: Some(c), .. }) if c == "CANCELLED"));
}

#[test]
fn splitting_the_bytes_at_any_offset_changes_nothing() {
    for (name, want) in expected() {
        let bytes = std::fs::read(dir().join(&name)).expect("fixture");
        let parser = want["parser"].as_str().expect("parser");
        let whole = parse(parser, &[&bytes]);
        for cut in 0..=bytes.len() {
            let split = parse(parser, &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(split, whole, "{name} split at byte {cut}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_parses_the_same(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 1..24)) {
        for (name, want) in expected() {
            let bytes = std::fs::read(dir().join(&name)).expect("fixture");
            let parser = want["parser"].as_str().expect("parser");
            let mut offsets: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            offsets.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for o in offsets {
                chunks.push(&bytes[last..o]);
                last = o;
            }
            chunks.push(&bytes[last..]);
            prop_assert_eq!(parse(parser, &chunks), parse(parser, &[&bytes]), "{}", name);
        }
    }
}
