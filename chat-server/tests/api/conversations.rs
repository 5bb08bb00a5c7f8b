//! One's own conversations: full-text search (both engines, never another
//! user's), pins, export as Markdown and JSON, and tokens with their
//! estimated cost.

use chat_server::domain::UserRole;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakeModel, TestApp, Turn, postgres_url};

/// `GET /api/sessions?q=` as `key`: (session ids, the whole answer).
async fn search(app: &TestApp, key: &str, q: &str) -> (Vec<String>, Value) {
    let (status, body) = app
        .get(&format!("/api/sessions?q={}", urlencoding(q)), Some(key))
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    (ids, body)
}

fn urlencoding(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn ask(app: &TestApp, key: &str, message: &str, session: Option<&str>) -> String {
    let mut body = json!({ "message": message });
    if let Some(session) = session {
        body["session_id"] = json!(session);
    }
    let (status, reply) = app.chat(body, Some(key)).await;
    assert_eq!(status, 200, "{reply}");
    reply["session_id"].as_str().expect("session").to_owned()
}

async fn search_finds_words_of_old_answers_and_never_another_users(database: Option<String>) {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let answer: &'static str = Box::leak(
        format!("Mpeketoni{suffix} Primary has the most pupils in Lamu.").into_boxed_str(),
    );
    let fake = FakeModel::always(Turn::Text(answer)).await;
    let mut builder = TestApp::builder().auth_required().model(&fake);
    if let Some(url) = &database {
        builder = builder.database(url);
    }
    let app = builder.spawn().await;
    let (alice, bob) = (format!("alice{suffix}"), format!("bob{suffix}"));
    app.user(&alice, UserRole::User).await;
    app.user(&bob, UserRole::User).await;
    let a = app.key(&alice, "chat,sessions:read").await;
    let b = app.key(&bob, "chat,sessions:read").await;

    let old = ask(
        &app,
        &a,
        &format!("Which Lamu school{suffix} is biggest?"),
        None,
    )
    .await;
    for i in 0..3 {
        ask(&app, &a, &format!("And number {i}?"), Some(&old)).await;
    }
    let other = ask(&app, &a, "Something about Kisumu", None).await;
    let theirs = ask(
        &app,
        &b,
        &format!("Which Lamu school{suffix} is biggest?"),
        None,
    )
    .await;

    // A word only the answers hold, matched as a prefix.
    let word = format!("mpeketoni{}", &suffix[..3]);
    let (found, body) = search(&app, &a, &word).await;
    assert_eq!(found.len(), 2, "both of alice's conversations: {body}");
    assert!(found.contains(&old) && found.contains(&other), "{body}");
    assert!(
        !found.contains(&theirs),
        "bob's conversation in alice's search: {body}"
    );
    let hits = body["sessions"][0]["hits"].as_array().expect("hits");
    assert!(hits.len() <= 3 && !hits.is_empty(), "{body}");
    assert_eq!(hits[0]["role"], "assistant");
    let marked: Vec<&str> = hits[0]["snippet"]
        .as_array()
        .expect("snippet")
        .iter()
        .filter(|s| s["hit"] == true)
        .map(|s| s["text"].as_str().expect("text"))
        .collect();
    assert_eq!(marked, [format!("Mpeketoni{suffix}")], "{body}");

    // Every word must match; a question's words are found too.
    let (found, _) = search(&app, &a, &format!("school{suffix} lamu")).await;
    assert_eq!(found, std::slice::from_ref(&old));
    let (found, _) = search(&app, &a, &format!("school{suffix} kisumu")).await;
    assert!(found.is_empty());
    let (found, _) = search(&app, &b, &word).await;
    assert_eq!(found, std::slice::from_ref(&theirs), "bob sees only his");

    // Only common words: nothing to search by. Too long: refused.
    let (found, _) = search(&app, &a, "the and of").await;
    assert!(found.is_empty());
    let (status, body) = app
        .get(&format!("/api/sessions?q={}", "x".repeat(201)), Some(&a))
        .await;
    assert_eq!(status, 400, "{body}");

    // A deleted conversation is found no more.
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{old}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (found, _) = search(&app, &a, &word).await;
    assert_eq!(found, [other]);
}

#[tokio::test]
async fn search_finds_words_of_old_answers_and_never_another_users_on_sqlite() {
    search_finds_words_of_old_answers_and_never_another_users(None).await;
}

#[tokio::test]
async fn search_finds_words_of_old_answers_and_never_another_users_on_postgres() {
    search_finds_words_of_old_answers_and_never_another_users(Some(postgres_url())).await;
}

