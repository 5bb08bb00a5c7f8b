//! API keys and isolation on a real socket: no key, a bad key, a revoked or
//! expired key, scopes, and another user's sessions, runs and streams on
//! every route (404, not 403, so ids do not leak); the `user` and `key`
//! commands of the binary; production refusing to start without an admin.

#[path = "../support/mod.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use chat_server::{
    admin,
    auth::{Auth, Scope, UserRole, cookie::CookieKey, keys},
    http::{self, AppState},
    quota::Quotas,
    ratelimit::{Quota, RateLimiter},
    runs::{MemoryRunLog, RunManager},
    store::{
        now_ms,
        sql::SqlStore,
        users::{NewKey, UserStore},
    },
};
use serde_json::{Value, json};

struct App {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
}

async fn app(required: bool) -> App {
    app_with(
        required,
        CookieKey::new(b"a test secret key that is long enough", true),
    )
    .await
}

async fn app_with(required: bool, cookies: CookieKey) -> App {
    app_on(required, cookies, None, None, Arc::default()).await
}

/// A chat server on `store` (a new SQLite file when `None`), with `limiter`
/// and the per-user limits in `quotas`.
async fn app_on(
    required: bool,
    cookies: CookieKey,
    store: Option<Arc<SqlStore>>,
    limiter: Option<Arc<RateLimiter>>,
    quotas: Arc<Quotas>,
) -> App {
    let store = match store {
        Some(store) => store,
        None => {
            let dir = std::env::temp_dir().join(format!("mas-auth-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("dir");
            Arc::new(
                SqlStore::connect(&format!("sqlite://{}", dir.join("chat.db").display()), 4)
                    .await
                    .expect("store"),
            )
        }
    };
    let runner = support::offline_runner().await;
    let manager = Arc::new(RunManager::new(
        store.clone(),
        runner,
        Arc::new(MemoryRunLog::new(Duration::from_secs(60))),
        8,
    ));
    let router = http::router(AppState {
        manager,
        auth: Auth::with_cookies(store.clone(), required, cookies).with_quotas(quotas),
        limiter,
        store: store.clone(),
        heartbeat: Duration::from_secs(15),
        hardening: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        store,
    }
}

impl App {
    async fn user(&self, name: &str, role: UserRole) {
        admin::add_user(self.store.as_ref(), name, role, "a long enough password")
            .await
            .expect("user");
    }

    async fn key(&self, user: &str, scopes: &str) -> String {
        admin::create_key(self.store.as_ref(), user, scopes, "test", None)
            .await
            .expect("key")
            .0
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        // SSE bodies are not JSON; the status is what these tests check there.
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let (status, body, _) = self.call(reqwest::Method::GET, path, key, None).await;
        (status, body)
    }

    /// A finished conversation of `key`'s user: (session id, run id).
    async fn conversation(&self, key: &str) -> (String, String) {
        let (status, reply, _) = self
            .call(
                reqwest::Method::POST,
                "/api/chat",
                Some(key),
                Some(json!({ "message": "How many schools are in Lamu county?" })),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
        (
            reply["session_id"].as_str().expect("session").to_owned(),
            reply["run_id"].as_str().expect("run").to_owned(),
        )
    }
}

#[tokio::test]
async fn without_a_valid_key_the_api_answers_401_and_pages_still_load() {
    let app = app(true).await;
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
    let app = app(true).await;
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
    admin::revoke_key(app.store.as_ref(), &stored[0].id)
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
    let app = app(true).await;
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
        admin::create_key(app.store.as_ref(), "alice", "admin", "x", None)
            .await
            .is_err(),
        "a user who is not an admin gets no admin key"
    );
}

#[tokio::test]
async fn another_users_sessions_runs_and_streams_are_404_on_every_route() {
    let app = app(true).await;
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
    let app = app(false).await;
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

/// Runs the built binary with `args`, `stdin` and a chat database; (status, stdout, stderr).
fn binary(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the chat-server binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_creates_the_first_admin_and_keys_and_production_needs_them() {
    let dir = std::env::temp_dir().join(format!("mas-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = format!("sqlite://{}", dir.join("chat.db").display());
    let env = [("DATABASE_URL", db.as_str()), ("LOG_LEVEL", "warn")];

    let (ok, _, stderr) = binary(
        &["serve", "--port", "0"],
        "",
        &[("DATABASE_URL", db.as_str()), ("ENVIRONMENT", "production")],
    );
    assert!(!ok);
    assert!(
        stderr.contains("no admin exists") && stderr.contains("chat-server user add"),
        "{stderr}"
    );

    let (ok, _, stderr) = binary(&["user", "add", "root", "--role", "admin"], "short\n", &env);
    assert!(!ok && stderr.contains("at least 12"), "{stderr}");
    let (ok, out, stderr) = binary(
        &["user", "add", "root", "--role", "admin"],
        "a long enough password\n",
        &env,
    );
    assert!(ok, "{stderr}");
    assert!(out.contains("created admin root"), "{out}");
    let (ok, _, stderr) = binary(&["user", "add", "root"], "another long password\n", &env);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");

    let (ok, key, stderr) = binary(
        &[
            "key",
            "create",
            "root",
            "--scopes",
            "chat,admin",
            "--expires-in-days",
            "30",
        ],
        "",
        &env,
    );
    assert!(ok, "{stderr}");
    let key = key.trim().to_owned();
    assert!(keys::looks_like_key(&key), "{key}");
    assert!(stderr.contains("not shown again"));
    let (ok, listed, _) = binary(&["key", "list"], "", &env);
    assert!(ok);
    assert!(
        !listed.contains(&key),
        "the key itself is never shown again"
    );
    let record: Value = serde_json::from_str(listed.lines().next().expect("a key")).expect("json");
    assert_eq!(record["scopes"], json!(["chat", "admin"]));
    assert!(record["expires_at"].is_i64());
    assert!(key.starts_with(record["prefix"].as_str().expect("prefix")));
    let id = record["id"].as_str().expect("id");
    assert!(binary(&["key", "revoke", id], "", &env).0);
    assert!(
        !binary(&["key", "revoke", id], "", &env).0,
        "revoking twice is an error"
    );
    let stored = SqlStore::connect(&db, 1).await.expect("db");
    let user = stored
        .user_by_name("root")
        .await
        .expect("read")
        .expect("root");
    assert!(
        user.password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );
}

impl App {
    /// Signs in through the login form; (status, Set-Cookie, page text).
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        origin: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let mut request = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[("username", username), ("password", password)]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.expect("login");
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().expect("ascii").to_owned());
        (status, cookie, response.text().await.expect("page"))
    }

    /// Signs `user` in with the right password: the status and `Retry-After` (0 if none).
    async fn right_password(&self, user: &str) -> (u16, u64) {
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[("username", user), ("password", "a long enough password")])
            .send()
            .await
            .expect("login");
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        (response.status().as_u16(), wait)
    }

    async fn with_cookie(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn browser_sign_in_sets_a_hardened_cookie_and_csrf_guards_every_change() {
    let app = app(true).await;
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
        .sign_in(
            "alice",
            "a long enough password",
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(status, 403, "a cross-site login form is refused");

    let (status, set_cookie, _) = app.sign_in("alice", "a long enough password", None).await;
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
    let app = app(true).await;
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
    let fresh = self::app(true).await;
    let started = std::time::Instant::now();
    assert_eq!(fresh.sign_in("nobody", "whatever", None).await.0, 401);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_counted_across_replicas_through_redis() {
    let redis = support::redis::Redis::start();
    let dir = std::env::temp_dir().join(format!("mas-login-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Arc::new(
        SqlStore::connect(&format!("sqlite://{}", dir.join("chat.db").display()), 4)
            .await
            .expect("store"),
    );
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let connection = RateLimiter::connect_redis(&redis.url).await;
        assert!(connection.is_some(), "both replicas reach Redis");
        let cookies = CookieKey::new(b"a test secret key that is long enough", false);
        let quotas = Arc::new(Quotas::new(connection, 3, 0));
        replicas.push(app_on(true, cookies, Some(store.clone()), None, quotas).await);
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
    let app = app(true).await;
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
    let (_, spare) = admin::create_key(app.store.as_ref(), "alice", "chat", "spare", None)
        .await
        .expect("key");
    admin::revoke_key(app.store.as_ref(), &spare.id)
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

/// Sends `n` requests with `key`, alternating between `bases`, 50 at a time;
/// returns the statuses and the 429s' headers.
async fn hammer(
    http: &reqwest::Client,
    bases: &[String],
    key: &str,
    n: usize,
) -> (Vec<u16>, Vec<reqwest::header::HeaderMap>) {
    let mut statuses = Vec::new();
    let mut limited = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let requests = chunk.iter().map(|i| {
            http.get(format!("{}/api/sessions", bases[i % bases.len()]))
                .bearer_auth(key)
                .send()
        });
        for response in futures::future::join_all(requests).await {
            let response = response.expect("request");
            statuses.push(response.status().as_u16());
            if response.status() == 429 {
                limited.push(response.headers().clone());
            }
        }
    }
    (statuses, limited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_budget_through_redis_and_fall_back_when_it_dies() {
    let mut redis = support::redis::Redis::start();
    let dir = std::env::temp_dir().join(format!("mas-rl-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Arc::new(
        SqlStore::connect(&format!("sqlite://{}", dir.join("chat.db").display()), 4)
            .await
            .expect("store"),
    );
    let quota = Quota {
        per_second: 10,
        burst: 20,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let connection = RateLimiter::connect_redis(&redis.url).await;
        assert!(connection.is_some(), "both replicas reach Redis");
        let limiter = RateLimiter::new(quota, quota, connection).expect("limiter");
        let cookies = CookieKey::new(b"a test secret key that is long enough", false);
        replicas.push(
            app_on(
                true,
                cookies,
                Some(store.clone()),
                Some(limiter),
                Arc::default(),
            )
            .await,
        );
    }
    replicas[0].user("alice", UserRole::User).await;
    let key = replicas[0].key("alice", "sessions:read").await;
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();

    let started = std::time::Instant::now();
    let (statuses, limited) = hammer(&replicas[0].http, &bases, &key, 1_000).await;
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let budget = 20.0 + 10.0 * elapsed;
    assert!(
        admitted >= 20 && admitted as f64 <= budget + 1.0,
        "{admitted} admitted in {elapsed:.2} s over two replicas; the shared budget allows {budget:.0}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let first = &limited[0];
    assert!(
        first["retry-after"]
            .to_str()
            .expect("ascii")
            .parse::<u64>()
            .expect("seconds")
            >= 1
    );
    assert_eq!(first["ratelimit-limit"], "20");
    assert_eq!(first["ratelimit-remaining"], "0");

    let ready = replicas[0].get("/ready", None).await.1;
    assert_eq!(ready["redis"], "up", "{ready}");
    // Redis dies: each replica goes on with its own buckets, without errors.
    redis.kill();
    let (status, ready) = replicas[0].get("/ready", None).await;
    assert_eq!(
        (status, ready["redis"].as_str()),
        (200, Some("down")),
        "reported, still ready: {ready}"
    );
    let (statuses, _) = hammer(&replicas[0].http, &bases, &key, 200).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "no errors: {statuses:?}"
    );
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        admitted >= 20,
        "the in-process limits admit again ({admitted})"
    );
}

#[tokio::test]
async fn admins_manage_users_and_keys_over_http_and_users_cannot() {
    use reqwest::Method;
    let app = app(true).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_on_the_chat_server_takes_api_keys_with_the_mcp_scope() {
    use chat_server::app::{Application, ServeOptions};
    use rmcp::{
        ServiceExt,
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    let dir = std::env::temp_dir().join(format!("mas-mcp-auth-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let database_url = format!("sqlite://{}", dir.join("chat.db").display());
    let store = SqlStore::connect(&database_url, 2).await.expect("store");
    for (name, role) in [("root", UserRole::Admin), ("alice", UserRole::User)] {
        admin::add_user(&store, name, role, "a long enough password")
            .await
            .expect("user");
    }
    let (mcp_key, mcp_key_id) = admin::create_key(&store, "alice", "mcp", "ide", None)
        .await
        .expect("key");
    let (chat_key, _) = admin::create_key(&store, "alice", "chat", "app", None)
        .await
        .expect("key");
    let app = Application::build(ServeOptions {
        host: "127.0.0.1".into(),
        port: 0,
        database_url,
        max_concurrent_runs: 8,
        providers: Default::default(),
        tools: Default::default(),
        agents: chat_server::agent::AgentSet::builtin(),
        mcp: mcp_server::settings::Settings::from_figment(
            mcp_server::settings::Settings::defaults(),
        )
        .expect("settings"),
        auth_required: true,
        secret_key: Some("a test secret key that is long enough".into()),
        cookie_secure: false,
        rate_limits: None,
        redis_url: None,
        runs_per_user: 3,
        daily_token_budget: 0,
    })
    .await
    .expect("the chat server builds");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move { app.serve(stop, Duration::from_secs(1)).await });

    let http = reqwest::Client::new();
    let initialize = |key: Option<&str>| {
        let mut request = http
            .post(format!("{base}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": { "name": "test", "version": "1" } } }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let metadata = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let response = initialize(None).await.expect("post");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer resource_metadata=\"{metadata}\"").as_str()
    );
    let response = initialize(Some(&chat_key)).await.expect("post");
    assert_eq!(response.status(), 403, "a chat-only key");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp\""),
        "{challenge}"
    );
    let resource: Value = http
        .get(&metadata)
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(resource["resource"], format!("{base}/mcp"));

    let connect = |key: String| {
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
            .custom_headers(std::collections::HashMap::from([(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {key}").parse().expect("value"),
            )]));
        ().serve(StreamableHttpClientTransport::from_config(config))
    };
    let client = connect(mcp_key.clone()).await.expect("an mcp key connects");
    let tools = client.list_all_tools().await.expect("tools");
    assert!(
        tools.iter().any(|t| t.name == "search_schools"),
        "{tools:?}"
    );
    client.cancel().await.expect("close");
    admin::revoke_key(&store, &mcp_key_id.id)
        .await
        .expect("revoke");
    assert!(
        connect(mcp_key).await.is_err(),
        "a revoked key is refused at once"
    );
    let report = store
        .events_since(now_ms() - 60_000, 100)
        .await
        .expect("events");
    assert!(
        report
            .iter()
            .any(|e| e.kind == "permission_denied" && e.detail.contains("/mcp")),
        "the scope refusal is audited"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_openai_api_answers_limits_and_refusals_in_openais_envelope() {
    // Two runs' budget: the refused one below is charged too.
    let quota = Quota {
        per_second: 1,
        burst: 2,
    };
    let app = app_on(
        true,
        CookieKey::new(b"a test secret key that is long enough", false),
        None,
        RateLimiter::new(quota, quota, None),
        Arc::default(),
    )
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
    let app = app(false).await;
    for (key, status) in [
        (Some("sk-local"), 200),
        (None, 200),
        (Some("mas_00000000_notavalidkeyatallnotavalidkey"), 401),
    ] {
        let (got, body) = app.get("/v1/models", key).await;
        assert_eq!(got, status, "{key:?}: {body}");
    }
}
