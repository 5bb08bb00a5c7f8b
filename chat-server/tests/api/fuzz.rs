//! Property test over the public HTTP API: random methods, paths (known
//! routes with hostile ids, and garbage), headers (a valid `Host` mostly and
//! a wrong or missing one sometimes, credentials good and bad, cookies,
//! content types, event ids, CSRF tokens, origins) and bodies (JSON of every
//! shape, form data, invalid UTF-8). Whatever arrives, the answer is never a
//! 5xx and nothing panics. Requests go through the whole router in process
//! (hardening, auth, handlers, the real SQLite store and the offline agents),
//! with auth required so both the refused and the admitted paths run; the
//! test counts how far each got, and most must get past the checks to the
//! handlers, or "no 5xx" would prove little.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, http::Request};
use chat_server::{
    domain::UserRole,
    store::users::{AUDIT_DETAIL_CHARS, AUDIT_FIELD_CHARS, UserStore},
};
use proptest::prelude::*;
use tower::ServiceExt;

use crate::support::TestApp;

const CASES: u32 = 10_000;

struct World {
    runtime: tokio::runtime::Runtime,
    /// Serves the router below (its runs and store) for the whole test.
    _app: TestApp,
    router: Router,
    key: String,
    admin_key: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (app, key, admin_key) = runtime.block_on(async {
            let app = TestApp::builder()
                .auth_required()
                .set("max_concurrent_sessions", 10_000)
                .spawn()
                .await;
            app.user("fuzzer", UserRole::User).await;
            app.user("root", UserRole::Admin).await;
            let key = app.key("fuzzer", "chat,sessions:read").await;
            let admin_key = app.key("root", "chat,sessions:read,admin").await;
            (app, key, admin_key)
        });
        let router = app.router();
        World {
            runtime,
            _app: app,
            router,
            key,
            admin_key,
        }
    })
}

fn hostile_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9-]{0,40}",
        Just("..".to_owned()),
        Just("%2e%2e%2fCargo.toml".to_owned()),
        Just("%00".to_owned()),
        Just("%ff%fe".to_owned()),
        Just("x".repeat(5_000)),
        "\\PC{0,20}".prop_map(|s| s
            .chars()
            .filter(|c| !c.is_control() && *c != '/' && *c != '?' && *c != '#')
            .collect()),
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let templates = prop_oneof![
        Just("/"),
        Just("/c/{}"),
        Just("/static/{}"),
        Just("/login"),
        Just("/logout"),
        Just("/chat/stream"),
        Just("/api"),
        Just("/api/status"),
        Just("/api/chat"),
        Just("/api/runs/{}/stream"),
        Just("/api/runs/{}/cancel"),
        Just("/api/sessions"),
        Just("/api/sessions/{}"),
        Just("/api/auth/me"),
        Just("/api/admin/users"),
        Just("/api/admin/keys"),
        Just("/api/admin/keys/{}"),
        Just("/api/admin/security-report"),
        Just("/health"),
        Just("/ready"),
        Just("/{}/{}"),
    ];
    let query = prop_oneof![
        Just(String::new()),
        Just("?limit=0".to_owned()),
        Just("?limit=-1&offset=99999999999999999999".to_owned()),
        Just("?user=%ff".to_owned()),
        "\\?[a-z=&%0-9]{0,30}",
    ];
    (templates, hostile_segment(), hostile_segment(), query).prop_map(|(t, a, b, q)| {
        let mut path = t.replacen("{}", &a, 1).replacen("{}", &b, 1);
        path.push_str(&q);
        path
    })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,30}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::hash_map(
                prop_oneof![
                    Just("message".to_owned()),
                    Just("session_id".to_owned()),
                    Just("agent".to_owned()),
                    Just("title".to_owned()),
                    Just("username".to_owned()),
                    Just("password".to_owned()),
                    Just("scopes".to_owned()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    prop_oneof![
        Just((None, Vec::new())),
        json_value().prop_map(|v| (Some("application/json"), v.to_string().into_bytes())),
        "\\PC{0,40}".prop_map(|m| (
            Some("application/json"),
            serde_json::json!({ "message": m }).to_string().into_bytes()
        )),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (Some("application/json"), b)),
        "[a-z=&%0-9]{0,60}"
            .prop_map(|f| (Some("application/x-www-form-urlencoded"), f.into_bytes())),
        // A sign-in with an over-long username or password.
        (1usize..200_000, prop::bool::ANY).prop_map(|(n, name)| {
            let long = "x".repeat(n);
            let form = if name {
                format!("username={long}&password=guess")
            } else {
                format!("username=alice&password={long}")
            };
            (Some("application/x-www-form-urlencoded"), form.into_bytes())
        }),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (None, b)),
        Just((Some("text/plain; charset=\u{0}"), b"{}".to_vec())),
    ]
}

#[derive(Debug, Clone)]
#[allow(dead_code)] // the strings are read through Debug in failure messages
enum Credential {
    None,
    Key,
    AdminKey,
    Garbage(String),
    Cookie(String),
    /// A bearer token this many characters long.
    LongKey(usize),
}

fn credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        Just(Credential::None),
        Just(Credential::Key),
        Just(Credential::AdminKey),
        "[ -~]{0,60}".prop_map(Credential::Garbage),
        "[ -~]{0,80}".prop_map(Credential::Cookie),
        (200usize..12_000).prop_map(Credential::LongKey),
    ]
}

/// How far a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// Refused by the host and header checks, before anything else.
    Guard,
    /// Refused by authentication (no or bad credentials, a wrong CSRF token).
    Auth,
    /// Answered by a handler (or the 404 fallback).
    Handler,
}

