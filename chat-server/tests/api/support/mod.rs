//! What the tests share: `TestApp` (the real `Application::build` on port 0
//! with its own SQLite file, typed helpers per endpoint), `FakeModel` (the
//! one fake model server), a throwaway `redis-server`, the EMIS tools in
//! process for tests of the layers below the app, and SSE parsing.

pub mod app;
pub mod browser;
pub mod data;
pub mod emis;
pub mod fake_model;
pub mod redis;
pub mod sse;

pub use app::TestApp;
pub use fake_model::{FakeModel, Turn};

/// A fresh temporary directory for one test.
pub fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mas-{what}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A new SQLite database URL in its own directory.
pub fn sqlite_url(what: &str) -> String {
    format!("sqlite://{}", temp_dir(what).join("chat.db").display())
}

/// The PostgreSQL the test command starts (`TEST_DATABASE_URL`).
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: the PostgreSQL tests need a database (tests/run.sh starts one)"
        )
    })
}

/// Logs go to stderr when `TEST_LOG` is set, and nowhere otherwise.
pub fn init_logging() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        drop(platform::telemetry::init("chat-server", &filter, false));
    }
}
