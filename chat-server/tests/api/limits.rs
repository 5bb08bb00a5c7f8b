//! Request budgets shared by two replicas through one real Redis: 1,000
//! requests from one key over both admit no more than the one budget, the
//! 429s say when to come back, and when Redis dies each replica goes on with
//! its own budgets, without errors.

use chat_server::domain::UserRole;

use crate::support::{TestApp, redis::Redis, sqlite_url};

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
    let mut redis = Redis::start();
    let database = sqlite_url("rl");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let replica = TestApp::builder()
            .auth_required()
            .database(&database)
            .redis(&redis)
            .set("rate_limit_chat_per_second", 10)
            .set("rate_limit_chat_burst", 20)
            .set("rate_limit_api_per_second", 10)
            .set("rate_limit_api_burst", 20);
        replicas.push(replica.spawn().await);
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
async fn budgets_per_minute_and_per_hour_are_enforced_with_retry_after() {
    for (setting, allowed, wait_at_least) in [
        ("rate_limit_per_minute", 3, 15),
        ("rate_limit_per_hour", 2, 1_500),
    ] {
        let app = TestApp::builder().set(setting, allowed).spawn().await;
        for i in 0..allowed {
            let (status, _, headers) = app
                .call(reqwest::Method::GET, "/api/sessions", None, None)
                .await;
            assert_eq!(status, 200, "{setting}: request {i}");
            assert_eq!(headers["ratelimit-limit"], allowed.to_string().as_str());
        }
        let (status, body, headers) = app
            .call(reqwest::Method::GET, "/api/sessions", None, None)
            .await;
        assert_eq!(status, 429, "{setting}: {body}");
        let wait: u64 = headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(wait >= wait_at_least, "{setting}: retry after {wait} s");
        assert_eq!(headers["ratelimit-remaining"], "0");
    }
}
