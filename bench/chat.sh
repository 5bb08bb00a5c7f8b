#!/usr/bin/env bash
# Chat-server relay benchmark (release build): added time to first token,
# relayed tokens/s, a FastAPI + sse-starlette relay of the same fake side by
# side, and 2,000 concurrent streams.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .tools/bench-venv/bin/python ]; then python3 -m venv .tools/bench-venv; fi
.tools/bench-venv/bin/pip install -q --disable-pip-version-check fastapi uvicorn sse-starlette httpx
FASTAPI_PYTHON="$PWD/.tools/bench-venv/bin/python" cargo bench -p chat-server --bench relay --quiet 2>/dev/null
