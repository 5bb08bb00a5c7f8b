//! What an attacker or an operator would try: a stranger locking someone's
//! account, over-long input stored, floods of bad credentials writing audit
//! rows, an audit log and sign-ins that are never cleaned up, and accounts
//! an admin cannot disable; with the security report operators read.

use std::time::Duration;

use chat_server::{
    domain::UserRole,
    retention::Retention,
    store::{
        ChatStore, now_ms,
        users::{Login, SecurityEvent, UserStore},
    },
};
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, app::PASSWORD, browser::Browser};

/// A server behind a proxy on loopback (so `X-Forwarded-For` names the client).
async fn behind_proxy() -> TestApp {
    TestApp::builder()
        .auth_required()
        .set("trusted_proxies", "127.0.0.1")
        .spawn()
        .await
}

#[tokio::test]
async fn a_stranger_cannot_lock_an_account_from_their_own_address() {
    let app = behind_proxy().await;
    app.user("alice", UserRole::User).await;
    for _ in 0..6 {
        let (status, _) = app
            .sign_in_from("203.0.113.7", "alice", "a wrong guess")
            .await;
        assert!(status == 401 || status == 429, "{status}");
    }
    let (status, _) = app.sign_in_from("198.51.100.9", "alice", PASSWORD).await;
    assert_eq!(status, 303, "alice signs in from her own address");
    let (status, wait) = app.sign_in_from("203.0.113.7", "alice", PASSWORD).await;
    assert_eq!(
        status, 429,
        "the address that failed is refused, right password or not"
    );
    assert!(wait > 60, "{wait}");
    // Her success cleared only her own pair: the stranger is still refused.
    let (status, _) = app.sign_in_from("203.0.113.7", "alice", PASSWORD).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn an_address_failing_across_many_usernames_is_refused() {
    let app = behind_proxy().await;
    app.user("bob", UserRole::User).await;
    for i in 0..20 {
        app.sign_in_from("203.0.113.8", &format!("user{i}"), "guess")
            .await;
    }
    assert_eq!(
        app.sign_in_from("203.0.113.8", "bob", PASSWORD).await.0,
        429
    );
    assert_eq!(
        app.sign_in_from("198.51.100.10", "bob", PASSWORD).await.0,
        303
    );
}

async fn audit_rows(app: &TestApp) -> Vec<SecurityEvent> {
    app.store
        .events_since(0, 100_000)
        .await
        .expect("the audit log")
}

#[tokio::test]
async fn over_long_input_is_refused_before_anything_is_written() {
    let app = behind_proxy().await;
    let long_name = "a".repeat(400 * 1024);
    let (status, _) = app
        .sign_in_from("203.0.113.9", &long_name, "whatever")
        .await;
    assert_eq!(status, 400, "a 400 KB username");
    let (status, _) = app
        .sign_in_from("203.0.113.9", "alice", &"p".repeat(1025))
        .await;
    assert_eq!(status, 400, "a password over 1,024 characters");
    let long_key = format!("mas_{}", "k".repeat(300));
    let (status, body, _) = app
        .call(Method::GET, "/api/sessions", Some(&long_key), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too long"))
    );
    let response = app
        .http
        .get(format!("{}/api/sessions", app.base))
        .header("cookie", format!("mas_session={}", "c".repeat(2_000)))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400, "an over-long cookie");
    assert!(
        audit_rows(&app).await.is_empty(),
        "nothing was written: {:?}",
        audit_rows(&app).await
    );
    // What is audited is cut to a fixed size, whoever writes it.
    app.store
        .record_event(&SecurityEvent::now(
            "login_failed",
            None,
            Some(&"u".repeat(10_000)),
            Some(&"9".repeat(10_000)),
            &"d".repeat(10_000),
        ))
        .await
        .expect("record");
    let row = &audit_rows(&app).await[0];
    assert_eq!(row.username.as_deref().map(str::len), Some(64));
    assert_eq!(row.address.as_deref().map(str::len), Some(64));
    assert_eq!(row.detail.len(), 300);
}

