//! `TestApp`: the chat server as it runs in production (`Application::build`
//! from `Settings`), on port 0 with its own SQLite file, no environment read,
//! rate limits off unless a test sets them; and one typed helper per
//! endpoint.
#![allow(dead_code)] // each test module uses part of it

use std::sync::Arc;

use chat_server::{
    app::Application,
    auth::accounts,
    domain::UserRole,
    http::AppState,
    runs::Runs,
    settings::{Settings, sources},
    store::{sql::SqlStore, users::UserStore},
};
use figment::{Figment, providers::Serialized};
use reqwest::{Method, header::HeaderMap};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{FakeModel, redis::Redis, sqlite_url};

/// A password every test user has.
pub const PASSWORD: &str = "a long enough password";
/// A `SECRET_KEY` for tests.
pub const SECRET: &str = "a test secret key that is long enough";

/// A running chat server.
pub struct TestApp {
    /// `http://127.0.0.1:port`
    pub base: String,
    /// A client that does not follow redirects.
    pub http: reqwest::Client,
    /// The chat database, opened beside the server.
    pub store: Arc<SqlStore>,
    pub database_url: String,
    state: AppState,
    router: axum::Router,
    shutdown: CancellationToken,
}

/// Settings for a `TestApp`, on top of the defaults.
pub struct Builder {
    figment: Figment,
    database_url: Option<String>,
    /// Auth is required, so an admin must exist before the server starts.
    admin: bool,
}

impl Builder {
    /// Sets the setting named `key` (a variable's name in lower case).
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.figment = self.figment.merge(Serialized::default(key, value));
        self
    }

    /// Auth required, with a `SECRET_KEY` and secure cookies, and an admin
    /// named `admin` (production refuses to start without one).
    pub fn auth_required(mut self) -> Self {
        self.admin = true;
        self.set("auth_required", true)
            .set("secret_key", SECRET)
            .set("cookie_secure", true)
    }

    /// The default provider is `fake`, tried once with no retries.
    pub fn model(self, fake: &FakeModel) -> Self {
        self.set("openai_base_url", fake.openai_base())
            .set("llm_max_retries", 0)
    }

    /// Shares runs and limits through `redis`.
    pub fn redis(self, redis: &Redis) -> Self {
        self.set("redis_url", &redis.url)
    }

    /// The chat database at `url` (shared with another replica, or PostgreSQL).
    pub fn database(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// The settings this builder describes.
    pub fn settings(self) -> (Settings, String) {
        let url = self.database_url.unwrap_or_else(|| sqlite_url("app"));
        let figment = self
            .figment
            .merge(Serialized::default("database_url", &url));
        let settings = Settings::from_figment(&figment).expect("test settings");
        (settings, url)
    }

    /// Builds and serves the application.
    pub async fn spawn(self) -> TestApp {
        super::init_logging();
        let admin = self.admin;
        let (settings, database_url) = self.settings();
        let store = Arc::new(SqlStore::connect(&database_url, 2).await.expect("store"));
        if admin && store.user_by_name("admin").await.expect("users").is_none() {
            accounts::add_user(store.as_ref(), "admin", UserRole::Admin, PASSWORD)
                .await
                .expect("the first admin");
        }
        let app = Application::build(settings)
            .await
            .expect("the chat server builds");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let (state, router) = (app.state().clone(), app.router());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move { app.serve(stop).await });
        TestApp {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            store,
            database_url,
            state,
            router,
            shutdown,
        }
    }
}

impl TestApp {
    /// The defaults of a test server: no environment, port 0, limits off,
    /// heartbeats every 200 ms.
    pub fn builder() -> Builder {
        let figment = sources::figment(None, false, &[])
            .merge(Serialized::default("chat_port", 0))
            .merge(Serialized::default("rate_limit_chat_per_second", 0))
            .merge(Serialized::default("sse_heartbeat", 0.2));
        Builder {
            figment,
            database_url: None,
            admin: false,
        }
    }

    /// A local server, answered by the offline planner.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    pub fn runs(&self) -> &Arc<Runs> {
        &self.state.runs
    }

    /// The whole router, for requests sent in process.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Stops serving: runs drain, streams end.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    pub async fn user(&self, name: &str, role: UserRole) {
        accounts::add_user(self.store.as_ref(), name, role, PASSWORD)
            .await
            .expect("user");
    }

    /// A new API key of `user` with `scopes`.
    pub async fn key(&self, user: &str, scopes: &str) -> String {
        accounts::create_key(self.store.as_ref(), user, scopes, "test", None)
            .await
            .expect("key")
            .0
    }

    /// Any request: (status, JSON body or the text as a string, headers).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, HeaderMap) {
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
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let (status, body, _) = self.call(Method::GET, path, key, None).await;
        (status, body)
    }

    /// `POST /chat/stream`: the whole SSE body.
    pub async fn stream(&self, message: &str) -> String {
        self.http
            .post(format!("{}/chat/stream", self.base))
            .json(&json!({ "message": message }))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("body")
    }

    /// `POST /api/chat`: (status, reply).
    pub async fn chat(&self, body: Value, key: Option<&str>) -> (u16, Value) {
        let (status, reply, _) = self.call(Method::POST, "/api/chat", key, Some(body)).await;
        (status, reply)
    }

    /// `GET /api/sessions/{id}`
    pub async fn session(&self, id: &str) -> Value {
        let (status, session) = self.get(&format!("/api/sessions/{id}"), None).await;
        assert_eq!(status, 200, "{session}");
        session
    }

    /// `GET /api/runs/{run_id}/stream`, from `last_event_id` when given.
    pub async fn follow(&self, run_id: &str, last_event_id: Option<&str>) -> String {
        let mut request = self
            .http
            .get(format!("{}/api/runs/{run_id}/stream", self.base));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request
            .send()
            .await
            .expect("follow")
            .text()
            .await
            .expect("body")
    }

    /// `POST /api/runs/{run_id}/cancel`: the status.
    pub async fn cancel(&self, run_id: &str) -> u16 {
        self.call(
            Method::POST,
            &format!("/api/runs/{run_id}/cancel"),
            None,
            None,
        )
        .await
        .0
    }

    /// A finished conversation of `key`'s user: (session id, run id).
    pub async fn conversation(&self, key: &str) -> (String, String) {
        let (status, reply) = self
            .chat(
                json!({ "message": "How many schools are in Lamu county?" }),
                Some(key),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
        (
            reply["session_id"].as_str().expect("session").to_owned(),
            reply["run_id"].as_str().expect("run").to_owned(),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
