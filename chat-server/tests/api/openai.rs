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
