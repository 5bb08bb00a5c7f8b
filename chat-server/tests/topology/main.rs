//! The deployment topology on loopback, with real processes: nginx (the
//! repository's `nginx/` locations) in front of two chat-server replicas,
//! one mcp-server (bearer token), PostgreSQL and Redis (append-only file, so
//! a restart keeps its data), and a fake OpenAI model streaming slowly; and
//! `/v1` behind nginx's own limits; and a memory extraction job whose
//! replica is killed mid-job, done once by the other. Also one chat turn
//! with a tool call, traced over OTLP by both binaries into a local
//! receiver, and a run taken over whose spans link to the trace it began in.
//!
//! It restarts PostgreSQL and Redis, so `tests/run.sh` runs it in a step of
//! its own: `cargo test -p chat-server --test topology -- --ignored`.

#[path = "../api/support/fake_model.rs"]
mod fake_model;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fake_model::{FakeModel, Turn};
use futures::StreamExt;
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed: {text}");
    text
}

/// A throwaway PostgreSQL cluster run by the `postgres` user.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Postgres {
    fn start(dir: &Path) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL must be installed (the test command installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb");
        let data = dir.join("pg");
        std::fs::create_dir_all(&data).expect("pg dir");
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&data));
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-D"])
            .arg(&data));
        let postgres = Postgres {
            bin,
            data,
            port: free_port(),
        };
        postgres.ctl("start");
        postgres
    }

    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.display()
        );
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-o", &options, action]));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

/// A process of ours, killed when dropped.
struct Process {
    name: String,
    child: Option<Child>,
    command: Box<dyn Fn() -> Command + Send>,
    log: PathBuf,
}

impl Process {
    fn start(name: &str, log: PathBuf, command: impl Fn() -> Command + Send + 'static) -> Self {
        let mut process = Process {
            name: name.to_owned(),
            child: None,
            command: Box::new(command),
            log,
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = (self.command)()
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        run(Command::new("kill").args([&format!("-{signal}"), &pid]));
    }

    /// Waits for the process to exit; its success.
    fn wait(&mut self, timeout: Duration) -> bool {
        let started = Instant::now();
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return status.success();
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not exit within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a client put together from a run's stream.
#[derive(Debug, Default)]
struct Reading {
    run_id: Option<String>,
    session_id: Option<String>,
    last_id: Option<String>,
    /// The answer as shown: a discarded step's text removed.
    text: String,
    step_mark: usize,
    discarded: usize,
    tools: Vec<String>,
    done: bool,
}

impl Reading {
    fn apply(&mut self, part: &Value) {
        match part["type"].as_str() {
            Some("data-run") => {
                self.run_id = part["data"]["runId"].as_str().map(str::to_owned);
                self.session_id = part["data"]["sessionId"].as_str().map(str::to_owned);
            }
            Some("start-step") => self.step_mark = self.text.len(),
            Some("data-step-discarded") => {
                self.text.truncate(self.step_mark);
                self.discarded += 1;
            }
            Some("text-delta") => self.text.push_str(part["delta"].as_str().unwrap_or("")),
            Some("tool-output-available") => self
                .tools
                .push(part["toolCallId"].as_str().unwrap_or("").to_owned()),
            _ => {}
        }
    }

    /// Reads `response` until `[DONE]`, the end of the body, or `stop` says so.
    async fn read(&mut self, response: reqwest::Response, stop: impl Fn(&Reading) -> bool) {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { return };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        self.last_id = Some(id.to_owned());
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        if data == "[DONE]" {
                            self.done = true;
                            return;
                        }
                        if let Ok(part) = serde_json::from_str::<Value>(data) {
                            self.apply(&part);
                        }
                    }
                }
                if stop(self) {
                    return;
                }
            }
        }
    }
}

struct Topology {
    dir: PathBuf,
    http: reqwest::Client,
    fake: FakeModel,
    postgres: Postgres,
    redis: Process,
    redis_port: u16,
    _mcp: Process,
    replicas: Vec<(u16, Process)>,
    _nginx: Process,
    edge: String,
}

