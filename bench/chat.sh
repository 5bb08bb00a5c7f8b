#!/usr/bin/env bash
# Chat-server relay benchmark (release build): added time to first token,
# relayed tokens/s, and 2,000 concurrent streams.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p chat-server --bench relay --quiet 2>/dev/null
