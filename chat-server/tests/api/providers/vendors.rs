//! Each provider against the fake model server replaying that vendor's
//! recorded wire bytes: a two-turn tool round trip, rate limiting with
//! Retry-After, overload exhausting the retries, an error inside a 200 stream,
//! and a stalled stream hitting the idle timeout.

use std::time::{Duration, Instant};

use chat_server::{
    domain::{Message, ToolResult, ToolSpec},
    providers::{
        ChatRequest, LlmProvider, ProviderError, ProviderEvent, Timeout,
        client::HttpPolicy,
        complete,
        vendors::{Vendor, VendorProvider},
    },
};
use futures::StreamExt;
use serde_json::json;

use super::fixture;
use crate::support::{FakeModel, Turn};

async fn start(vendor: Vendor, script: Vec<Turn>) -> (VendorProvider, FakeModel) {
    let fake = FakeModel::start(script).await;
    let base = if vendor == Vendor::OpenAi {
        fake.openai_base()
    } else {
        fake.base.clone()
    };
    let policy = HttpPolicy {
        idle_timeout: Duration::from_millis(400),
        first_byte_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(20),
        max_retries: 2,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..HttpPolicy::default()
    };
    let provider = VendorProvider::new(
        vendor,
        "test-model",
        &base,
        Some("test-key".to_owned().into()),
        policy,
    )
    .expect("provider");
    (provider, fake)
}

fn weather_request() -> ChatRequest {
    ChatRequest {
        model: None,
        system: Some("Be brief.".into()),
        messages: vec![Message::User {
            text: "What is the capital of the UK?".into(),
        }],
        tools: vec![ToolSpec {
            name: "get_capital".into(),
            description: "The capital of a country".into(),
            parameters: json!({ "type": "object", "properties": { "country": { "type": "string" } }, "required": ["country"] }),
        }],
        max_tokens: Some(256),
        temperature: None,
        profile: None,
    }
}

/// Runs turn 1, answers its tool calls with `answer`, runs turn 2.
async fn round_trip(
    provider: &VendorProvider,
    answer: &str,
) -> (
    chat_server::providers::Completion,
    chat_server::providers::Completion,
) {
    let mut request = weather_request();
    let first = complete(provider, &request).await.expect("turn 1");
    assert!(!first.tool_calls.is_empty(), "turn 1 asks for a tool");
    let results = first
        .tool_calls
        .iter()
        .map(|c| ToolResult {
            call_id: c.id.clone(),
            name: c.name.clone(),
            content: answer.into(),
            is_error: false,
        })
        .collect();
    request.messages.push(Message::Assistant {
        text: first.text.clone(),
        tool_calls: first.tool_calls.clone(),
    });
    request.messages.push(Message::Tool { results });
    let second = complete(provider, &request).await.expect("turn 2");
    (first, second)
}

#[tokio::test]
async fn openai_runs_a_tool_round_trip_in_its_own_shapes() {
    let (provider, fake) = start(
        Vendor::OpenAi,
        vec![
            Turn::Sse(fixture("openai_agentloop_turn1_tool_call.sse")),
            Turn::Sse(fixture("openai_agentloop_turn2_final_text.sse")),
        ],
    )
    .await;
    let (first, second) = round_trip(&provider, "London").await;
    assert_eq!(first.tool_calls[0].name, "get_capital");
    assert_eq!(first.tool_calls[0].arguments, json!({ "country": "UK" }));
    assert_eq!(second.text, "The capital of the UK is London.");
    let requests = fake.seen.lock().await;
    assert_eq!(requests[0].uri, "/v1/chat/completions");
    assert_eq!(requests[0].headers["authorization"], "Bearer test-key");
    let body = &requests[1].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["tools"][0]["function"]["name"], "get_capital");
    assert_eq!(body["messages"][0]["role"], "system");
    let assistant = &body["messages"][2];
    assert_eq!(
        assistant["tool_calls"][0]["id"],
        "call_ZR5UUuTt3pf61kjwAJIYdVMj"
    );
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        "{\"country\":\"UK\"}"
    );
    assert_eq!(
        body["messages"][3],
        json!({ "role": "tool", "tool_call_id": "call_ZR5UUuTt3pf61kjwAJIYdVMj", "content": "London" })
    );
}

