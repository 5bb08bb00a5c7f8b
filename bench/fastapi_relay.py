"""The comparison relay for the chat benchmark: FastAPI + sse-starlette (the
Python original's stack) relaying the same fake model's stream as SSE
text-delta events. It does less than the chat server (no agent loop, no run
log, no database), which keeps the comparison fair to Python.

Usage: python bench/fastapi_relay.py FAKE_URL PORT
"""

import json
import sys

import httpx
import uvicorn
from fastapi import FastAPI, Request
from sse_starlette.sse import EventSourceResponse

FAKE = sys.argv[1]
PORT = int(sys.argv[2])
app = FastAPI()
client = httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_connections=4000))


@app.post("/chat/stream")
async def chat(request: Request):
    body = await request.json()

    async def relay():
        payload = {"stream": True, "messages": [{"role": "user", "content": body["message"]}]}
        async with client.stream("POST", f"{FAKE}/v1/chat/completions", json=payload) as upstream:
            async for line in upstream.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    yield {"data": json.dumps({"type": "text-delta", "id": "t", "delta": delta})}
        yield {"data": "[DONE]"}

    return EventSourceResponse(relay())


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
