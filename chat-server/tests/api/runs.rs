//! Runs: numbered into the log and followed from any point, resumed after a
//! disconnect with exactly the missing events, cancelled with their partial
//! answer kept; the replica's run cap and each user's; and those limits
//! shared across replicas through a real Redis, which may die.

use std::time::Duration;

use chat_server::{
    agent::RunEvent,
    limits::{self, Quotas, Refusal},
    runs::{Admission, MemoryRunLog, RunHandle, Runs, StartError, TurnRequest, log::follow},
    store::{ChatStore, MessageStatus, Role, RunStatus, ToolStatus},
};
use futures::StreamExt;
use serde_json::json;

use crate::support::{
    FakeModel, TestApp, Turn,
    redis::Redis,
    sse::{events, parts, text, whole},
};

/// Every event of a run, once it is over.
async fn finish(runs: &Runs, run_id: &str) -> Vec<(u64, RunEvent)> {
    follow(runs.log(), run_id.to_owned(), 0).collect().await
}

async fn start(runs: &std::sync::Arc<Runs>, request: TurnRequest) -> RunHandle {
    runs.start(request).await.expect("the run starts")
}

#[tokio::test]
async fn a_run_is_logged_in_order_and_saved_as_it_goes() {
    let app = TestApp::spawn().await;
    let runs = app.runs();
    let handle = start(
        runs,
        TurnRequest::new("How many schools are in Lamu county?").by("ann"),
    )
    .await;
    let events = finish(runs, &handle.run_id).await;
    let numbers: Vec<u64> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        numbers,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "numbered without gaps"
    );
    assert!(matches!(
        events.last(),
        Some((_, RunEvent::Finished { .. }))
    ));
    let streamed: String = events
        .iter()
        .filter_map(|(_, e)| match e {
            RunEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();

    // Resuming after any event gives exactly the rest.
    let k = events.len() as u64 / 2;
    let rest: Vec<(u64, RunEvent)> = follow(runs.log(), handle.run_id.clone(), k).collect().await;
    assert_eq!(rest, events[k as usize..].to_vec());

    let store = &app.store;
    let session = store
        .session(&handle.session_id)
        .await
        .expect("get")
        .expect("session");
    assert_eq!(session.title, "How many schools are in Lamu county?");
    assert_eq!(session.owner.as_deref(), Some("ann"));
    let messages = store.messages(&handle.session_id).await.expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0].role, messages[1].role),
        (Role::User, Role::Assistant)
    );
    assert_eq!(messages[1].content, streamed);
    assert_eq!(messages[1].status, MessageStatus::Complete);
    let calls = store.tool_calls(&handle.session_id).await.expect("calls");
    assert!(calls.iter().any(|c| c.name == "school_statistics"
        && c.status == ToolStatus::Ok
        && c.arguments.contains("Lamu")
        && c.result.is_some()));
    let run = store
        .run(&handle.run_id)
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.first_token_ms.is_some());

    // The next turn continues the same session.
    let next = start(
        runs,
        TurnRequest::new("And in Kisumu county?")
            .in_session(&handle.session_id)
            .by("ann"),
    )
    .await;
    finish(runs, &next.run_id).await;
    assert_eq!(
        store
            .messages(&handle.session_id)
            .await
            .expect("messages")
            .len(),
        4
    );
}

#[tokio::test]
async fn a_client_that_disconnects_resumes_with_exactly_the_missing_events() {
    let fake = FakeModel::start(vec![Turn::Words(30, Duration::from_millis(20))]).await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let response = app
        .http
        .post(format!("{}/chat/stream", app.base))
        .json(&json!({ "message": "Talk slowly" }))
        .send()
        .await
        .expect("post");
    // Read part of the stream, then hang up.
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if seen.matches("text-delta").count() >= 5 {
            break;
        }
    }
    drop(body);
    // Only whole events count as received.
    let before = events(whole(&seen));
    let run_id = parts(&before)[1]["data"]["runId"]
        .as_str()
        .expect("run id")
        .to_owned();
    let last_id = before
        .last()
        .and_then(|(id, _)| id.clone())
        .expect("last id");

    tokio::time::sleep(Duration::from_millis(200)).await; // the run goes on without a reader
    let after = events(&app.follow(&run_id, Some(&last_id)).await);
    let all = events(&app.follow(&run_id, None).await);
    let mut joined = before.clone();
    joined.extend(after);
    assert_eq!(joined, all, "no gap and no duplicate");
    assert_eq!(
        text(&parts(&all)),
        (0..30).map(|i| format!("w{i} ")).collect::<String>()
    );
}

