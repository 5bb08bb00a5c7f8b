//! Tool-result caching: in process by default, Redis when configured, and a
//! Redis outage is no cache rather than an error.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use mcp_server::{cache::RedisCache, tools::ServerState};
use serde_json::json;

use crate::helpers::{self, TestApp, embedded_backend};

/// A throwaway `redis-server` on a free loopback port, killed on drop.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    #[allow(clippy::zombie_processes)] // Drop kills and waits for it.
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "redis-server must be installed for the cache tests (the test command installs it)",
            );
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Redis { child, url };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn hits() -> f64 {
    let text = platform::telemetry::metrics_handle().render();
    text.lines()
        .filter(|l| {
            l.starts_with("mas_cache_hits_total{") && l.contains("tool_name=\"school_statistics\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_repeated_call_with_equivalent_arguments_is_served_from_the_cache() {
    let app = TestApp::embedded().await;
    let before = hits();
    let first = app
        .ok(
            "school_statistics",
            json!({ "group_by": "level", "county": "Kisumu" }),
        )
        .await;
    let second = app
        .ok(
            "school_statistics",
            json!({ "county": "  KISUMU ", "group_by": "level" }),
        )
        .await;
    assert_eq!(first, second);
    assert!(hits() >= before + 1.0, "the second call was a cache hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holds_the_cache_and_its_outage_only_turns_caching_off() {
    let mut redis = Redis::start();
    let cache = RedisCache::connect(&redis.url, Duration::from_secs(60))
        .await
        .expect("connect");
    let state = ServerState {
        backend: embedded_backend(),
        cache: Arc::new(cache),
        tavily: None,
        tool_timeout: Duration::from_secs(10),
        fixtures: None,
    };
    let app = TestApp::with_state(state).await;
    let first = app
        .ok("search_schools", json!({ "query": "Bekibon" }))
        .await;

    let client = redis::Client::open(redis.url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("mas:mcp:tool:*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("search_schools"));
    assert_eq!(
        app.ok("search_schools", json!({ "query": "bekibon" }))
            .await,
        first
    );

    redis.stop();
    let during_outage = app
        .ok("search_schools", json!({ "query": "Bakwanin" }))
        .await;
    assert_eq!(
        during_outage["schools"][0]["id"], "KE-1",
        "served without the cache"
    );
    assert_eq!(
        app.ok("search_schools", json!({ "query": "Bekibon" }))
            .await,
        first
    );
}

#[tokio::test]
async fn an_unreachable_redis_at_start_up_falls_back_to_the_in_process_cache() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let settings = mcp_server::settings::Settings::from_figment(
        mcp_server::settings::Settings::defaults()
            .merge(("redis_url", format!("redis://127.0.0.1:{port}"))),
    )
    .expect("settings");
    let state = mcp_server::build_state(&settings.emis())
        .await
        .expect("state");
    assert_eq!(state.cache.kind(), "memory");
    drop(helpers::settings());
}
