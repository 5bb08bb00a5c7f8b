//! The agent loop against the fake model speaking OpenAI's streaming wire
//! format: handoffs, parallel tool calls, tool errors, the step limit,
//! output truncation and cancellation, with the real EMIS tools.

use std::{sync::Arc, time::Duration};

use chat_server::{
    agent::{AgentDef, AgentRunner, AgentSet, RunEvent, RunInput, RunLimits},
    domain::Message,
    providers::registry::ProviderSettings,
};
use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{FakeModel, Turn, emis};

async fn runner(turns: Vec<Turn>, limits: RunLimits) -> (Arc<AgentRunner>, FakeModel) {
    runner_with(AgentSet::builtin(), turns, limits).await
}

async fn runner_with(
    agents: AgentSet,
    turns: Vec<Turn>,
    limits: RunLimits,
) -> (Arc<AgentRunner>, FakeModel) {
    let fake = FakeModel::start(turns).await;
    let settings = ProviderSettings {
        openai_base_url: Some(fake.openai_base()),
        llm_max_retries: Some(0),
        ..Default::default()
    };
    (
        emis::runner(agents, &settings, emis::toolbox().await, limits),
        fake,
    )
}

async fn run(runner: Arc<AgentRunner>, question: &str, cancel: CancellationToken) -> Vec<RunEvent> {
    let input = RunInput {
        history: vec![Message::User {
            text: question.into(),
        }],
        agent: None,
        cancel,
        ..RunInput::default()
    };
    runner.run(input).collect().await
}

#[tokio::test]
async fn the_coordinator_hands_off_and_the_specialist_runs_tools_in_parallel() {
    let (runner, fake) = runner(
        vec![
            Turn::Calls(vec![("call_h", "transfer_to_schools", json!({}))]),
            Turn::Calls(vec![
                ("call_a", "search_schools", json!({ "query": "bakwanim" })),
                (
                    "call_b",
                    "school_statistics",
                    json!({ "group_by": "level", "county": "Baringo" }),
                ),
            ]),
            Turn::Text("Bakwanin is a public primary school in Baringo."),
        ],
        RunLimits::default(),
    )
    .await;
    let events = run(
        runner,
        "Tell me about Bakwanin school",
        CancellationToken::new(),
    )
    .await;
    let agents: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::AgentChanged { agent, .. } => Some(agent.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(agents, vec!["coordinator", "schools"]);
    let outputs: Vec<(&str, &str, bool)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolOutput {
                call_id,
                output,
                is_error,
                ..
            } => Some((call_id.as_str(), output.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(outputs.len(), 3);
    assert!(
        outputs
            .iter()
            .any(|(id, out, err)| *id == "call_a" && out.contains("KE-1") && !err)
    );
    assert!(
        outputs
            .iter()
            .any(|(id, out, _)| *id == "call_b" && out.contains("\"group_by\":\"level\""))
    );
    assert_eq!(
        events.last(),
        Some(&RunEvent::Finished {
            text: "Bakwanin is a public primary school in Baringo.".into()
        })
    );

    let requests = fake.bodies().await;
    // The coordinator is offered handoffs only; the specialist its tools.
    let names = |i: usize| -> Vec<String> {
        requests[i]["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        names(0).iter().all(|n| n.starts_with("transfer_to_")),
        "{:?}",
        names(0)
    );
    assert!(
        names(1).contains(&"search_schools".to_owned())
            && !names(1).contains(&"search_content".to_owned())
    );
    // Every tool call in the history the model sees has its result.
    let history = requests[2]["messages"].as_array().expect("messages");
    let call_ids: Vec<&str> = history
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
        .filter_map(|c| c["id"].as_str())
        .collect();
    let result_ids: Vec<&str> = history
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(call_ids, vec!["call_h", "call_a", "call_b"]);
    assert_eq!(result_ids, call_ids);
}

#[tokio::test]
async fn a_tool_error_goes_back_to_the_model_as_a_result() {
    let (runner, fake) = runner(
        vec![
            Turn::Calls(vec![("call_h", "transfer_to_schools", json!({}))]),
            Turn::Calls(vec![("call_x", "get_school", json!({ "id": "KE-0" }))]),
            Turn::Text("That school does not exist."),
        ],
        RunLimits::default(),
    )
    .await;
    let events = run(runner, "School KE-0?", CancellationToken::new()).await;
    assert!(events.iter().any(|e| matches!(e, RunEvent::ToolOutput { call_id, is_error: true, output, .. } if call_id == "call_x" && output.contains("no school has id"))));
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })));
    let requests = fake.bodies().await;
    let last = requests[2]["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned()
        .expect("a message");
    assert_eq!(last["role"], "tool");
    assert!(
        last["content"]
            .as_str()
            .expect("content")
            .contains("no school has id")
    );
}

#[tokio::test]
async fn tool_output_is_cut_to_the_budget_and_the_step_limit_ends_the_run() {
    let limits = RunLimits {
        max_steps: 2,
        max_tool_output: 200,
        ..RunLimits::default()
    };
    let (runner, fake) = runner(
        vec![
            Turn::Calls(vec![("call_h", "transfer_to_schools", json!({}))]),
            Turn::Calls(vec![("call_r", "list_regions", json!({}))]),
        ],
        limits,
    )
    .await;
    let events = run(runner, "List every region", CancellationToken::new()).await;
    let output = events
        .iter()
        .find_map(|e| match e {
            RunEvent::ToolOutput {
                call_id, output, ..
            } if call_id == "call_r" => Some(output.clone()),
            _ => None,
        })
        .expect("output");
    assert!(
        output.contains("[output truncated: 200 of"),
        "{}",
        &output[..output.len().min(300)]
    );
    assert!(
        matches!(events.last(), Some(RunEvent::Failed { message }) if message.contains("2 model steps")),
        "{:?}",
        events.last()
    );
    assert_eq!(fake.requests().await, 2);
}

#[tokio::test]
async fn cancelling_stops_the_model_call_at_once() {
    let (runner, _) = runner(vec![Turn::Endless], RunLimits::default()).await;
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    let events = tokio::time::timeout(Duration::from_secs(5), run(runner, "Hello", cancel))
        .await
        .expect("the run stops");
    assert!(started.elapsed() < Duration::from_millis(1_000));
    assert!(
        events.contains(&RunEvent::TextDelta {
            text: "Partial ".into()
        }),
        "the partial text was streamed"
    );
    assert_eq!(events.last(), Some(&RunEvent::Cancelled));
}

#[tokio::test]
async fn an_agent_with_its_own_model_asks_for_that_model() {
    let agents: Vec<AgentDef> = AgentSet::builtin()
        .all()
        .iter()
        .cloned()
        .map(|mut agent| {
            if agent.name == "schools" {
                agent.model = Some("gpt-schools-special".into());
            }
            agent
        })
        .collect();
    let (runner, fake) = runner_with(
        AgentSet::new(agents).expect("agents"),
        vec![
            Turn::Calls(vec![("call_h", "transfer_to_schools", json!({}))]),
            Turn::Text("Here you are."),
        ],
        RunLimits::default(),
    )
    .await;
    let events = run(runner, "Schools in Lamu?", CancellationToken::new()).await;
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })));
    let requests = fake.bodies().await;
    assert_ne!(
        requests[0]["model"], "gpt-schools-special",
        "the coordinator uses the provider's model"
    );
    assert_eq!(requests[1]["model"], "gpt-schools-special");
}