#[tokio::test]
async fn a_flood_of_bad_credentials_is_counted_into_one_row_and_charged_first() {
    // Five requests a minute: a refill is 12 s away, far longer than the test.
    let app = TestApp::builder()
        .auth_required()
        .set("rate_limit_per_minute", 5)
        .spawn()
        .await;
    let bad = "mas_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(app.get("/api/sessions", Some(bad)).await.0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "the address's budget is charged before the key is checked: {statuses:?}"
    );
    assert!(statuses.iter().skip(5).all(|s| *s == 429), "{statuses:?}");
    let rows = audit_rows(&app).await;
    let invalid: Vec<&SecurityEvent> = rows
        .iter()
        .filter(|e| e.kind == "invalid_credentials")
        .collect();
    assert_eq!(invalid.len(), 1, "identical failures are one row: {rows:?}");
    assert_eq!(invalid[0].count, 5);
    assert!(invalid[0].last_at >= invalid[0].at);
    let limited: i64 = rows
        .iter()
        .filter(|e| e.kind == "rate_limited")
        .map(|e| e.count)
        .sum();
    assert_eq!(limited, 35);
    assert!(rows.len() <= 3, "a flood cannot grow the table: {rows:?}");
}

#[tokio::test]
async fn old_audit_rows_expired_sign_ins_and_old_usage_are_swept() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("alice", UserRole::User).await;
    let alice = app
        .store
        .user_by_name("alice")
        .await
        .expect("read")
        .expect("alice");
    let now = now_ms();
    let day = 86_400_000;
    let mut old = SecurityEvent::now("login_failed", None, Some("alice"), None, "old");
    (old.at, old.last_at) = (now - 100 * day, now - 100 * day);
    app.store.record_event(&old).await.expect("old event");
    app.store
        .record_event(&SecurityEvent::now(
            "login_failed",
            None,
            Some("alice"),
            None,
            "new",
        ))
        .await
        .expect("new event");
    for (token, expires_at) in [("expired", now - 1), ("live", now + day)] {
        app.store
            .create_login(&Login {
                token_hash: token.into(),
                user_id: alice.id.clone(),
                csrf_token: "x".into(),
                created_at: now - day,
                expires_at,
                revoked_at: None,
            })
            .await
            .expect("login");
    }
    app.store
        .record_usage(Some(&alice.id), now - 100 * day, true, 10)
        .await
        .expect("old usage");
    app.store
        .record_usage(Some(&alice.id), now, true, 20)
        .await
        .expect("usage");
    let retention = Retention {
        users: app.store.clone(),
        chat: app.store.clone(),
        memories: app.store.clone(),
        jobs: app.store.clone(),
        logins: Default::default(),
        quotas: Default::default(),
        limiter: None,
        days: 90,
    };
    let swept = retention.sweep(now).await;
    assert_eq!(
        (swept.events, swept.logins, swept.usage),
        (1, 1, 1),
        "{swept:?}"
    );
    let details: Vec<String> = audit_rows(&app)
        .await
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(details, ["new"]);
    assert!(
        app.store
            .login_by_hash("live")
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        app.store
            .login_by_hash("expired")
            .await
            .expect("read")
            .is_none()
    );
    let usage = app.store.usage_since(0, 10).await.expect("usage");
    assert_eq!(usage[0].tokens, 20, "{usage:?}");
    let (_, metrics) = app.get("/metrics", None).await;
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("mas_retention_removed_total{what=\"security_events\"}")),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_report_shows_keys_the_most_active_users_and_the_retention_window() {
    let app = TestApp::builder()
        .auth_required()
        .set("audit_retention_days", 30)
        .spawn()
        .await;
    app.user("root", UserRole::Admin).await;
    app.user("alice", UserRole::User).await;
    let root = app.key("root", "sessions:read,admin").await;
    let alice = app.key("alice", "chat").await;
    let spare = app.key("alice", "chat").await;
    for _ in 0..2 {
        app.conversation(&alice).await;
    }
    let revoked = app.store.keys(None).await.expect("keys");
    let spare_id = revoked
        .iter()
        .find(|k| spare.starts_with(&k.prefix))
        .expect("the spare key")
        .id
        .clone();
    app.store
        .revoke_key(&spare_id, now_ms())
        .await
        .expect("revoke");
    let (status, report) = app.get("/api/admin/security-report", Some(&root)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["retention_days"], 30);
    assert_eq!(report["keys"]["total"], 3);
    assert_eq!(report["keys"]["active"], 2);
    assert_eq!(report["keys"]["used_in_period"], 2, "root's and alice's");
    let top = &report["most_active_users"][0];
    assert_eq!(
        (top["user"].as_str(), top["runs"].as_i64()),
        (Some("alice"), Some(2)),
        "{report}"
    );
}