#[tokio::test]
async fn cancelling_a_run_ends_its_stream_and_keeps_the_partial_answer() {
    let fake = FakeModel::start(vec![Turn::Words(1000, Duration::from_millis(10))]).await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let response = app
        .http
        .post(format!("{}/chat/stream", app.base))
        .json(&json!({ "message": "Go on forever" }))
        .send()
        .await
        .expect("post");
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let mut run_id = None;
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if run_id.is_none()
            && let Some(p) = parts(&events(whole(&seen))).get(1)
        {
            run_id = p["data"]["runId"].as_str().map(str::to_owned);
        }
        if seen.matches("text-delta").count() >= 3 {
            break;
        }
    }
    let run_id = run_id.expect("run id");
    assert_eq!(app.cancel(&run_id).await, 202);
    let rest = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
        seen
    })
    .await
    .expect("the stream ends soon after the cancel");
    assert!(
        rest.contains("data-cancelled") && rest.trim_end().ends_with("data: [DONE]"),
        "{}",
        &rest[rest.len().saturating_sub(300)..]
    );
    let session = app
        .session(
            parts(&events(&rest))[1]["data"]["sessionId"]
                .as_str()
                .expect("session"),
        )
        .await;
    let answer = &session["messages"][1];
    assert_eq!(answer["status"], "cancelled");
    assert!(
        answer["content"]
            .as_str()
            .expect("content")
            .starts_with("w0 w1 w2 "),
        "{answer}"
    );
    assert_eq!(app.cancel(&run_id).await, 409);
}