#[tokio::test]
async fn anthropic_runs_a_tool_round_trip_in_its_own_shapes() {
    let (provider, fake) = start(
        Vendor::Anthropic,
        vec![
            Turn::Sse(fixture("anthropic_text_then_tool_use_sdk_fixture.sse")),
            Turn::Sse(fixture("anthropic_text_short_padded_json.sse")),
        ],
    )
    .await;
    let (first, second) = round_trip(&provider, "Sunny, 21°C").await;
    assert_eq!(
        first.text,
        "I'll check the current weather in Paris for you."
    );
    assert_eq!(
        first.tool_calls[0].arguments,
        json!({ "location": "Paris" })
    );
    assert_eq!(second.text, "2");
    let requests = fake.seen.lock().await;
    assert_eq!(requests[0].uri, "/v1/messages");
    assert_eq!(requests[0].headers["x-api-key"], "test-key");
    assert_eq!(requests[0].headers["anthropic-version"], "2023-06-01");
    let body = &requests[1].body;
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["tools"][0]["input_schema"]["required"][0], "country");
    assert_eq!(body["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(
        body["messages"][2]["content"][0],
        json!({
            "type": "tool_result", "tool_use_id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "content": "Sunny, 21°C"
        })
    );
}

#[tokio::test]
async fn gemini_runs_a_tool_round_trip_and_echoes_thought_signatures() {
    let (provider, fake) = start(
        Vendor::Gemini,
        vec![
            Turn::Sse(fixture("gemini3_function_call_thought_signature.sse")),
            Turn::Sse(fixture("gemini_agentloop_turn3_final_text.sse")),
        ],
    )
    .await;
    let (first, second) = round_trip(&provider, "{\"capital\":\"London\"}").await;
    let signature = first.tool_calls[0]
        .signature
        .clone()
        .expect("a thought signature");
    assert_eq!(signature.len(), 1408);
    assert_eq!(second.text, "The temperature in Paris is 30°C.\n");
    let requests = fake.seen.lock().await;
    assert_eq!(
        requests[0].uri,
        "/v1beta/models/test-model:streamGenerateContent?alt=sse"
    );
    assert_eq!(requests[0].headers["x-goog-api-key"], "test-key");
    let body = &requests[1].body;
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["name"],
        "get_capital"
    );
    let model_turn = &body["contents"][1];
    assert_eq!(model_turn["role"], "model");
    assert_eq!(
        model_turn["parts"][0]["thoughtSignature"],
        signature.as_str()
    );
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"],
        json!({
            "name": "get_country", "response": { "capital": "London" }
        })
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    for vendor in [Vendor::OpenAi, Vendor::Anthropic, Vendor::Gemini] {
        let ok = match vendor {
            Vendor::OpenAi => fixture("openai_text_usage_done.sse"),
            Vendor::Anthropic => fixture("anthropic_text_short_padded_json.sse"),
            Vendor::Gemini => fixture("gemini_text_basic_crlf.sse"),
        };
        let (provider, fake) = start(
            vendor,
            vec![
                Turn::Status(
                    429,
                    vec![("retry-after", "1".into())],
                    r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.into(),
                ),
                Turn::Sse(ok),
            ],
        )
        .await;
        let started = Instant::now();
        let completion = complete(&provider, &weather_request())
            .await
            .expect("succeeds after the wait");
        assert!(!completion.text.is_empty());
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "{vendor:?} waited {:?}",
            started.elapsed()
        );
        assert_eq!(fake.seen.lock().await.len(), 2);
    }
}

#[tokio::test]
async fn a_retry_hint_longer_than_the_cap_fails_at_once() {
    // Gemini's RetryInfo asks for 34.4 s; the test policy caps hints at 60 s by
    // default, so lower the cap to show the call gives up instead of sleeping.
    let body = String::from_utf8(fixture("gemini_error_429_retry_info.json")).expect("utf8");
    let (mut provider, fake) = start(Vendor::Gemini, vec![Turn::Status(429, vec![], body)]).await;
    provider.set_policy(HttpPolicy {
        max_retry_after: Duration::from_secs(10),
        ..provider.policy().clone()
    });
    let started = Instant::now();
    let error = complete(&provider, &weather_request())
        .await
        .expect_err("rate limited");
    assert_eq!(
        error.retry_after(),
        Some(Duration::from_secs_f64(34.4)),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.seen.lock().await.len(), 1);
}

