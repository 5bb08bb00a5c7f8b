//! Long conversations, against a fake model that records every prompt: a
//! 300-turn session never sends more than its budget, always sends the
//! latest question whole, keeps the first turn's fact in the summary and
//! costs about the same per turn at the end as in the middle; a follow-up's
//! request carries the previous turn's tool call and result; a
//! `context_length_exceeded` answer leads to a compacted retry that works.

use serde_json::{Value, json};

use crate::support::{FakeModel, TestApp, Turn};

const BUDGET: i64 = 3_000;

/// The tokens of what a request carries of the conversation, counted as the
/// model (o200k) does: every message but the system prompt, and the
/// summary inside the system prompt.
fn conversation_tokens(body: &Value) -> i64 {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let count = |text: &str| bpe.encode_ordinary(text).len() as i64;
    let messages = body["messages"].as_array().expect("messages");
    let summary = messages[0]["content"]
        .as_str()
        .and_then(|s| s.split_once("the turns since follow in full):\n"))
        .map_or(0, |(_, summary)| count(summary));
    summary
        + messages[1..]
            .iter()
            .map(|m| {
                let calls: i64 = m["tool_calls"].as_array().map_or(0, |calls| {
                    calls
                        .iter()
                        .map(|c| count(c["function"]["arguments"].as_str().unwrap_or("")))
                        .sum()
                });
                count(m["content"].as_str().unwrap_or("")) + calls
            })
            .sum::<i64>()
}