#[tokio::test]
async fn cancelling_a_run_saves_the_partial_answer() {
    let fake = FakeModel::always(Turn::Endless).await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let runs = app.runs();
    let handle = start(runs, TurnRequest::new("Tell me a long story")).await;
    let reader = tokio::spawn(follow(runs.log(), handle.run_id.clone(), 0).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(runs.cancel(&handle.run_id).await);
    let events = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .expect("the stream ends")
        .expect("reader");
    assert_eq!(
        events.last().map(|(_, e)| e.clone()),
        Some(RunEvent::Cancelled)
    );
    let messages = app
        .store
        .messages(&handle.session_id)
        .await
        .expect("messages");
    assert_eq!(messages[1].content, "Partial ");
    assert_eq!(messages[1].status, MessageStatus::Cancelled);
    assert_eq!(
        app.store
            .run(&handle.run_id)
            .await
            .expect("run")
            .expect("exists")
            .status,
        RunStatus::Cancelled
    );
    assert!(
        !runs.cancel(&handle.run_id).await,
        "a finished run cannot be cancelled"
    );
}

#[tokio::test]
async fn the_concurrency_cap_refuses_more_runs_and_unknown_sessions_are_reported() {
    let fake = FakeModel::always(Turn::Endless).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("max_concurrent_sessions", 1)
        .spawn()
        .await;
    let runs = app.runs();
    let first = start(runs, TurnRequest::new("one")).await;
    assert!(matches!(
        runs.start(TurnRequest::new("two")).await,
        Err(StartError::Busy(1))
    ));
    assert!(runs.cancel(&first.run_id).await);
    // Once a reader has seen the run end, its slot is free.
    finish(runs, &first.run_id).await;
    assert!(matches!(
        runs.start(TurnRequest::new("x").in_session("no-such-session"))
            .await,
        Err(StartError::SessionNotFound(_))
    ));
    assert!(
        runs.start(TurnRequest::new("three")).await.is_ok(),
        "a slot frees when a run ends"
    );
    runs.shutdown(Duration::from_millis(100)).await;
    assert_eq!(
        runs.active(),
        0,
        "shutdown cancels what did not finish in time"
    );
}

#[tokio::test]
async fn one_user_may_have_only_so_many_runs_going_at_once() {
    let fake = FakeModel::always(Turn::Endless).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("max_runs_per_user", 2)
        .spawn()
        .await;
    let runs = app.runs();
    let first = start(runs, TurnRequest::new("one").by("u1")).await;
    start(runs, TurnRequest::new("two").by("u1")).await;
    assert!(matches!(
        runs.start(TurnRequest::new("three").by("u1")).await,
        Err(StartError::Quota(Refusal::Runs(2)))
    ));
    start(runs, TurnRequest::new("someone else").by("u2")).await;
    assert!(runs.cancel(&first.run_id).await);
    finish(runs, &first.run_id).await;
    start(runs, TurnRequest::new("three").by("u1")).await;
    runs.shutdown(Duration::from_millis(100)).await;
}

/// A replica over `fake`, counting per-user limits in `redis`.
async fn replica(fake: &FakeModel, redis: &Redis, runs_per_user: usize, tokens: u64) -> TestApp {
    TestApp::builder()
        .model(fake)
        .redis(redis)
        .set("max_runs_per_user", runs_per_user)
        .set("daily_token_budget", tokens)
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_cap_holds_across_replicas_sharing_redis() {
    let redis = Redis::start();
    let fake = FakeModel::always(Turn::Endless).await;
    let (a, b) = (
        replica(&fake, &redis, 1, 0).await,
        replica(&fake, &redis, 1, 0).await,
    );
    let first = start(a.runs(), TurnRequest::new("one").by("u1")).await;
    assert!(
        matches!(
            b.runs().start(TurnRequest::new("two").by("u1")).await,
            Err(StartError::Quota(Refusal::Runs(1)))
        ),
        "the other replica sees the running run"
    );
    start(b.runs(), TurnRequest::new("someone else").by("u2")).await;
    assert!(a.runs().cancel(&first.run_id).await);
    finish(a.runs(), &first.run_id).await;
    start(b.runs(), TurnRequest::new("two").by("u1")).await;
    a.runs().shutdown(Duration::from_millis(100)).await;
    b.runs().shutdown(Duration::from_millis(100)).await;
}

/// The runs of `app`'s agents and store, with a run log of their own and
/// only the per-user limits shared through `redis` (so the runs go on when
/// Redis dies, as the limits must).
async fn sharing_limits(app: &TestApp, redis: &Redis, tokens: u64) -> std::sync::Arc<Runs> {
    let connection = limits::connect_redis(&redis.url).await;
    assert!(connection.is_some(), "the replica reaches Redis");
    let admission = Admission::new(100, std::sync::Arc::new(Quotas::new(connection, 3, tokens)));
    let log = std::sync::Arc::new(MemoryRunLog::new(Duration::from_secs(60)));
    Runs::new(
        app.store.clone(),
        app.runs().runner().clone(),
        log,
        admission,
        None,
        None,
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_token_budget_is_shared_across_replicas_and_survives_redis_dying() {
    let mut redis = Redis::start();
    // Each run costs 50 tokens; the budget is 100 a day.
    let fake = FakeModel::always(Turn::Metered("ok", 30, 20)).await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let (a, b) = (
        sharing_limits(&app, &redis, 100).await,
        sharing_limits(&app, &redis, 100).await,
    );
    for runs in [&a, &b] {
        let run = start(runs, TurnRequest::new("hello").by("ann")).await;
        let events = finish(runs, &run.run_id).await;
        assert!(matches!(
            events.last(),
            Some((_, RunEvent::Finished { .. }))
        ));
    }
    for runs in [&a, &b] {
        match runs.start(TurnRequest::new("again").by("ann")).await {
            Err(StartError::Quota(Refusal::Tokens {
                used: 100,
                budget: 100,
                retry_after,
            })) => assert!((1..=86_400).contains(&retry_after)),
            other => panic!("over the shared budget: {:?}", other.map(|h| h.run_id)),
        }
    }
    let run = start(&a, TurnRequest::new("hello").by("bob")).await;
    finish(&a, &run.run_id).await;

    // Redis dies: each replica goes on counting its own tokens, without errors.
    redis.kill();
    let run = start(&b, TurnRequest::new("hello").by("cy")).await;
    let events = finish(&b, &run.run_id).await;
    assert!(matches!(
        events.last(),
        Some((_, RunEvent::Finished { .. }))
    ));
    let run = start(&b, TurnRequest::new("hello").by("cy")).await;
    finish(&b, &run.run_id).await;
    assert!(
        matches!(
            b.start(TurnRequest::new("again").by("cy")).await,
            Err(StartError::Quota(Refusal::Tokens { used: 100, .. }))
        ),
        "this replica's own count still enforces the budget"
    );
}

/// A model whose stream panics (a parser's bug, say).
struct Panicking;

#[async_trait::async_trait]
impl chat_server::providers::LlmProvider for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }
    fn model(&self) -> &str {
        "bug-1"
    }
    async fn stream(
        &self,
        _: &chat_server::providers::ChatRequest,
    ) -> Result<chat_server::providers::EventStream, chat_server::providers::ProviderError> {
        Ok(futures::stream::once(async { panic!("a bug in a parser") }).boxed())
    }
}

#[tokio::test]
async fn a_run_whose_loop_panics_ends_as_failed_and_frees_its_slot() {
    use chat_server::{
        agent::{AgentRunner, AgentSet, RunLimits},
        providers::registry::Registry,
    };
    let app = TestApp::spawn().await;
    let runner = std::sync::Arc::new(AgentRunner::new(
        AgentSet::builtin(),
        std::sync::Arc::new(Registry::single(std::sync::Arc::new(Panicking))),
        crate::support::emis::toolbox().await,
        RunLimits::default(),
    ));
    let admission = Admission::new(10, std::sync::Arc::new(Quotas::new(None, 1, 0)));
    let log = std::sync::Arc::new(MemoryRunLog::new(Duration::from_secs(60)));
    let runs = Runs::new(app.store.clone(), runner, log, admission, None, None, None);
    for attempt in 0..2 {
        let run = start(&runs, TurnRequest::new("hello").by("ann")).await;
        let events = tokio::time::timeout(Duration::from_secs(5), finish(&runs, &run.run_id))
            .await
            .expect("readers are not left waiting");
        assert!(
            matches!(events.last(), Some((_, RunEvent::Failed { message })) if message.contains("internal error")),
            "attempt {attempt}: {:?}",
            events.last()
        );
        let saved = app
            .store
            .run(&run.run_id)
            .await
            .expect("run")
            .expect("saved");
        assert_eq!(saved.status, RunStatus::Failed, "attempt {attempt}");
        assert_eq!(runs.active(), 0, "the run does not count as running");
    }
}