#[tokio::test]
async fn a_pinned_conversation_comes_first_and_bad_changes_are_refused() {
    let app = TestApp::builder().auth_required().spawn().await;
    let name = format!("pin{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    app.user(&name, UserRole::User).await;
    let key = app.key(&name, "chat,sessions:read").await;
    let first = ask(&app, &key, "How many schools are in Lamu county?", None).await;
    let second = ask(&app, &key, "How many schools are in Kwale county?", None).await;
    let order = |body: &Value| -> Vec<String> {
        body["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (_, body) = app.get("/api/sessions", Some(&key)).await;
    assert_eq!(order(&body), [second.clone(), first.clone()]);
    let path = format!("/api/sessions/{first}");
    let (status, body, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({ "pinned": true })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session"]["pinned"], true);
    let (_, body) = app.get("/api/sessions", Some(&key)).await;
    assert_eq!(
        order(&body),
        [first.clone(), second.clone()],
        "pinned first"
    );
    for bad in [
        json!({}),
        json!({ "pinned": "yes" }),
        json!({ "title": "" }),
        json!({ "colour": 1 }),
    ] {
        let (status, body, _) = app
            .call(Method::PATCH, &path, Some(&key), Some(bad.clone()))
            .await;
        assert!((400..500).contains(&status), "{bad} -> {status} {body}");
    }
    let (_, body) = app.get(&path, Some(&key)).await;
    assert_eq!(body["session"]["pinned"], true, "nothing changed");
}

#[tokio::test]
async fn a_conversation_exports_as_markdown_and_json_with_its_tool_calls() {
    let app = TestApp::builder().auth_required().spawn().await;
    let name = format!("exp{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    app.user(&name, UserRole::User).await;
    let key = app.key(&name, "chat,sessions:read").await;
    let id = ask(&app, &key, "How many schools are in Lamu county?", None).await;
    let (_, session) = app.get(&format!("/api/sessions/{id}"), Some(&key)).await;
    let answer = session["messages"][1]["content"]
        .as_str()
        .expect("answer")
        .to_owned();
    let tool = session["messages"][1]["tool_calls"][0]["name"]
        .as_str()
        .expect("the planner called a tool")
        .to_owned();

    let response = app
        .http
        .get(format!(
            "{}/api/sessions/{id}/export?format=markdown",
            app.base
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("header")
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".md\""),
        "{disposition}"
    );
    let markdown = response.text().await.expect("body");
    assert!(markdown.starts_with("# "), "{markdown}");
    assert!(markdown.contains("## You · "), "{markdown}");
    assert!(
        markdown.contains("How many schools are in Lamu county?"),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("<summary>Tool call: {tool}</summary>")),
        "{markdown}"
    );
    assert!(
        markdown.contains(answer.trim_end()),
        "the whole answer: {markdown}"
    );

    let (status, json, _) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/export?format=json"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(json["session"]["id"], id.as_str());
    assert_eq!(
        json["messages"][0]["content"],
        "How many schools are in Lamu county?"
    );
    assert_eq!(json["messages"][1]["content"], answer.as_str());
    assert_eq!(json["messages"][1]["tool_calls"][0]["name"], tool.as_str());
    assert_eq!(json["usage"]["runs"], 1);

    let (status, body) = app
        .get(&format!("/api/sessions/{id}/export?format=pdf"), Some(&key))
        .await;
    assert_eq!(status, 400, "{body}");
    let other = format!("oth{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    app.user(&other, UserRole::User).await;
    let theirs = app.key(&other, "chat,sessions:read").await;
    let (status, _) = app
        .get(&format!("/api/sessions/{id}/export"), Some(&theirs))
        .await;
    assert_eq!(
        status, 404,
        "another user's conversation is not theirs to export"
    );
}

#[tokio::test]
async fn a_conversations_tokens_and_cost_are_its_runs_reported_figures() {
    let fake = FakeModel::always(Turn::Metered("Lamu has schools.", 1_200, 300)).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("openai_model", "test-model")
        .set(
            "price_table",
            r#"{"openai/test-model": {"input": 2.0, "output": 10.0}}"#,
        )
        .spawn()
        .await;
    let (status, reply) = app
        .chat(json!({ "message": "How many schools are in Lamu?" }), None)
        .await;
    assert_eq!(status, 200, "{reply}");
    let id = reply["session_id"].as_str().expect("session").to_owned();
    let (status, reply) = app
        .chat(
            json!({ "message": "And in Kwale?", "session_id": id }),
            None,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let session = app.session(&id).await;
    let usage = &session["usage"];
    assert_eq!(usage["runs"], 2, "{usage}");
    assert_eq!(usage["input_tokens"], 2_400, "{usage}");
    assert_eq!(usage["output_tokens"], 600, "{usage}");
    let cost = usage["cost_usd"].as_f64().expect("a cost");
    assert!(
        (cost - (2_400.0 * 2.0 + 600.0 * 10.0) / 1e6).abs() < 1e-12,
        "{usage}"
    );
    assert_eq!(usage["by_model"][0]["model"], "test-model");
}

#[test]
fn a_price_table_that_is_not_one_stops_the_server_from_starting() {
    use chat_server::settings::{Settings, sources};
    use figment::providers::Serialized;
    for bad in [
        "not json",
        r#"{"gpt-4o": {"input": 1, "output": 1}}"#,
        r#"{"openai/gpt-4o": {"input": -1, "output": 1}}"#,
        r#"{"openai/gpt-4o": {"input": 1}}"#,
    ] {
        let figment =
            sources::figment(None, false, &[]).merge(Serialized::default("price_table", bad));
        let error = Settings::from_figment(&figment).expect_err(bad);
        assert!(error.to_string().contains("PRICE_TABLE"), "{bad}: {error}");
    }
}
