//! The admin endpoints: users and API keys over HTTP, for admins only; a
//! key made there works, is never listed, and is refused at once once revoked.

use chat_server::domain::UserRole;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn admins_manage_users_and_keys_over_http_and_users_cannot() {
    use reqwest::Method;
    let app = TestApp::builder().auth_required().spawn().await;
    app.user("root", UserRole::Admin).await;
    app.user("alice", UserRole::User).await;
    let root = app.key("root", "chat,sessions:read,admin").await;
    let alice = app.key("alice", "chat,sessions:read").await;

    for (method, path, body) in [
        (Method::GET, "/api/admin/users", None),
        (Method::GET, "/api/admin/keys", None),
        (
            Method::POST,
            "/api/admin/keys",
            Some(json!({ "username": "alice", "scopes": "chat" })),
        ),
    ] {
        let (status, _, _) = app.call(method, path, Some(&alice), body).await;
        assert_eq!(status, 403, "{path} is for admins");
    }

    let (status, created, _) = app
        .call(
            Method::POST,
            "/api/admin/users",
            Some(&root),
            Some(json!({ "username": "bob", "password": "bob's long password", "role": "user" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["user"].get("password_hash").is_none(),
        "never the hash"
    );
    let (status, refused, _) = app
        .call(
            Method::POST,
            "/api/admin/users",
            Some(&root),
            Some(json!({ "username": "bob", "password": "another long password" })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        refused["error"]["message"]
            .as_str()
            .expect("message")
            .contains("exists")
    );

    let (status, made, _) = app
        .call(
            Method::POST,
            "/api/admin/keys",
            Some(&root),
            Some(json!({ "username": "bob", "scopes": "sessions:read", "expires_in_days": 7 })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let bobs = made["key"].as_str().expect("the key, once").to_owned();
    assert_eq!(app.get("/api/sessions", Some(&bobs)).await.0, 200);
    let (_, listed) = app.get("/api/admin/keys?user=bob", Some(&root)).await;
    let text = listed.to_string();
    assert!(!text.contains(&bobs), "listings never show a key");
    assert_eq!(listed["keys"].as_array().expect("keys").len(), 1);
    let id = made["record"]["id"].as_str().expect("id");
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/admin/keys/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.get("/api/sessions", Some(&bobs)).await.0,
        401,
        "revoked at once"
    );
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/admin/keys/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, bad, _) = app
        .call(
            Method::POST,
            "/api/admin/keys",
            Some(&root),
            Some(json!({ "username": "bob", "scopes": "everything" })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .expect("message")
            .contains("not a scope")
    );
}
