#!/usr/bin/env bash
# MCP server benchmarks; prints the figures recorded in the README.
#  1. search micro-benchmark (in process, embedded backend)
#  2. resident memory of the release server with all data loaded
#  3. full MCP sessions over HTTP, 50 virtual users: our server, then a FastMCP
#     (Python) server serving the same tool over the same data, side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
VUS=${VUS:-50}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

cargo build --release -p mcp-server --benches --bins --quiet
echo "== search micro-benchmark =="
cargo bench -p mcp-server --bench search --quiet 2>/dev/null | grep -v '^$'

P=$(port)
./target/release/mcp-server serve --port "$P" 2>/dev/null &
RUST_PID=$!
trap 'kill $RUST_PID ${PY_PID:-} 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$P/health"
echo
echo "== resident memory after start-up (all data loaded and indexed) =="
grep VmRSS "/proc/$RUST_PID/status"
echo
echo "== mas mcp-server (Rust), full sessions =="
MCP_URL="http://127.0.0.1:$P/mcp" VUS=$VUS SECONDS=$SECONDS_PER_RUN cargo bench -p mcp-server --bench sessions --quiet 2>/dev/null
echo "memory after load: $(grep VmRSS /proc/$RUST_PID/status)"
kill $RUST_PID

if [ ! -x .tools/bench-venv/bin/python ]; then python3 -m venv .tools/bench-venv; fi
.tools/bench-venv/bin/pip install -q --disable-pip-version-check fastmcp==4.1.2
P=$(port)
.tools/bench-venv/bin/python bench/fastmcp_server.py "$P" 2>/dev/null &
PY_PID=$!
for _ in $(seq 300); do (echo > /dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
echo
echo "== FastMCP (Python) baseline, same tool and data, full sessions =="
MCP_URL="http://127.0.0.1:$P/mcp" VUS=$VUS SECONDS=$SECONDS_PER_RUN cargo bench -p mcp-server --bench sessions --quiet 2>/dev/null
echo "memory after load: $(grep VmRSS /proc/$PY_PID/status)"