#[tokio::test]
async fn an_admin_disables_enables_and_resets_and_users_manage_their_own() {
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("root", UserRole::Admin).await;
    app.user("alice", UserRole::User).await;
    let root = app.key("root", "chat,sessions:read,admin").await;
    let alice_key = app.key("alice", "chat,sessions:read").await;
    let alice = app
        .store
        .user_by_name("alice")
        .await
        .expect("read")
        .expect("alice");
    let (_, cookie, _) = app.sign_in("alice", PASSWORD, None).await;
    let cookie = cookie
        .expect("a cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    assert_eq!(
        app.with_cookie(Method::GET, "/api/sessions", &cookie, None, None)
            .await
            .0,
        200
    );

    let path = format!("/api/admin/users/{}", alice.id);
    let (status, body, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&root),
            Some(json!({ "disabled": true })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.get("/api/sessions", Some(&alice_key)).await.0,
        401,
        "her key stops at once"
    );
    assert_eq!(
        app.with_cookie(Method::GET, "/api/sessions", &cookie, None, None)
            .await
            .0,
        401,
        "and her sign-in"
    );
    assert_eq!(
        app.right_password("alice").await.0,
        401,
        "and she cannot sign in"
    );
    app.call(
        Method::PATCH,
        &path,
        Some(&root),
        Some(json!({ "disabled": false })),
    )
    .await;
    assert_eq!(
        app.get("/api/sessions", Some(&alice_key)).await.0,
        200,
        "enabled again"
    );
    let (status, _, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&alice_key),
            Some(json!({ "disabled": true })),
        )
        .await;
    assert_eq!(status, 403, "users cannot");

    let (status, _, _) = app
        .call(
            Method::POST,
            &format!("{path}/password"),
            Some(&root),
            Some(json!({ "password": "a brand new password" })),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.right_password("alice").await.0,
        401,
        "the old password is gone"
    );
    assert_eq!(
        app.sign_in("alice", "a brand new password", None).await.0,
        303
    );

    // Alice changes her own password and makes a key no wider than her own.
    let (status, _, _) = app
        .call(
            Method::POST,
            "/api/account/password",
            Some(&alice_key),
            Some(json!({ "current": "not it", "new": "another long password" })),
        )
        .await;
    assert_eq!(status, 403, "the current password must be right");
    let (status, _, _) = app
        .call(
            Method::POST,
            "/api/account/password",
            Some(&alice_key),
            Some(json!({ "current": "a brand new password", "new": "another long password" })),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.sign_in("alice", "another long password", None).await.0,
        303
    );
    let (status, body, _) = app
        .call(
            Method::POST,
            "/api/account/keys",
            Some(&alice_key),
            Some(json!({ "scopes": "admin" })),
        )
        .await;
    assert_eq!(status, 403, "no admin key for a user: {body}");
    let (status, body, _) = app
        .call(
            Method::POST,
            "/api/account/keys",
            Some(&alice_key),
            Some(json!({ "scopes": "mcp" })),
        )
        .await;
    assert_eq!(status, 403, "nor a scope her key does not have: {body}");
    let (status, made, _) = app
        .call(
            Method::POST,
            "/api/account/keys",
            Some(&alice_key),
            Some(json!({ "scopes": "sessions:read", "name": "laptop" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let new_key = made["key"].as_str().expect("the key, once").to_owned();
    assert_eq!(app.get("/api/sessions", Some(&new_key)).await.0, 200);
    let (_, listed) = app.get("/api/account/keys", Some(&alice_key)).await;
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(2));
    assert!(!listed.to_string().contains(&new_key));
    let id = made["record"]["id"].as_str().expect("id");
    let roots: Vec<String> = app
        .store
        .keys(None)
        .await
        .expect("keys")
        .into_iter()
        .filter(|k| k.user_id != alice.id)
        .map(|k| k.id)
        .collect();
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/account/keys/{}", roots[0]),
            Some(&alice_key),
            None,
        )
        .await;
    assert_eq!(status, 404, "another user's key is not hers to revoke");
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/account/keys/{id}"),
            Some(&alice_key),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get("/api/sessions", Some(&new_key)).await.0, 401);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let kinds: Vec<String> = audit_rows(&app).await.into_iter().map(|e| e.kind).collect();
    for kind in [
        "user_disabled",
        "user_enabled",
        "password_set",
        "key_created",
        "key_revoked",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}
