//! API keys and isolation: no key, a bad key, a revoked or expired key,
//! scopes, and another user's sessions, runs and streams on every route (404,
//! not 403, so ids do not leak); the local mode without required auth.

use chat_server::{
    auth::{accounts, keys},
    domain::{Scope, UserRole},
    store::{
        now_ms,
        users::{NewKey, UserStore},
    },
};
use serde_json::{Value, json};

use crate::support::TestApp;

#[tokio::test]
async fn without_a_valid_key_the_api_answers_401_and_pages_still_load() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    let (status, body, headers) = app
        .call(reqwest::Method::GET, "/api/sessions", None, None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .expect("header")
            .starts_with("Bearer")
    );
    for bad in [
        "mas_nope",
        "sk-1234567890",
        &format!("{}x", app.key("alice", "chat").await),
        "mas_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    ] {
        assert_eq!(app.get("/api/sessions", Some(bad)).await.0, 401, "{bad}");
    }
    let (status, _, _) = app
        .call(
            reqwest::Method::POST,
            "/chat/stream",
            None,
            Some(json!({ "message": "hi" })),
        )
        .await;
    assert_eq!(status, 401);
    for open in ["/login", "/health", "/static/app.css"] {
        assert_eq!(app.get(open, None).await.0, 200, "{open}");
    }
    // Behind TLS (secure cookies), every response also carries HSTS.
    let (_, _, headers) = app.call(reqwest::Method::GET, "/health", None, None).await;
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    assert!(!headers.contains_key("server"), "no server banner");
    assert_eq!(
        app.get("/", None).await.0,
        303,
        "the chat page sends strangers to sign in"
    );
}

#[tokio::test]
async fn a_key_works_until_it_is_revoked_or_expires_and_its_use_is_counted() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    let key = app.key("alice", "chat,sessions:read").await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/sessions", Some(&key)).await.0, 200);
    }
    let stored = app.store.keys(None).await.expect("keys");
    assert_eq!(stored[0].usage_count, 3);
    assert!(stored[0].last_used_at.is_some());
    assert!(
        key.starts_with(&stored[0].prefix),
        "the prefix recognises the key"
    );
    accounts::revoke_key(app.store.as_ref(), &stored[0].id)
        .await
        .expect("revoke");
    let (status, body) = app.get("/api/sessions", Some(&key)).await;
    assert_eq!(status, 401, "refused at once after revocation");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("revoked")
    );

    let user = app
        .store
        .user_by_name("alice")
        .await
        .expect("read")
        .expect("alice");
    let (expired, prefix) = keys::generate();
    app.store
        .create_key(&NewKey {
            user_id: &user.id,
            name: "old",
            prefix: &prefix,
            key_hash: &keys::hash(&expired),
            scopes: &[Scope::Chat, Scope::SessionsRead],
            expires_at: Some(now_ms() - 1),
        })
        .await
        .expect("key");
    assert_eq!(app.get("/api/sessions", Some(&expired)).await.0, 401);
}

#[tokio::test]
async fn scopes_limit_what_a_key_may_do() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    let reader = app.key("alice", "sessions:read").await;
    let chatter = app.key("alice", "chat").await;
    assert_eq!(app.get("/api/sessions", Some(&reader)).await.0, 200);
    let (status, body, _) = app
        .call(
            reqwest::Method::POST,
            "/api/chat",
            Some(&reader),
            Some(json!({ "message": "hi" })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(app.get("/api/sessions", Some(&chatter)).await.0, 403);
    assert!(
        accounts::create_key(app.store.as_ref(), "alice", "admin", "x", None)
            .await
            .is_err(),
        "a user who is not an admin gets no admin key"
    );
}

#[tokio::test]
async fn another_users_sessions_runs_and_streams_are_404_on_every_route() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    app.user("bob", UserRole::User).await;
    app.user("root", UserRole::Admin).await;
    let alice = app.key("alice", "chat,sessions:read").await;
    let bob = app.key("bob", "chat,sessions:read").await;
    let root = app.key("root", "chat,sessions:read,admin").await;
    let (session, run) = app.conversation(&alice).await;
    let (bobs_session, _) = app.conversation(&bob).await;

    use reqwest::Method;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/sessions/{session}"), None),
        (
            Method::PATCH,
            format!("/api/sessions/{session}"),
            Some(json!({ "title": "mine now" })),
        ),
        (
            Method::POST,
            "/chat/stream".into(),
            Some(json!({ "message": "more", "session_id": session })),
        ),
        (
            Method::POST,
            "/api/chat".into(),
            Some(json!({ "message": "more", "session_id": session })),
        ),
        (Method::GET, format!("/api/runs/{run}/stream"), None),
        (Method::POST, format!("/api/runs/{run}/cancel"), None),
        (Method::DELETE, format!("/api/sessions/{session}"), None),
    ];
    for (method, path, body) in &routes {
        let (status, reply, _) = app
            .call(method.clone(), path, Some(&bob), body.clone())
            .await;
        assert_eq!(status, 404, "{method} {path}: {reply}");
        let unknown = path
            .replace(&session, "no-such-id")
            .replace(&run, "no-such-id");
        let (status, _, _) = app
            .call(method.clone(), &unknown, Some(&bob), body.clone())
            .await;
        assert_eq!(
            status, 404,
            "an unknown id looks the same: {method} {unknown}"
        );
    }
    let listed = app.get("/api/sessions", Some(&bob)).await.1;
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, vec![bobs_session.as_str()], "bob lists only his own");

    // Alice's conversation is untouched, and she still has it all.
    let (status, mine) = app
        .get(&format!("/api/sessions/{session}"), Some(&alice))
        .await;
    assert_eq!(status, 200);
    assert_ne!(mine["session"]["title"], "mine now");
    assert_eq!(mine["messages"].as_array().expect("messages").len(), 2);

    // An admin's key with the admin scope sees everyone's.
    assert_eq!(
        app.get(&format!("/api/sessions/{session}"), Some(&root))
            .await
            .0,
        200
    );
    let all = app.get("/api/sessions", Some(&root)).await.1;
    assert_eq!(all["sessions"].as_array().expect("sessions").len(), 2);
}

#[tokio::test]
async fn without_required_auth_the_local_user_needs_no_key_but_a_bad_key_is_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/api/sessions", None).await.0, 200);
    assert_eq!(
        app.get(
            "/api/sessions",
            Some("mas_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
        )
        .await
        .0,
        401
    );
}
