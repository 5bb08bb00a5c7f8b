#!/usr/bin/env bash
# Memory benchmark (release build): building a turn's recollection for a user
# with 10,000 memories on SQLite and on a throwaway PostgreSQL, and time to
# first token with memory off, on, and on with a model extracting after every
# turn; then building the context of a 1,000-turn conversation. Prints the
# figures recorded in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/services.sh
trap stop_services EXIT
start_postgres >/dev/null
BENCH_DATABASE_URL=$TEST_DATABASE_URL cargo bench -p chat-server --bench memory --quiet 2>/dev/null
echo
cargo bench -p chat-server --bench context --quiet 2>/dev/null
