#!/usr/bin/env bash
# Load through nginx against one chat-server replica, then two, each on real
# PostgreSQL and Redis with the MCP server behind a token and a local fake
# model (release build). Prints runs/s, time to first token p50/p99 and
# errors. LOAD_RUNS (2000) and LOAD_CONCURRENCY (50) change the load.
# Needs what the test command installs (nginx, PostgreSQL, Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p mcp-server
cargo test --release --quiet -p chat-server --test topology load_through_nginx -- \
  --ignored --nocapture 2>&1 | grep -E "^nginx ->|panicked|FAILED"
