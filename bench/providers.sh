#!/usr/bin/env bash
# Provider stream-parser benchmark (release build): MB/s over the recorded real
# streams and nanoseconds per streamed token, per vendor format.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p chat-server --bench parsers --quiet 2>/dev/null
