//! Runs: events numbered into the log and followed from any point, the
//! conversation saved as it goes, cancel saving the partial answer, the
//! concurrency cap, on the SQLite store.

#[path = "../support/mod.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chat_server::{
    agent::{AgentRunner, AgentSet, RunEvent, RunLimits},
    providers::{
        ChatRequest, EventStream, FinishReason, LlmProvider, ProviderError, ProviderEvent, Usage,
        registry::{ProviderSettings, Registry},
    },
    quota::{Quotas, Refusal},
    ratelimit::RateLimiter,
    runs::{MemoryRunLog, RunManager, StartError, log::follow},
    store::{ChatStore, MessageStatus, Role, RunStatus, ToolStatus, sql::SqlStore},
};
use futures::StreamExt;

async fn store() -> Arc<SqlStore> {
    let dir = std::env::temp_dir().join(format!("mas-runs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    Arc::new(
        SqlStore::connect(&format!("sqlite://{}", dir.join("chat.db").display()), 4)
            .await
            .expect("store"),
    )
}

/// A model that says "Partial " and then nothing until it is dropped.
struct Stalling;

#[async_trait]
impl LlmProvider for Stalling {
    fn name(&self) -> &str {
        "stalling"
    }
    fn model(&self) -> &str {
        "never-finishes"
    }
    async fn stream(&self, _: &ChatRequest) -> Result<EventStream, ProviderError> {
        let first = futures::stream::once(async {
            Ok(ProviderEvent::TextDelta {
                text: "Partial ".into(),
            })
        });
        Ok(first.chain(futures::stream::pending()).boxed())
    }
}

async fn manager(registry: Registry, max_concurrent: usize) -> (Arc<RunManager>, Arc<SqlStore>) {
    let store = store().await;
    let runner = Arc::new(AgentRunner::new(
        AgentSet::builtin(),
        Arc::new(registry),
        support::toolbox().await,
        RunLimits::default(),
    ));
    let log = Arc::new(MemoryRunLog::new(Duration::from_secs(60)));
    (
        Arc::new(RunManager::new(store.clone(), runner, log, max_concurrent)),
        store,
    )
}

async fn offline() -> Registry {
    Registry::from_settings(
        &ProviderSettings::default(),
        support::toolbox().await.known_values(),
    )
    .expect("registry")
}

#[tokio::test]
async fn a_run_is_logged_in_order_and_saved_as_it_goes() {
    let (manager, store) = manager(offline().await, 4).await;
    let handle = manager
        .start(
            None,
            Some("ann"),
            "How many schools are in Lamu county?",
            None,
        )
        .await
        .expect("start");
    let events: Vec<(u64, RunEvent)> = follow(manager.log(), handle.run_id.clone(), 0)
        .collect()
        .await;
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
    let rest: Vec<(u64, RunEvent)> = follow(manager.log(), handle.run_id.clone(), k)
        .collect()
        .await;
    assert_eq!(rest, events[k as usize..].to_vec());

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
    let next = manager
        .start(
            Some(&handle.session_id),
            Some("ann"),
            "And in Kisumu county?",
            None,
        )
        .await
        .expect("second turn");
    let _: Vec<_> = follow(manager.log(), next.run_id.clone(), 0)
        .collect()
        .await;
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
async fn cancelling_a_run_saves_the_partial_answer() {
    let (manager, store) = manager(Registry::single(Arc::new(Stalling)), 4).await;
    let handle = manager
        .start(None, None, "Tell me a long story", None)
        .await
        .expect("start");
    let reader = tokio::spawn(follow(manager.log(), handle.run_id.clone(), 0).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(manager.cancel(&handle.run_id).await);
    let events = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .expect("the stream ends")
        .expect("reader");
    assert_eq!(
        events.last().map(|(_, e)| e.clone()),
        Some(RunEvent::Cancelled)
    );
    let messages = store.messages(&handle.session_id).await.expect("messages");
    assert_eq!(messages[1].content, "Partial ");
    assert_eq!(messages[1].status, MessageStatus::Cancelled);
    assert_eq!(
        store
            .run(&handle.run_id)
            .await
            .expect("run")
            .expect("exists")
            .status,
        RunStatus::Cancelled
    );
    assert!(
        !manager.cancel(&handle.run_id).await,
        "a finished run cannot be cancelled"
    );
}

#[tokio::test]
async fn the_concurrency_cap_refuses_more_runs_and_unknown_sessions_are_reported() {
    let (manager, _) = manager(Registry::single(Arc::new(Stalling)), 1).await;
    let first = manager.start(None, None, "one", None).await.expect("first");
    assert!(matches!(
        manager.start(None, None, "two", None).await,
        Err(StartError::Busy(1))
    ));
    assert!(manager.cancel(&first.run_id).await);
    // Once a reader has seen the run end, its slot is free.
    let _: Vec<_> = follow(manager.log(), first.run_id.clone(), 0)
        .collect()
        .await;
    assert!(matches!(
        manager
            .start(Some("no-such-session"), None, "x", None)
            .await,
        Err(StartError::SessionNotFound(_))
    ));
    assert!(
        manager.start(None, None, "three", None).await.is_ok(),
        "a slot frees when a run ends"
    );
    manager.shutdown(Duration::from_millis(100)).await;
    assert_eq!(
        manager.active(),
        0,
        "shutdown cancels what did not finish in time"
    );
}

#[tokio::test]
async fn one_user_may_have_only_so_many_runs_going_at_once() {
    let (manager, _) = manager(Registry::single(Arc::new(Stalling)), 100).await;
    let Ok(manager) = Arc::try_unwrap(manager) else {
        panic!("the test holds the only handle")
    };
    let manager = Arc::new(manager.with_quotas(Arc::new(Quotas::new(None, 2, 0))));
    let first = manager
        .start(None, Some("u1"), "one", None)
        .await
        .expect("first");
    manager
        .start(None, Some("u1"), "two", None)
        .await
        .expect("second");
    assert!(matches!(
        manager.start(None, Some("u1"), "three", None).await,
        Err(StartError::Quota(Refusal::Runs(2)))
    ));
    manager
        .start(None, Some("u2"), "someone else", None)
        .await
        .expect("another user is not affected");
    assert!(manager.cancel(&first.run_id).await);
    let _: Vec<_> = follow(manager.log(), first.run_id.clone(), 0)
        .collect()
        .await;
    manager
        .start(None, Some("u1"), "three", None)
        .await
        .expect("a slot frees when a run ends");
    manager.shutdown(Duration::from_millis(100)).await;
}

/// A model that answers "ok" and reports 30 input and 20 output tokens.
struct Metered;

#[async_trait]
impl LlmProvider for Metered {
    fn name(&self) -> &str {
        "metered"
    }
    fn model(&self) -> &str {
        "fifty-tokens"
    }
    async fn stream(&self, _: &ChatRequest) -> Result<EventStream, ProviderError> {
        Ok(futures::stream::iter([
            Ok(ProviderEvent::TextDelta { text: "ok".into() }),
            Ok(ProviderEvent::Usage {
                usage: Usage {
                    input_tokens: Some(30),
                    output_tokens: Some(20),
                    ..Usage::default()
                },
            }),
            Ok(ProviderEvent::Finish {
                reason: FinishReason::Stop,
                raw: "stop".into(),
            }),
        ])
        .boxed())
    }
}

/// A replica's run manager over `provider`, counting per-user limits in `redis`.
async fn replica(
    provider: Arc<dyn LlmProvider>,
    redis: &support::redis::Redis,
    runs_per_user: usize,
    daily_tokens: u64,
) -> Arc<RunManager> {
    let connection = RateLimiter::connect_redis(&redis.url).await;
    assert!(connection.is_some(), "the replica reaches Redis");
    let (manager, _) = manager(Registry::single(provider), 100).await;
    let Ok(manager) = Arc::try_unwrap(manager) else {
        panic!("the test holds the only handle")
    };
    Arc::new(manager.with_quotas(Arc::new(Quotas::new(
        connection,
        runs_per_user,
        daily_tokens,
    ))))
}

async fn finish(manager: &RunManager, run_id: &str) -> Vec<(u64, RunEvent)> {
    follow(manager.log(), run_id.to_owned(), 0).collect().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_cap_holds_across_replicas_sharing_redis() {
    let redis = support::redis::Redis::start();
    let a = replica(Arc::new(Stalling), &redis, 1, 0).await;
    let b = replica(Arc::new(Stalling), &redis, 1, 0).await;
    let first = a
        .start(None, Some("u1"), "one", None)
        .await
        .expect("first run");
    assert!(
        matches!(
            b.start(None, Some("u1"), "two", None).await,
            Err(StartError::Quota(Refusal::Runs(1)))
        ),
        "the other replica sees the running run"
    );
    b.start(None, Some("u2"), "someone else", None)
        .await
        .expect("another user is not affected");
    assert!(a.cancel(&first.run_id).await);
    finish(&a, &first.run_id).await;
    b.start(None, Some("u1"), "two", None)
        .await
        .expect("the slot is free on every replica once the run ends");
    a.shutdown(Duration::from_millis(100)).await;
    b.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_token_budget_is_shared_across_replicas_and_survives_redis_dying() {
    let mut redis = support::redis::Redis::start();
    // Each run costs 50 tokens; the budget is 100 a day.
    let a = replica(Arc::new(Metered), &redis, 3, 100).await;
    let b = replica(Arc::new(Metered), &redis, 3, 100).await;
    for manager in [&a, &b] {
        let run = manager
            .start(None, Some("ann"), "hello", None)
            .await
            .expect("within budget");
        let events = finish(manager, &run.run_id).await;
        assert!(matches!(
            events.last(),
            Some((_, RunEvent::Finished { .. }))
        ));
    }
    for manager in [&a, &b] {
        match manager.start(None, Some("ann"), "again", None).await {
            Err(StartError::Quota(Refusal::Tokens {
                used: 100,
                budget: 100,
                retry_after,
            })) => assert!((1..=86_400).contains(&retry_after)),
            other => panic!("over the shared budget: {:?}", other.map(|h| h.run_id)),
        }
    }
    let run = a
        .start(None, Some("bob"), "hello", None)
        .await
        .expect("another user has their own budget");
    finish(&a, &run.run_id).await;

    // Redis dies: each replica goes on counting its own tokens, without errors.
    redis.kill();
    let run = b
        .start(None, Some("cy"), "hello", None)
        .await
        .expect("runs start without Redis");
    let events = finish(&b, &run.run_id).await;
    assert!(matches!(
        events.last(),
        Some((_, RunEvent::Finished { .. }))
    ));
    let run = b
        .start(None, Some("cy"), "hello", None)
        .await
        .expect("50 of 100 used on this replica");
    finish(&b, &run.run_id).await;
    assert!(
        matches!(
            b.start(None, Some("cy"), "again", None).await,
            Err(StartError::Quota(Refusal::Tokens { used: 100, .. }))
        ),
        "this replica's own count still enforces the budget"
    );
}
