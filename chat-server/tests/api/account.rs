//! Browser sign-in: the cookie's attributes, CSRF on every change, tampered
//! cookies, logout revoking server-side; failed sign-ins slowed and then
//! refused, across replicas through Redis; and the audit log with its
//! security report.

use std::time::Duration;

use chat_server::{auth::accounts, domain::UserRole};
use serde_json::json;

use crate::support::{TestApp, app::PASSWORD, browser::Browser, redis::Redis, sqlite_url};

#[tokio::test]
async fn browser_sign_in_sets_a_hardened_cookie_and_csrf_guards_every_change() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    let page = app
        .http
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(
        page.status(),
        303,
        "the chat page sends strangers to sign in"
    );
    assert_eq!(page.headers()["location"], "/login");
    let login = app
        .http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("login page");
    assert_eq!(login.status(), 200);
    assert!(
        login
            .text()
            .await
            .expect("html")
            .contains("name=\"password\"")
    );

    let (status, cookie, text) = app.sign_in("alice", "not her password", None).await;
    assert_eq!((status, cookie), (401, None));
    assert!(text.contains("Wrong username or password"));
    let (status, _, _) = app
        .sign_in("alice", PASSWORD, Some("https://evil.example"))
        .await;
    assert_eq!(status, 403, "a cross-site login form is refused");

    let (status, set_cookie, _) = app.sign_in("alice", PASSWORD, None).await;
    assert_eq!(status, 303);
    let set_cookie = set_cookie.expect("a cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=43200",
        "Secure",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();
    let (status, me) = app
        .with_cookie(reqwest::Method::GET, "/api/auth/me", &cookie, None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["username"].as_str(), me["signed_in"].as_bool()),
        (Some("alice"), Some(true))
    );
    let csrf = me["csrf_token"].as_str().expect("a CSRF token").to_owned();

    let ask = json!({ "message": "How many schools are in Lamu county?" });
    let (status, body) = app
        .with_cookie(
            reqwest::Method::POST,
            "/api/chat",
            &cookie,
            None,
            Some(ask.clone()),
        )
        .await;
    assert_eq!(status, 403, "a change without the CSRF token: {body}");
    let (status, _) = app
        .with_cookie(
            reqwest::Method::POST,
            "/api/chat",
            &cookie,
            Some("wrong"),
            Some(ask.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, reply) = app
        .with_cookie(
            reqwest::Method::POST,
            "/api/chat",
            &cookie,
            Some(&csrf),
            Some(ask),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let (status, listed) = app
        .with_cookie(reqwest::Method::GET, "/api/sessions", &cookie, None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["sessions"].as_array().expect("sessions").len(), 1);

    // A tampered cookie is refused, whichever character changes.
    let (name, value) = cookie.split_once('=').expect("pair");
    for i in [0, value.len() / 2, value.len() - 1] {
        let mut bytes = value.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let tampered = format!("{name}={}", String::from_utf8(bytes).expect("ascii"));
        let (status, _) = app
            .with_cookie(reqwest::Method::GET, "/api/sessions", &tampered, None, None)
            .await;
        assert_eq!(status, 401, "tampered at {i}");
    }

    // Logout ends the sign-in on the server: the old cookie no longer works.
    let (status, _) = app
        .with_cookie(reqwest::Method::POST, "/logout", &cookie, Some(&csrf), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .with_cookie(reqwest::Method::GET, "/api/sessions", &cookie, None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_then_refused() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let (status, _, _) = app.sign_in("alice", "guess", None).await;
        assert_eq!(status, 401);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "each failure is slowed"
        );
    }
    let (status, wait) = app.right_password("alice").await;
    assert_eq!(status, 429, "locked, even with the right password");
    assert!(wait > 60, "{wait}");
    // An unknown user costs as much as a wrong password (no name probing).
    let fresh = TestApp::builder().auth_required().spawn().await;
    let started = std::time::Instant::now();
    assert_eq!(fresh.sign_in("nobody", "whatever", None).await.0, 401);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_counted_across_replicas_through_redis() {
    let redis = Redis::start();
    let database = sqlite_url("login");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let replica = TestApp::builder()
            .auth_required()
            .database(&database)
            .redis(&redis);
        replicas.push(replica.spawn().await);
    }
    replicas[0].user("alice", UserRole::User).await;
    // Five failures spread over both replicas lock the account on both.
    for i in 0..5 {
        assert_eq!(replicas[i % 2].sign_in("alice", "guess", None).await.0, 401);
    }
    for replica in &replicas {
        let (status, wait) = replica.right_password("alice").await;
        assert_eq!(status, 429, "locked on every replica");
        assert!(wait > 60, "{wait}");
    }
}

#[tokio::test]
async fn security_events_are_audited_counted_and_reported_to_admins() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("root", UserRole::Admin).await;
    app.user("alice", UserRole::User).await;
    let root = app.key("root", "sessions:read,admin").await;
    let alice = app.key("alice", "chat").await;
    for _ in 0..2 {
        assert_eq!(app.sign_in("alice", "wrong guess", None).await.0, 401);
    }
    assert_eq!(
        app.get(
            "/api/sessions",
            Some("mas_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
        )
        .await
        .0,
        401
    );
    assert_eq!(app.get("/api/sessions", Some(&alice)).await.0, 403);
    let (_, spare) = accounts::create_key(app.store.as_ref(), "alice", "chat", "spare", None)
        .await
        .expect("key");
    accounts::revoke_key(app.store.as_ref(), &spare.id)
        .await
        .expect("revoke");

    assert_eq!(
        app.get("/api/admin/security-report", Some(&alice)).await.0,
        403,
        "not for users"
    );
    let (status, report) = app.get("/api/admin/security-report", Some(&root)).await;
    assert_eq!(status, 200, "{report}");
    let kinds = &report["by_kind"];
    assert_eq!(kinds["login_failed"], 2, "{report}");
    assert_eq!(kinds["invalid_credentials"], 1, "{report}");
    assert_eq!(
        kinds["permission_denied"], 2,
        "the 403 and alice's try at the report: {report}"
    );
    assert_eq!(kinds["key_created"], 3);
    assert_eq!(kinds["key_revoked"], 1);
    assert_eq!(
        report["failures_by_username"][0],
        json!({ "value": "alice", "count": 2 })
    );
    assert_eq!(report["failures_by_address"][0]["value"], "127.0.0.1");
    assert!(report["recent"].as_array().is_some_and(|r| r.len() >= 8));
    let metrics = app.get("/metrics", None).await.1;
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("mas_security_events_total{kind=\"login_failed\"}")),
        "{metrics}"
    );
}