#[tokio::test]
async fn a_503_that_persists_exhausts_the_retries() {
    for (vendor, body) in [
        (
            Vendor::Gemini,
            r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
        ),
        (
            Vendor::OpenAi,
            r#"{"error":{"message":"The model is overloaded. Please try again later.","type":"server_error"}}"#,
        ),
        (
            Vendor::Anthropic,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
    ] {
        let (provider, fake) = start(vendor, vec![Turn::Status(503, vec![], body.into()); 3]).await;
        let error = complete(&provider, &weather_request())
            .await
            .expect_err("overloaded");
        assert!(
            matches!(&error, ProviderError::Overloaded { message, .. } if message.contains("verloaded")),
            "{vendor:?}: {error:?}"
        );
        assert_eq!(
            fake.seen.lock().await.len(),
            3,
            "{vendor:?}: one try and two retries"
        );
    }
}

#[tokio::test]
async fn what_cannot_succeed_is_not_retried() {
    let (provider, fake) = start(Vendor::OpenAi, vec![
        Turn::Status(401, vec![], r#"{"error":{"message":"Incorrect API key provided"}}"#.into()),
        Turn::Status(429, vec![], r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#.into()),
    ])
    .await;
    assert!(matches!(
        complete(&provider, &weather_request()).await,
        Err(ProviderError::Auth { status: 401, .. })
    ));
    assert!(matches!(
        complete(&provider, &weather_request()).await,
        Err(ProviderError::QuotaExhausted { .. })
    ));
    assert_eq!(fake.seen.lock().await.len(), 2);
}

#[tokio::test]
async fn an_error_inside_a_200_stream_ends_it_with_that_error() {
    for (vendor, name) in [
        (
            Vendor::OpenAi,
            "openaicompat_groq_midstream_error_event.sse",
        ),
        (
            Vendor::Anthropic,
            "anthropic_midstream_overloaded_error_spliced.sse",
        ),
        (Vendor::Gemini, "gemini_vertex_error_midstream_raw_json.sse"),
    ] {
        let (provider, fake) = start(vendor, vec![Turn::Sse(fixture(name))]).await;
        let mut stream = provider
            .stream(&weather_request())
            .await
            .expect("the stream opens");
        let mut saw_output = false;
        let mut error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(ProviderEvent::TextDelta { .. } | ProviderEvent::ReasoningDelta { .. }) => {
                    saw_output = true
                }
                Ok(_) => {}
                Err(e) => error = Some(e),
            }
        }
        assert!(saw_output, "{name}: partial output arrives first");
        assert!(
            matches!(error, Some(ProviderError::Stream { .. })),
            "{name}: {error:?}"
        );
        assert_eq!(
            fake.seen.lock().await.len(),
            1,
            "{name}: a stream that already spoke is not retried"
        );
    }
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout() {
    let openai =
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n".to_vec();
    let anthropic = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n".to_vec();
    let gemini =
        b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}]}}]}\r\n\r\n"
            .to_vec();
    for (vendor, first) in [
        (Vendor::OpenAi, openai),
        (Vendor::Anthropic, anthropic),
        (Vendor::Gemini, gemini),
    ] {
        let (provider, _) = start(vendor, vec![Turn::Stall(first)]).await;
        let started = Instant::now();
        let mut stream = provider.stream(&weather_request()).await.expect("opens");
        let first = stream.next().await.expect("first event").expect("text");
        assert_eq!(
            first,
            ProviderEvent::TextDelta { text: "Hel".into() },
            "{vendor:?}"
        );
        let error = stream
            .next()
            .await
            .expect("an item")
            .expect_err("idle timeout");
        assert_eq!(error, ProviderError::Timeout(Timeout::Idle), "{vendor:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            stream.next().await.is_none(),
            "{vendor:?}: the stream ends after its error"
        );
    }
}

#[tokio::test]
async fn an_error_body_that_never_ends_is_read_only_so_far() {
    let (provider, fake) = start(Vendor::OpenAi, vec![Turn::EndlessError(500); 3]).await;
    let started = Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(15),
        complete(&provider, &weather_request()),
    )
    .await
    .expect("an answer, not a hang")
    .expect_err("a server error");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the body is not waited for: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, ProviderError::Server { status: 500, .. }),
        "the server's status, not a timeout: {error:?}"
    );
    assert_eq!(fake.requests().await, 3, "a 500 is retried as usual");
}