async fn say(app: &TestApp, message: &str, session: Option<&str>) -> Value {
    let mut body = json!({ "message": message, "agent": "schools" });
    if let Some(id) = session {
        body["session_id"] = json!(id);
    }
    let (status, reply) = app.chat(body, None).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

#[tokio::test]
async fn a_300_turn_conversation_stays_within_its_budget_and_remembers_how_it_began() {
    let fake = FakeModel::always(Turn::Text(
        "Homa Bay county has 1,013 schools; of them 868 are public and 145 are private, and most are primary schools.",
    ))
    .await;
    let app = TestApp::builder()
        .model(&fake)
        .set("context_token_budget", BUDGET)
        .set("memory_enabled", false)
        .spawn()
        .await;
    let first = say(
        &app,
        "I am the head teacher of Kanyawanga Primary School in Homa Bay.",
        None,
    )
    .await;
    let session = first["session_id"].as_str().expect("session").to_owned();
    let mut questions = vec![String::new()];
    for i in 2..=300 {
        let question = format!(
            "Turn {i}: how many schools does sub-county number {i} of Homa Bay have, by level and ownership?"
        );
        say(&app, &question, Some(&session)).await;
        questions.push(question);
    }
    let bodies = fake.bodies().await;
    assert_eq!(bodies.len(), 300);
    let sizes: Vec<i64> = bodies.iter().map(conversation_tokens).collect();
    let largest = sizes.iter().max().copied().unwrap_or_default();
    assert!(
        largest <= BUDGET,
        "a request carried {largest} tokens of conversation"
    );
    for (i, body) in bodies.iter().enumerate().skip(1) {
        let messages = body["messages"].as_array().expect("messages");
        let last = messages.last().expect("a message");
        assert_eq!(last["role"], "user");
        assert_eq!(
            last["content"],
            questions[i].as_str(),
            "turn {}: the question whole",
            i + 1
        );
    }
    let system = bodies[299]["messages"][0]["content"]
        .as_str()
        .expect("system");
    assert!(
        system.contains("I am the head teacher of Kanyawanga Primary School in Homa Bay."),
        "the first turn survives in the summary: {system}"
    );
    // Flat: the last 40 turns cost what turns 61 to 100 did, not three times
    // as much. Over 40 turns (the summary job's period), as a turn's cost
    // rises from one stored summary to the next, and when the job runs
    // depends on the machine's load.
    let mean = |turns: &[i64]| turns.iter().sum::<i64>() as f64 / turns.len() as f64;
    let (middle, end) = (mean(&sizes[60..100]), mean(&sizes[260..300]));
    assert!(
        end <= middle * 1.1,
        "turns 61 to 100 sent {middle:.0} tokens on average, turns 261 to 300 {end:.0}: {sizes:?}"
    );
    assert!(
        sizes[20] < sizes[100] || sizes[100] > BUDGET / 2,
        "{sizes:?}"
    );
}

#[tokio::test]
async fn a_follow_up_sees_the_tool_result_of_the_turn_before() {
    let fake = FakeModel::start(vec![
        Turn::Calls(vec![(
            "call_k",
            "search_schools",
            json!({ "query": "bakwanim" }),
        )]),
        Turn::Text("There is one: Bakwanin, in Baringo."),
        Turn::Text("It is a public primary school."),
    ])
    .await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let first = say(&app, "Find Bakwanin school", None).await;
    let session = first["session_id"].as_str().expect("session").to_owned();
    say(&app, "Which of those is public?", Some(&session)).await;
    let bodies = fake.bodies().await;
    let follow_up = bodies.last().expect("the follow-up request");
    let messages = follow_up["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
    assert_eq!(messages[2]["tool_calls"][0]["id"], "call_k");
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["name"],
        "search_schools"
    );
    assert_eq!(messages[3]["tool_call_id"], "call_k");
    let result = messages[3]["content"].as_str().expect("the tool result");
    assert!(
        result.contains("KE-1") && result.contains("Baringo"),
        "{result}"
    );
    assert_eq!(
        messages[4]["content"],
        "There is one: Bakwanin, in Baringo."
    );
}

#[tokio::test]
async fn a_prompt_the_model_finds_too_long_is_compacted_and_asked_again() {
    let too_long = json!({ "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded" } });
    let mut script: Vec<Turn> = (0..12)
        .map(|_| Turn::Text("Baringo has 1,021 schools, 950 of them public."))
        .collect();
    script.push(Turn::Status(400, Vec::new(), too_long.to_string()));
    script.push(Turn::Text("Compacted and answered."));
    let fake = FakeModel::start(script).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("memory_enabled", false)
        .spawn()
        .await;
    let first = say(
        &app,
        "Tell me about schools in Baringo, my home county.",
        None,
    )
    .await;
    let session = first["session_id"].as_str().expect("session").to_owned();
    for i in 1..12 {
        say(
            &app,
            &format!("And question {i} about Baringo?"),
            Some(&session),
        )
        .await;
    }
    let reply = say(&app, "And the last question?", Some(&session)).await;
    assert_eq!(reply["message"], "Compacted and answered.", "{reply}");
    let bodies = fake.bodies().await;
    assert_eq!(bodies.len(), 14, "the refused prompt and its retry");
    let (refused, retried) = (&bodies[12], &bodies[13]);
    let (before, after) = (conversation_tokens(refused), conversation_tokens(retried));
    assert!(
        after <= before / 2,
        "{before} tokens refused, {after} retried"
    );
    let retried_messages = retried["messages"].as_array().expect("messages");
    assert_eq!(
        retried_messages.last().and_then(|m| m["content"].as_str()),
        Some("And the last question?")
    );
    let system = retried_messages[0]["content"].as_str().expect("system");
    assert!(system.contains("my home county"), "{system}");
    let saved = app.session(&session).await;
    let last = saved["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("messages");
    assert_eq!(last["content"], "Compacted and answered.");
}

/// The session's stored summary, once the background job has made it.
async fn stored_summary(app: &TestApp, session: &str) -> Value {
    for _ in 0..100 {
        let summary = app.session(session).await["summary"].clone();
        if !summary.is_null() {
            return summary;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no summary was stored for {session}");
}

#[tokio::test]
async fn a_long_sessions_older_turns_are_summarised_by_the_model_and_read_as_that_summary() {
    let fake = FakeModel::always(Turn::Text("Noted.")).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("context_summary_turns", 4)
        .spawn()
        .await;
    let first = "I am a head teacher in Kilifi and I plan a visit (turn 1)";
    let session = say(&app, first, None).await["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    for i in 2..=5 {
        say(&app, &format!("Question number {i}"), Some(&session)).await;
    }
    // Five turns past no summary: after the fifth, the older half is summarised.
    let summary = stored_summary(&app, &session).await;
    assert_eq!(summary["made_by"], "model", "{summary}");
    assert_eq!(summary["turns"], 3, "{summary}");
    let text = summary["text"].as_str().expect("text");
    assert!(
        text.contains("Kilifi"),
        "the model was given the first turn: {text}"
    );
    let asked = fake.summaries.lock().await.len();
    assert_eq!(asked, 1, "one summary request");

    say(&app, "Question number 6", Some(&session)).await;
    let body = fake.bodies().await.pop().expect("a request");
    let system = body["messages"][0]["content"].as_str().expect("system");
    assert!(
        system.contains("Earlier in this conversation") && system.contains(text),
        "{system}"
    );
    let carried: Vec<&str> = body["messages"].as_array().expect("messages")[1..]
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        !carried.contains(&first),
        "the summarised turn is not sent again: {carried:?}"
    );
    assert!(
        carried.contains(&"Question number 4") && carried.contains(&"Question number 6"),
        "{carried:?}"
    );
    // The conversation itself keeps every message.
    assert_eq!(
        app.session(&session).await["messages"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );
}

#[tokio::test]
async fn with_no_model_the_summary_is_the_questions_and_the_figures_answered() {
    let app = TestApp::builder()
        .set("context_summary_turns", 4)
        .spawn()
        .await;
    let counties = ["Lamu", "Kwale", "Kilifi", "Mombasa", "Kisumu"];
    let mut session: Option<String> = None;
    for county in counties {
        let reply = say(
            &app,
            &format!("How many schools are in {county} county?"),
            session.as_deref(),
        )
        .await;
        session = reply["session_id"].as_str().map(str::to_owned);
    }
    let session = session.expect("session");
    let summary = stored_summary(&app, &session).await;
    assert_eq!(summary["made_by"], "extractive", "{summary}");
    let text = summary["text"].as_str().expect("text");
    let lamu = crate::support::data::kenya_schools_in("Lamu");
    assert!(
        text.contains("Asked: How many schools are in Lamu county?")
            && text.contains(&lamu.to_string()),
        "the question and Lamu's {lamu} schools: {text}"
    );
    assert!(
        !text.contains("Mombasa"),
        "the newer half is not summarised: {text}"
    );
}