/// Where a response came from, by its status and error envelope.
fn reached(status: u16, body: &[u8]) -> Reached {
    let error: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = error["error"]["code"].as_str().unwrap_or_default();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    match (status, code) {
        (403, "untrusted_host") | (431, "headers_too_large") => Reached::Guard,
        (400, "bad_request") if message.contains("no Host header") => Reached::Guard,
        (401, "unauthorized") => Reached::Auth,
        (403, "forbidden") if message.contains("CSRF") => Reached::Auth,
        _ => Reached::Handler,
    }
}

/// Sends one generated request; `None` when the values cannot form a
/// request at all (no client could send it).
fn send(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
    credential: &Credential,
    headers: &[(&str, Option<&str>)],
) -> Option<(axum::http::StatusCode, Reached)> {
    let world = world();
    let mut request = Request::builder().method(method).uri(path);
    if let Some(kind) = content_type {
        request = request.header("content-type", kind);
    }
    request = match credential {
        Credential::None => request,
        Credential::Key => request.header("authorization", format!("Bearer {}", world.key)),
        Credential::AdminKey => {
            request.header("authorization", format!("Bearer {}", world.admin_key))
        }
        Credential::Garbage(g) => request.header("authorization", g.as_str()),
        Credential::Cookie(c) => request.header("cookie", format!("mas_session={c}")),
        Credential::LongKey(n) => {
            request.header("authorization", format!("Bearer mas_{}", "k".repeat(*n)))
        }
    };
    for &(name, value) in headers {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    let request = request.body(Body::from(bytes)).ok()?;
    Some(world.runtime.block_on(async {
        let response = world
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        // Read the body too: a stream that fails midway must not panic either.
        let body = tokio::time::timeout(
            Duration::from_secs(10),
            axum::body::to_bytes(response.into_body(), 4 << 20),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        (status, reached(status.as_u16(), &body))
    }))
}

/// The `Host` a request names: this server's, mostly; sometimes a stranger's
/// or none, on purpose.
fn host() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        8 => Just(Some("127.0.0.1:8000".to_owned())),
        4 => Just(Some("localhost".to_owned())),
        1 => Just(Some("evil.example".to_owned())),
        1 => "[ -~]{0,30}".prop_map(Some),
        1 => Just(None),
    ]
}

#[test]
fn no_request_gets_a_5xx_or_a_panic_and_most_reach_the_handlers() {
    let sent = AtomicUsize::new(0);
    let counts: [AtomicUsize; 3] = Default::default();
    let strategy = (
        (
            prop_oneof![
                Just("GET"),
                Just("POST"),
                Just("PATCH"),
                Just("DELETE"),
                Just("PUT"),
                Just("OPTIONS"),
                Just("HEAD"),
                Just("BREW")
            ],
            path(),
            body(),
            credential(),
        ),
        (
            host(),
            prop::option::of("[ -~]{0,30}"),
            prop::option::of("[ -~]{0,40}"),
            prop::option::of(prop_oneof![
                Just("https://evil.example".to_owned()),
                "[ -~]{0,30}"
            ]),
        ),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &strategy,
        |((method, path, (content_type, bytes), credential), (host, event_id, csrf, origin))| {
            if let Some((status, reached)) = send(
                method,
                &path,
                content_type,
                bytes,
                &credential,
                &[
                    ("host", host.as_deref()),
                    ("last-event-id", event_id.as_deref()),
                    ("x-csrf-token", csrf.as_deref()),
                    ("origin", origin.as_deref()),
                ],
            ) {
                sent.fetch_add(1, Ordering::Relaxed);
                counts[reached as usize].fetch_add(1, Ordering::Relaxed);
                prop_assert!(
                    status.as_u16() < 500,
                    "{method} {path} ({credential:?}) -> {status}"
                );
            }
            Ok(())
        },
    );
    let sent = sent.load(Ordering::Relaxed);
    let [guard, auth, handler] = counts.map(|c| c.load(Ordering::Relaxed));
    eprintln!(
        "fuzz: {CASES} generated cases, {sent} HTTP requests sent through the router: \
         {guard} refused by the host and header checks, {auth} by authentication, \
         {handler} answered by a handler; no 5xx, no panic"
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert!(
        sent as u32 > CASES * 3 / 4,
        "most cases are real requests ({sent})"
    );
    assert!(
        (auth + handler) * 10 >= sent * 7,
        "most requests reach authentication ({} of {sent})",
        auth + handler
    );
    assert!(
        handler * 2 >= sent,
        "most requests reach a handler ({handler} of {sent})"
    );
    // What the flood left in the audit log: few rows, none of them long.
    let world = world();
    let rows = world
        .runtime
        .block_on(world._app.store.events_since(0, 1_000_000))
        .expect("the audit log");
    let seen: i64 = rows.iter().map(|e| e.count).sum();
    eprintln!("fuzz: {} audit rows for {seen} security events", rows.len());
    assert!(
        rows.len() * 4 <= sent,
        "{} audit rows for {sent} requests: identical events are not counted together",
        rows.len()
    );
    for row in &rows {
        let longest = [&row.username, &row.address]
            .iter()
            .filter_map(|f| f.as_deref())
            .map(|f| f.chars().count())
            .max()
            .unwrap_or(0);
        assert!(
            longest <= AUDIT_FIELD_CHARS && row.detail.chars().count() <= AUDIT_DETAIL_CHARS,
            "an over-long audit field: {row:?}"
        );
        assert!(
            !row.username
                .as_deref()
                .is_some_and(|u| u.starts_with("xxxxxxxxxx")),
            "an over-long username reached the audit log: {row:?}"
        );
    }
}
