//! `/v1` answers in OpenAI's envelope with the same keys and budgets as the
//! rest of the API; locally, a key that is not a MAS key is ignored (OpenAI
//! clients insist on sending one) while a MAS key is still checked.

use chat_server::domain::UserRole;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn the_openai_api_answers_limits_and_refusals_in_openais_envelope() {
    // Two runs' budget: the refused one below is charged too.
    let quota = (1, 2);
    let app = TestApp::builder()
        .auth_required()
        .set("rate_limit_chat_per_second", quota.0)
        .set("rate_limit_chat_burst", quota.1)
        .set("rate_limit_api_per_second", quota.0)
        .set("rate_limit_api_burst", quota.1)
        .spawn()
        .await;
    app.user("alice", UserRole::User).await;
    let reader = app.key("alice", "sessions:read").await;
    let body = json!({ "model": "mas-coordinator",
        "messages": [{ "role": "user", "content": "How many schools are in Lamu county?" }] });
    let (status, error, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/chat/completions",
            Some(&reader),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 403, "a key without the chat scope: {error}");
    assert_eq!(error["error"]["type"], "permission_error");
    let chat = app.key("alice", "chat").await;
    let (status, completion, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/chat/completions",
            Some(&chat),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{completion}");
    assert!(
        completion["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("schools in all")),
        "{completion}"
    );
    let (status, error, headers) = app
        .call(
            reqwest::Method::POST,
            "/v1/chat/completions",
            Some(&chat),
            Some(body),
        )
        .await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert_eq!(error["error"]["type"], "requests");
    assert!(
        headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse::<u64>()
            .expect("seconds")
            >= 1
    );
    let (status, error, _) = app
        .call(reqwest::Method::GET, "/v1/models", None, None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn locally_the_openai_api_takes_any_foreign_key_but_checks_mas_keys() {
    let app = TestApp::spawn().await;
    for (key, status) in [
        (Some("sk-local"), 200),
        (None, 200),
        (Some("mas_00000000_notavalidkeyatallnotavalidkey"), 401),
    ] {
        let (got, body) = app.get("/v1/models", key).await;
        assert_eq!(got, status, "{key:?}: {body}");
    }
}

/// The saved runs of the API session `user` keeps, newest last.
async fn runs_of(app: &TestApp, user: &str) -> Vec<chat_server::store::RunRecord> {
    use chat_server::store::ChatStore;
    let title = format!("API · {user}");
    let sessions = app
        .store
        .list_sessions(None, 50, 0)
        .await
        .expect("sessions");
    let session = sessions
        .iter()
        .find(|s| s.title == title)
        .expect("the session");
    let mut runs = Vec::new();
    for message in app.store.messages(&session.id).await.expect("messages") {
        if let Some(run_id) = message
            .run_id
            .filter(|_| message.role == chat_server::store::Role::Assistant)
        {
            runs.push(app.store.run(&run_id).await.expect("run").expect("saved"));
        }
    }
    runs
}

#[tokio::test]
async fn a_whole_completion_has_a_time_limit_and_stops_its_run_when_nobody_waits() {
    use std::time::{Duration, Instant};

    use chat_server::store::RunStatus;

    use crate::support::{FakeModel, Turn};
    let fake = FakeModel::always(Turn::Words(20, Duration::from_millis(100))).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("chat_timeout", 0.5)
        .spawn()
        .await;
    let body = |user: &str| {
        json!({ "model": "mas-coordinator", "user": user,
            "messages": [{ "role": "user", "content": "Count slowly" }] })
    };
    let started = Instant::now();
    let (status, error, headers) = app
        .call(
            reqwest::Method::POST,
            "/v1/chat/completions",
            None,
            Some(body("late")),
        )
        .await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["type"], "server_error");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert!(headers.contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        runs_of(&app, "late").await[0].status,
        RunStatus::Cancelled,
        "no one reads it"
    );

    // A client that leaves before the answer: its run stops too.
    let leaving = app
        .http
        .post(format!("{}/v1/chat/completions", app.base))
        .timeout(Duration::from_millis(200))
        .json(&body("gone"))
        .send()
        .await;
    assert!(leaving.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(runs_of(&app, "gone").await[0].status, RunStatus::Cancelled);
}

#[tokio::test]
async fn a_quiet_completion_stream_carries_keep_alive_comments() {
    use std::time::Duration;

    use crate::support::{FakeModel, Turn};
    let fake = FakeModel::always(Turn::Slow("one two", Duration::from_millis(400))).await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let body = app
        .http
        .post(format!("{}/v1/chat/completions", app.base))
        .json(&json!({ "model": "mas-coordinator", "stream": true,
            "messages": [{ "role": "user", "content": "Count slowly" }] }))
        .send()
        .await
        .expect("stream")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("\n: heartbeat\n\n") || body.starts_with(": heartbeat\n\n"),
        "{body}"
    );
    assert!(body.trim_end().ends_with("data: [DONE]"));
}