fn binary(name: &str) -> PathBuf {
    let chat = PathBuf::from(env!("CARGO_BIN_EXE_chat-server"));
    let path = chat.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// How the topology is laid out.
struct Layout {
    replicas: usize,
    /// nginx with the production per-address limits (`http.conf`); a load
    /// run from one address uses generous zones instead.
    edge_limits: bool,
    /// The port of an OTLP/HTTP receiver the replicas send their spans to.
    otlp: Option<u16>,
}

impl Topology {
    async fn start(turns: Vec<Turn>) -> Self {
        Self::start_with(
            turns,
            Layout {
                replicas: 2,
                edge_limits: true,
                otlp: None,
            },
        )
        .await
    }

    async fn start_with(turns: Vec<Turn>, layout: Layout) -> Self {
        let dir = std::env::temp_dir().join(format!("mas-topology-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        run(Command::new("chmod").arg("755").arg(&dir));
        let fake = FakeModel::start(turns).await;
        let postgres = Postgres::start(&dir);

        let redis_port = free_port();
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir).expect("redis dir");
        let redis = Process::start("redis-server", dir.join("redis.log"), move || {
            let mut command = Command::new("redis-server");
            command
                .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ])
                .arg("--dir")
                .arg(&redis_dir);
            command
        });
        wait_for_port(redis_port, "redis-server");

        let mcp_port = free_port();
        let mcp = Process::start("mcp-server", dir.join("mcp.log"), move || {
            let mut command = Command::new(binary("mcp-server"));
            command
                .env("MCP_PORT", mcp_port.to_string())
                .env("MCP_AUTH_TOKENS", "topology-token")
                .env("LOG_LEVEL", "warn");
            command
        });
        wait_for_port(mcp_port, "mcp-server");

        let mut replicas = Vec::new();
        for i in 0..layout.replicas {
            let port = free_port();
            let env = vec![
                ("CHAT_PORT", port.to_string()),
                ("DATABASE_URL", postgres.url()),
                ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
                ("MCP_SERVER_URL", format!("http://127.0.0.1:{mcp_port}/mcp")),
                ("MCP_SERVER_TOKEN", "topology-token".into()),
                ("LLM_PROVIDER", "openai".into()),
                ("OPENAI_API_KEY", "test-key".into()),
                ("OPENAI_BASE_URL", fake.openai_base()),
                ("OPENAI_MODEL", "fake-model".into()),
                ("RATE_LIMIT_CHAT_PER_SECOND", "0".into()),
                ("TRUSTED_PROXIES", "127.0.0.1".into()),
                ("SHUTDOWN_TIMEOUT", "3".into()),
                ("JOB_LEASE", "4".into()),
                ("LOG_LEVEL", "info".into()),
            ]
            .into_iter()
            .chain(layout.otlp.into_iter().flat_map(|port| {
                [
                    (
                        "OTEL_EXPORTER_OTLP_ENDPOINT",
                        format!("http://127.0.0.1:{port}"),
                    ),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
                    ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
                ]
            }))
            .collect::<Vec<_>>();
            let process = Process::start(
                &format!("chat-server {i}"),
                dir.join(format!("chat-{i}.log")),
                move || {
                    let mut command = Command::new(binary("chat-server"));
                    command.envs(env.clone());
                    command
                },
            );
            replicas.push((port, process));
        }
        for (port, _) in &replicas {
            wait_for_port(*port, "chat-server");
        }

        // nginx with the repository's locations, upstreams on loopback.
        let edge_port = free_port();
        let nginx_dir = dir.join("nginx");
        std::fs::create_dir_all(nginx_dir.join("logs")).expect("nginx dir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nginx");
        std::os::unix::fs::symlink(repo.canonicalize().expect("nginx/"), nginx_dir.join("mas"))
            .expect("link");
        let upstreams: String = replicas
            .iter()
            .map(|(port, _)| format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n"))
            .collect();
        std::fs::write(
            nginx_dir.join("nginx.conf"),
            format!(
                "worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/logs/error.log info;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n access_log {dir}/logs/access.log;\n\
                 client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
                 fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
                 {http}\n\
                 upstream mas_chat {{ least_conn; {upstreams} keepalive 16; }}\n\
                 upstream mas_mcp {{ server 127.0.0.1:{mcp_port}; keepalive 4; }}\n\
                 server {{ listen 127.0.0.1:{edge_port}; include mas/locations.conf; }}\n}}\n",
                dir = nginx_dir.display(),
                http = if layout.edge_limits {
                    "include mas/http.conf;"
                } else {
                    // An empty key is never limited.
                    "map $host $unlimited { default \"\"; } \
                     limit_req_zone $unlimited zone=mas_chat:1m rate=1r/s; \
                     limit_req_zone $unlimited zone=mas_api:1m rate=1r/s; \
                     limit_conn_zone $unlimited zone=mas_conn:1m;"
                },
            ),
        )
        .expect("nginx.conf");
        let conf = nginx_dir.join("nginx.conf");
        let prefix = nginx_dir.clone();
        let nginx = Process::start("nginx", dir.join("nginx.log"), move || {
            let mut command = Command::new("nginx");
            command
                .arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf)
                .args(["-g", "daemon off;"]);
            command
        });
        wait_for_port(edge_port, "nginx");

        let topology = Topology {
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            fake,
            postgres,
            redis,
            redis_port,
            _mcp: mcp,
            replicas,
            _nginx: nginx,
            edge: format!("http://127.0.0.1:{edge_port}"),
        };
        for i in 0..layout.replicas {
            topology.wait_ready(i).await;
        }
        topology
    }

    fn replica(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.replicas[i].0)
    }

    async fn ready(&self, i: usize) -> Option<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}/ready", self.replica(i)))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    async fn wait_ready(&self, i: usize) {
        let started = Instant::now();
        loop {
            if let Some((200, _)) = self.ready(i).await {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "replica {i} not ready: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The replica producing the one run in progress.
    async fn producer(&self) -> usize {
        let started = Instant::now();
        loop {
            for i in 0..self.replicas.len() {
                if let Some((_, ready)) = self.ready(i).await
                    && ready["active_runs"] == 1
                {
                    return i;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no producer");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["chat-0.log", "chat-1.log", "nginx/logs/error.log"] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!("\n--- {name}\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Starts a run through nginx and reads it until `stop`.
    async fn ask(&self, message: &str, stop: impl Fn(&Reading) -> bool) -> Reading {
        let response = self
            .http
            .post(format!("{}/chat/stream", self.edge))
            .json(&json!({ "message": message }))
            .send()
            .await
            .expect("POST /chat/stream through nginx");
        assert_eq!(response.status(), 200, "{}", self.logs());
        let mut reading = Reading::default();
        reading.read(response, stop).await;
        reading
    }

    /// Reconnects through `base` with `Last-Event-ID` until the stream ends.
    async fn finish(&self, base: &str, reading: &mut Reading) {
        let run_id = reading.run_id.clone().expect("run id");
        let started = Instant::now();
        while !reading.done {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the stream did not end: {reading:?}{}",
                self.logs()
            );
            let mut request = self.http.get(format!("{base}/api/runs/{run_id}/stream"));
            if let Some(id) = &reading.last_id {
                request = request.header("last-event-id", id);
            }
            match request.send().await {
                Ok(response) if response.status() == 200 => reading.read(response, |_| false).await,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// The saved session, read through nginx (retried while the database restarts).
    async fn session(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            if let Ok(response) = self
                .http
                .get(format!("{}/api/sessions/{id}", self.edge))
                .send()
                .await
                && response.status() == 200
            {
                return response.json().await.expect("json");
            }
            assert!(started.elapsed() < Duration::from_secs(30), "session {id}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The answer saved for the session's last turn.
    async fn saved_answer(&self, session_id: &str) -> (String, String) {
        let session = self.session(session_id).await;
        let last = session["messages"]
            .as_array()
            .and_then(|m| m.last())
            .cloned()
            .expect("messages");
        (
            last["content"].as_str().unwrap_or_default().to_owned(),
            last["status"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn restart_redis(&mut self) {
        self.redis.signal("TERM");
        assert!(
            self.redis.wait(Duration::from_secs(10)),
            "redis exits cleanly"
        );
        self.redis.spawn();
        wait_for_port(self.redis_port, "redis-server");
    }
}

fn words(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix}{i} ")).collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by tests/run.sh in a step of its own: it restarts PostgreSQL and Redis"]
async fn replicas_behind_nginx_survive_death_shutdown_and_restarts() {
    let a = leak(words("alpha", 40));
    let b = leak(words("bravo", 40));
    let c = leak(words("charlie", 15));
    let h = leak(words("hotel", 30));
    let d = leak(words("delta", 40));
    let gap = Duration::from_millis(50);
    let mut topology = Topology::start(vec![
        // (a) resume on the other replica
        Turn::Slow(a, gap),
        // A run cancelled through the replica that is not producing it.
        Turn::Endless,
        // (b) SIGKILL mid-run: a tool step, a slow answer, and the answer again
        // when the surviving replica requests the interrupted step anew.
        Turn::Calls(vec![(
            "call_b",
            "search_schools",
            json!({ "query": "bakwanim" }),
        )]),
        Turn::Slow(b, Duration::from_millis(100)),
        Turn::Slow(b, Duration::from_millis(10)),
        // (c) SIGTERM mid-run: finishes where it started (1.5 s < 3 s to drain)...
        Turn::Slow(c, Duration::from_millis(100)),
        // ...or, too long to wait for, is handed over and finished elsewhere.
        Turn::Slow(h, Duration::from_millis(200)),
        Turn::Slow(h, Duration::from_millis(10)),
        // (d) Redis restarted mid-run.
        Turn::Slow(d, Duration::from_millis(80)),
        // (e) after PostgreSQL restarted.
        Turn::Text("The database came back."),
    ])
    .await;

    // (a) A stream read halfway through nginx resumes on either replica.
    let mut first = topology.ask("Count to forty", |r| r.text.len() > 40).await;
    assert!(!first.done);
    let run_id = first.run_id.clone().expect("run id");
    for i in 0..2 {
        let mut resumed = Reading {
            text: first.text.clone(),
            last_id: first.last_id.clone(),
            run_id: Some(run_id.clone()),
            ..Reading::default()
        };
        topology.finish(&topology.replica(i), &mut resumed).await;
        assert_eq!(resumed.text, a, "resumed on replica {i}");
    }
    topology.finish(&topology.edge.clone(), &mut first).await;
    assert_eq!(first.text, a);
    let session_a = first.session_id.clone().expect("session");
    assert_eq!(
        topology.saved_answer(&session_a).await,
        (a.to_owned(), "complete".to_owned())
    );

    // A cancel sent to the other replica reaches the producer through Redis.
    let mut reading = topology.ask("Never stop", |r| !r.text.is_empty()).await;
    let producer = topology.producer().await;
    let run_id = reading.run_id.clone().expect("run id");
    let cancelled = topology
        .http
        .post(format!(
            "{}/api/runs/{run_id}/cancel",
            topology.replica(1 - producer)
        ))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 202, "{}", topology.logs());
    topology.finish(&topology.edge.clone(), &mut reading).await;
    let session_x = reading.session_id.clone().expect("session");
    assert_eq!(
        topology.saved_answer(&session_x).await,
        ("Partial ".to_owned(), "cancelled".to_owned())
    );

    // (b) The producing replica is killed mid-answer; the other carries on.
    let requests_before = topology.fake.seen.lock().await.len();
    let mut reading = topology
        .ask("Tell me about Bakwanim", |r| r.text.len() > 60)
        .await;
    assert_eq!(
        reading.tools.len(),
        1,
        "the tool step finished: {reading:?}"
    );
    let victim = topology.producer().await;
    topology.replicas[victim].1.signal("KILL");
    topology.replicas[victim].1.wait(Duration::from_secs(5));
    let edge = topology.edge.clone();
    topology.finish(&edge, &mut reading).await;
    assert_eq!(
        reading.text, b,
        "one complete answer: nothing lost or repeated"
    );
    assert_eq!(
        reading.discarded, 1,
        "the interrupted step was discarded once"
    );
    let session_b = reading.session_id.clone().expect("session");
    assert_eq!(
        topology.saved_answer(&session_b).await,
        (b.to_owned(), "complete".to_owned())
    );
    {
        let requests = topology.fake.seen.lock().await;
        let mine = &requests[requests_before..];
        assert_eq!(
            mine.len(),
            3,
            "the tool step is not requested again, the interrupted one is"
        );
        let retried = mine[2].body["messages"].to_string();
        assert!(
            retried.contains("call_b") && retried.contains("KE-"),
            "the retried step knows the finished tool call's result: {retried}"
        );
    }
    let session = topology.session(&session_b).await;
    let calls: Vec<&Value> = session["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(calls.len(), 1, "the tool ran once: {calls:?}");
    topology.replicas[victim].1.spawn();
    topology.wait_ready(victim).await;

    // (c) SIGTERM mid-run: not ready at once, the run finishes, then it exits.
    let mut reading = topology.ask("Count to twenty", |r| r.text.len() > 30).await;
    let draining = topology.producer().await;
    topology.replicas[draining].1.signal("TERM");
    let (status, ready) = topology.ready(draining).await.expect("still answering");
    assert_eq!((status, ready["status"].as_str()), (503, Some("draining")));
    topology.finish(&edge, &mut reading).await;
    assert_eq!(reading.text, c);
    assert!(
        topology.replicas[draining].1.wait(Duration::from_secs(30)),
        "exits cleanly after its run"
    );
    let session_c = reading.session_id.clone().expect("session");
    assert_eq!(
        topology.saved_answer(&session_c).await,
        (c.to_owned(), "complete".to_owned())
    );
    topology.replicas[draining].1.spawn();
    topology.wait_ready(draining).await;

    let mut reading = topology.ask("Count slowly", |r| r.text.len() > 30).await;
    let leaving = topology.producer().await;
    topology.replicas[leaving].1.signal("TERM");
    topology.finish(&edge, &mut reading).await;
    assert_eq!(reading.text, h, "handed over and finished: {reading:?}");
    assert_eq!(reading.discarded, 1);
    assert!(
        topology.replicas[leaving].1.wait(Duration::from_secs(15)),
        "exits cleanly after handing its run over"
    );
    let session_h = reading.session_id.clone().expect("session");
    assert_eq!(
        topology.saved_answer(&session_h).await,
        (h.to_owned(), "complete".to_owned())
    );
    topology.replicas[leaving].1.spawn();
    topology.wait_ready(leaving).await;

    // (d) Redis restarts mid-run: the run and its stream carry on.
    let mut reading = topology
        .ask("Count to forty again", |r| r.text.len() > 40)
        .await;
    topology.restart_redis();
    topology.finish(&edge, &mut reading).await;
    assert_eq!(reading.text, d);
    let session_d = reading.session_id.clone().expect("session");
    assert_eq!(
        topology.saved_answer(&session_d).await,
        (d.to_owned(), "complete".to_owned())
    );

    // (e) PostgreSQL restarts: everything saved is still there, and new runs work.
    let mut before = Vec::new();
    for id in [&session_a, &session_b, &session_c, &session_d] {
        before.push(topology.session(id).await["messages"].clone());
    }
    topology.postgres.ctl("restart");
    for (id, messages) in [&session_a, &session_b, &session_c, &session_d]
        .iter()
        .zip(&before)
    {
        assert_eq!(&topology.session(id).await["messages"], messages);
    }
    for i in 0..2 {
        topology.wait_ready(i).await;
    }
    let reading = topology.ask("Are you back?", |_| false).await;
    assert!(reading.done, "{reading:?}{}", topology.logs());
    assert_eq!(reading.text, "The database came back.");
    assert_eq!(
        topology
            .saved_answer(reading.session_id.as_deref().expect("session"))
            .await,
        ("The database came back.".to_owned(), "complete".to_owned())
    );

    // (f) `/v1` has its own locations at the edge, with the edge's limits
    // (it once fell through to `location /`, with none).
    let http = reqwest::Client::new();
    let answers = futures::future::join_all((0..60).map(|_| {
        http.get(format!("{}/v1/models", topology.edge))
            .header("authorization", "Bearer sk-anything")
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|r| r.expect("an answer").status().as_u16())
        .collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "nginx limits /v1 (mas_api: 10/s, burst 20): {statuses:?}"
    );

    // (g) The replica running a memory extraction job is killed mid-job:
    // after its lease (JOB_LEASE=4 s) the other replica does the job, once.
    topology.fake.extract_with(Turn::Stall(Vec::new())).await;
    let told = topology.ask("I work in Kisumu", |_| false).await;
    let run_id = told.run_id.clone().expect("run id");
    let database = sqlx::PgPool::connect(&topology.postgres.url())
        .await
        .expect("the database");
    let holder = |database: sqlx::PgPool, run_id: String| async move {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT locked_by FROM jobs WHERE payload LIKE $1 AND status = 'running'",
        )
        .bind(format!("%{run_id}%"))
        .fetch_optional(&database)
        .await
        .expect("jobs")
        .flatten()
    };
    let mut held = None;
    for _ in 0..100 {
        held = holder(database.clone(), run_id.clone()).await;
        if held.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = held.expect("a replica claimed the extraction job");
    let pid: u32 = held
        .split('-')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid");
    let victim = (0..2)
        .find(|i| topology.replicas[*i].1.pid() == Some(pid))
        .expect("the job is held by a replica");
    topology.replicas[victim].1.signal("KILL");
    topology.replicas[victim].1.wait(Duration::from_secs(5));
    topology
        .fake
        .extract_with(Turn::Text(
            "{\"memories\": [{\"text\": \"I work in Kisumu\", \"kind\": \"profile\", \"retention\": \"long\", \"slot\": \"workplace\"}]}",
        ))
        .await;
    let survivor = topology.replica(1 - victim);
    let mut kept = Vec::new();
    for _ in 0..200 {
        let listed: Value = topology
            .http
            .get(format!("{survivor}/api/memory"))
            .send()
            .await
            .expect("memory")
            .json()
            .await
            .expect("json");
        kept = listed["memories"].as_array().cloned().unwrap_or_default();
        if !kept.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        kept.iter().map(|m| m["text"].as_str()).collect::<Vec<_>>(),
        [Some("I work in Kisumu")],
        "done once by the surviving replica{}",
        topology.logs()
    );
    assert_eq!(kept[0]["source"]["session_id"], json!(told.session_id));
    assert_eq!(holder(database.clone(), run_id.clone()).await, None);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE payload LIKE $1")
        .bind(format!("%{run_id}%"))
        .fetch_one(&database)
        .await
        .expect("jobs");
    assert_eq!(left, 0, "the job is done and gone");
    let metrics = topology
        .http
        .get(format!("{survivor}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let taken_over = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("mas_jobs_total{kind=\"memory.extract\",status=\"taken_over\"} ")
        })
        .and_then(|n| n.trim().parse::<f64>().ok());
    assert!(
        taken_over.is_some_and(|n| n >= 1.0),
        "counted as taken over: {metrics}"
    );
    topology.replicas[victim].1.spawn();
    topology.wait_ready(victim).await;
}

/// One load run: `runs` runs, `concurrency` at a time, through nginx.
async fn load(replicas: usize, runs: usize, concurrency: usize) {
    let topology = Topology::start_with(
        Vec::new(),
        Layout {
            replicas,
            edge_limits: false,
            otlp: None,
        },
    )
    .await;
    let started = Instant::now();
    let results: Vec<Option<Duration>> = futures::stream::iter(0..runs)
        .map(|i| {
            let (http, edge) = (topology.http.clone(), topology.edge.clone());
            async move {
                let asked = Instant::now();
                let response = http
                    .post(format!("{edge}/chat/stream"))
                    .json(&json!({ "message": format!("load {i}") }))
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200)?;
                let mut first = None;
                let mut body = response.bytes_stream();
                let mut done = false;
                while let Some(Ok(chunk)) = body.next().await {
                    let text = String::from_utf8_lossy(&chunk);
                    if first.is_none() && text.contains("\"text-delta\"") {
                        first = Some(asked.elapsed());
                    }
                    if text.contains("data: [DONE]") {
                        done = true;
                        break;
                    }
                }
                first.filter(|_| done)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut ttft: Vec<f64> = results
        .iter()
        .flatten()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    ttft.sort_by(f64::total_cmp);
    let errors = runs - ttft.len();
    let at = |q: f64| ttft[((ttft.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "nginx -> {replicas} replica(s): {runs} runs, {concurrency} concurrent: {:.0} runs/s, \
         time to first token p50 {:.1} ms, p99 {:.1} ms, errors {errors}",
        runs as f64 / elapsed,
        at(0.5),
        at(0.99),
    );
    assert_eq!(errors, 0, "{}", topology.logs());
}

/// `bench/topology.sh`: the same load through nginx against one replica and
/// against two, each on PostgreSQL and Redis, the model a local fake.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bench/topology.sh runs it with the release build"]
async fn load_through_nginx() {
    let runs = std::env::var("LOAD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let concurrency = std::env::var("LOAD_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    load(1, runs, concurrency).await;
    load(2, runs, concurrency).await;
}

/// The spans an OTLP/HTTP receiver got, as (service, span) JSON pairs.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// A local OTLP/HTTP receiver (JSON encoding) on `port`.
async fn otlp_receiver() -> (u16, Received) {
    let received: Received = Default::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::Json<Value>| {
            let store = store.clone();
            async move {
                for resource in body["resourceSpans"].as_array().into_iter().flatten() {
                    let service =
                        attribute(&resource["resource"], "service.name").unwrap_or_default();
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            store
                                .lock()
                                .expect("spans")
                                .push((service.clone(), span.clone()));
                        }
                    }
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, received)
}

/// A string or integer attribute of an OTLP JSON span or resource (an
/// integer may come as a JSON string, as OTLP's JSON encoding says, or a number).
fn attribute(item: &Value, key: &str) -> Option<String> {
    let value = &item["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"];
    match (&value["stringValue"], &value["intValue"]) {
        (Value::String(s), _) | (_, Value::String(s)) => Some(s.clone()),
        (_, Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by tests/run.sh with the other process tests"]
async fn one_chat_turn_is_one_trace_across_both_servers() {
    let fake = FakeModel::start(vec![
        Turn::Calls(vec![(
            "call_trace",
            "search_schools",
            json!({ "county": "Lamu", "limit": 3 }),
        )]),
        Turn::Metered("Lamu has schools.", 321, 12),
    ])
    .await;
    let (otlp_port, received) = otlp_receiver().await;
    let dir = std::env::temp_dir().join(format!("mas-traces-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let otel = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let mcp_port = free_port();
    let env = otel.clone();
    let mut mcp = Process::start("mcp-server", dir.join("mcp.log"), move || {
        let mut command = Command::new(binary("mcp-server"));
        command
            .env("MCP_PORT", mcp_port.to_string())
            .env("MCP_AUTH_TOKENS", "trace-token")
            .envs(env.clone());
        command
    });
    wait_for_port(mcp_port, "mcp-server");
    let chat_port = free_port();
    let (database, base) = (dir.join("chat.db"), fake.openai_base());
    let mut chat = Process::start("chat-server", dir.join("chat.log"), move || {
        let mut command = Command::new(binary("chat-server"));
        command
            .env("CHAT_PORT", chat_port.to_string())
            .env("DATABASE_URL", format!("sqlite://{}", database.display()))
            .env("MCP_SERVER_URL", format!("http://127.0.0.1:{mcp_port}/mcp"))
            .env("MCP_SERVER_TOKEN", "trace-token")
            .env("LLM_PROVIDER", "openai")
            .env("OPENAI_API_KEY", "test-key")
            .env("OPENAI_BASE_URL", &base)
            .env("OPENAI_MODEL", "fake-model")
            .envs(otel.clone());
        command
    });
    wait_for_port(chat_port, "chat-server");

    // The client's own trace: every span of the turn must be in it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let answer: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{chat_port}/api/chat"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({ "message": "Schools in Lamu?" }))
        .send()
        .await
        .expect("chat")
        .json()
        .await
        .expect("answer");
    assert_eq!(answer["message"], "Lamu has schools.", "{answer}");
    // Stopped, both send what they still hold.
    for process in [&mut chat, &mut mcp] {
        process.signal("TERM");
        assert!(
            process.wait(Duration::from_secs(20)),
            "{} exits 0",
            process.name
        );
    }

    let spans = received.lock().expect("spans").clone();
    let in_trace: Vec<&(String, Value)> = spans
        .iter()
        .filter(|(_, s)| {
            s["traceId"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(trace_id))
        })
        .collect();
    let names: Vec<String> = in_trace
        .iter()
        .map(|(service, s)| format!("{service}: {}", s["name"].as_str().unwrap_or("?")))
        .collect();
    let find = |service: &str, name: &str| {
        in_trace
            .iter()
            .find(|(s, span)| s == service && span["name"] == name)
            .map(|(_, span)| span)
            .unwrap_or_else(|| panic!("no {service} span {name:?} in the trace: {names:?}"))
    };
    let request = find("chat-server", "POST /api/chat");
    assert_eq!(
        request["parentSpanId"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(
        attribute(request, "http.route").as_deref(),
        Some("/api/chat")
    );
    let agent = in_trace
        .iter()
        .find(|(s, span)| {
            s == "chat-server"
                && span["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("invoke_agent "))
        })
        .map(|(_, span)| span)
        .unwrap_or_else(|| panic!("no invoke_agent span: {names:?}"));
    assert_eq!(agent["parentSpanId"], request["spanId"]);
    assert_eq!(
        attribute(agent, "gen_ai.operation.name").as_deref(),
        Some("invoke_agent")
    );
    let chats: Vec<&Value> = in_trace
        .iter()
        .filter(|(s, span)| s == "chat-server" && span["name"] == "chat fake-model")
        .map(|(_, span)| span)
        .collect();
    assert_eq!(
        chats.len(),
        2,
        "a chat span for each of the two model calls: {names:?}"
    );
    for chat in &chats {
        assert_eq!(chat["parentSpanId"], agent["spanId"]);
        assert_eq!(
            attribute(chat, "gen_ai.request.model").as_deref(),
            Some("fake-model")
        );
        assert_eq!(
            attribute(chat, "gen_ai.provider.name").as_deref(),
            Some("openai")
        );
    }
    assert!(
        chats.iter().any(
            |c| attribute(c, "gen_ai.usage.input_tokens").as_deref() == Some("321")
                && attribute(c, "gen_ai.usage.output_tokens").as_deref() == Some("12")
        ),
        "the answer's token usage on its chat span: {chats:?}"
    );
    let tool = find("chat-server", "execute_tool search_schools");
    assert_eq!(tool["parentSpanId"], agent["spanId"]);
    assert_eq!(
        attribute(tool, "gen_ai.tool.name").as_deref(),
        Some("search_schools")
    );
    assert_eq!(
        attribute(tool, "gen_ai.tool.call.id").as_deref(),
        Some("call_trace")
    );
    // The MCP server continued the trace from the call's `_meta`.
    let served = find("mcp-server", "tools/call search_schools");
    assert_eq!(served["parentSpanId"], tool["spanId"]);
    assert_eq!(
        attribute(served, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    // And its HTTP span, from the request's `traceparent` header.
    let http = find("mcp-server", "POST /mcp");
    assert_eq!(http["parentSpanId"], tool["spanId"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by tests/run.sh with the other process tests"]
async fn a_run_taken_over_links_its_spans_to_the_trace_it_began_in() {
    let (otlp_port, received) = otlp_receiver().await;
    let answer = leak(words("kilo", 40));
    let mut topology = Topology::start_with(
        vec![
            Turn::Slow(answer, Duration::from_millis(100)),
            Turn::Slow(answer, Duration::from_millis(10)),
        ],
        Layout {
            replicas: 2,
            edge_limits: true,
            otlp: Some(otlp_port),
        },
    )
    .await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = topology
        .http
        .post(format!("{}/chat/stream", topology.edge))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({ "message": "Count to forty" }))
        .send()
        .await
        .expect("POST /chat/stream through nginx");
    let mut reading = Reading::default();
    reading.read(response, |r| r.text.len() > 40).await;
    let victim = topology.producer().await;
    topology.replicas[victim].1.signal("KILL");
    topology.replicas[victim].1.wait(Duration::from_secs(5));
    let edge = topology.edge.clone();
    topology.finish(&edge, &mut reading).await;
    assert_eq!(reading.text, answer, "one complete answer");
    let survivor = &mut topology.replicas[1 - victim].1;
    survivor.signal("TERM");
    assert!(
        survivor.wait(Duration::from_secs(20)),
        "the survivor exits 0"
    );

    let spans = received.lock().expect("spans").clone();
    let taken_over = spans
        .iter()
        .filter(|(service, span)| {
            service == "chat-server"
                && span["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("invoke_agent "))
        })
        .find(|(_, span)| {
            span["links"].as_array().into_iter().flatten().any(|link| {
                link["traceId"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(trace_id))
            })
        });
    let names: Vec<String> = spans
        .iter()
        .map(|(service, s)| {
            format!(
                "{service}: {} {} links {}",
                s["name"], s["traceId"], s["links"]
            )
        })
        .collect();
    let (_, span) = taken_over.unwrap_or_else(|| {
        panic!("no invoke_agent span linked to the trace the run began in: {names:?}")
    });
    assert!(
        !span["traceId"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(trace_id)),
        "the survivor's run is a trace of its own, linked to the first"
    );
}
