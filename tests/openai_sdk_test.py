"""MAS's OpenAI-compatible API driven by the official `openai` Python SDK.

Starts a fake model server (OpenAI's streaming chat-completions wire format,
the chat server's LLM provider) and the chat-server binary given as argv[1]
with authentication required, then checks: the agents as models; a
non-streaming and a streaming completion with usage; a client-defined tool
round trip (streaming and not); an unknown model (404); a bad key (401); a
client that disconnects mid-stream (the run is cancelled, the server keeps
serving); and X-MAS-Session / `user` keeping the conversation as a MAS session.

Run by tests/run.sh: .tools/venv/bin/python tests/openai_sdk_test.py target/debug/chat-server
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import openai

HELLO = "Hello from the fake model."


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeModel(http.server.BaseHTTPRequestHandler):
    """Answers like OpenAI's streaming chat completions, by what it is asked."""

    protocol_version = "HTTP/1.1"
    requests = []

    def log_message(self, *args):
        pass

    def chunk(self, delta, finish=None, usage=None):
        body = {
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
            "model": "fake-model",
            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            body["usage"] = usage
        data = f"data: {json.dumps(body)}\n\n".encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_POST(self):
        try:
            self.answer()
        except (BrokenPipeError, ConnectionResetError):
            FakeModel.dropped = True

    def answer(self):
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        FakeModel.requests.append(request)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        messages = request["messages"]
        last = messages[-1]
        tools = [t["function"]["name"] for t in request.get("tools", [])]
        words, gap = HELLO.split(" "), 0
        if last["role"] == "tool":
            words = f"The weather in Nairobi: {last['content']}".split(" ")
        elif "get_weather" in tools and "weather" in json.dumps(last).lower():
            self.chunk({"role": "assistant", "content": None})
            self.chunk({"tool_calls": [{"index": 0, "id": "call_w1", "type": "function",
                                        "function": {"name": "get_weather", "arguments": ""}}]})
            self.chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Nairobi"}'}}]})
            self.chunk({}, "tool_calls")
            self.chunk(None, usage={"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27})
            self.end_stream()
            return
        elif "slowly" in json.dumps(last):
            words, gap = [f"w{i}" for i in range(400)], 0.05
        for i, word in enumerate(words):
            self.chunk({"content": word if i == 0 else " " + word})
            time.sleep(gap)
        self.chunk({}, "stop")
        self.chunk(None, usage={"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16})
        self.end_stream()

    def end_stream(self):
        data = b"data: [DONE]\n\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")
        self.wfile.flush()


FakeModel.dropped = False


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def get(url, key):
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="mas-openai-")
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    port = free_port()
    env = dict(os.environ,
               DATABASE_URL=f"sqlite://{work}/chat.db", CHAT_PORT=str(port),
               AUTH_REQUIRED="true", SECRET_KEY="an openai sdk test secret that is long enough",
               LLM_PROVIDER="openai", OPENAI_API_KEY="fake", OPENAI_MODEL="fake-model",
               OPENAI_BASE_URL=f"http://127.0.0.1:{fake.server_address[1]}/v1",
               RATE_LIMIT_CHAT_PER_SECOND="0", LOG_LEVEL="warn")
    run = lambda *args, stdin=None: subprocess.run(
        [binary, *args], env=env, input=stdin, capture_output=True, text=True, check=True).stdout
    run("user", "add", "root", "--role", "admin", stdin="a long enough password\n")
    run("user", "add", "ann", stdin="a long enough password\n")
    key = run("key", "create", "ann", "--scopes", "chat,sessions:read").strip().splitlines()[-1].strip()
    assert key.startswith("mas_"), key
    server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/chat.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health")
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        checks(client, base, key)
    finally:
        server.terminate()
        server.wait(timeout=30)
        fake.shutdown()
    print("openai SDK against /v1: all checks passed")


def checks(client, base, key):
    # The agents as models.
    models = client.models.list().data
    ids = [m.id for m in models]
    assert "mas-coordinator" in ids and "mas-schools" in ids, ids
    assert all(m.object == "model" and m.owned_by == "mas" and m.created > 0 for m in models)
    assert client.models.retrieve("mas-schools").id == "mas-schools"

    # Non-streaming, with usage.
    completion = client.chat.completions.create(
        model="mas-coordinator",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}])
    assert completion.object == "chat.completion"
    assert completion.model == "mas-coordinator"
    assert completion.choices[0].message.content == HELLO, completion
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 11 and completion.usage.total_tokens == 16, completion.usage
    system = FakeModel.requests[-1]["messages"][0]
    assert system["role"] == "system" and system["content"].endswith("Be brief."), system

    # Streaming, with the usage chunk last.
    chunks = list(client.chat.completions.create(
        model="mas-coordinator", messages=[{"role": "user", "content": "Say hello"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == HELLO, text
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 16, chunks[-1]
    plain = list(client.chat.completions.create(
        model="mas-coordinator", messages=[{"role": "user", "content": "Say hello"}], stream=True))
    assert all(c.usage is None for c in plain), "usage only when asked for"

    # A client-defined tool: returned as tool_calls, its result continues the run.
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = [{"role": "user", "content": "What is the weather in Nairobi?"}]
    first = client.chat.completions.create(model="mas-coordinator", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Nairobi"}
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24°C"}]
    second = client.chat.completions.create(model="mas-coordinator", messages=messages, tools=tools)
    assert second.choices[0].message.content == "The weather in Nairobi: sunny, 24°C", second
    assert second.choices[0].finish_reason == "stop"
    streamed = list(client.chat.completions.create(
        model="mas-coordinator", messages=messages[:1], tools=tools, stream=True))
    deltas = [tc for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas and deltas[0].function.name == "get_weather", streamed
    assert streamed[-1].choices[0].finish_reason == "tool_calls"

    # Errors in OpenAI's envelope.
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as e:
        assert e.status_code == 404 and e.code == "model_not_found", e
    bad = openai.OpenAI(base_url=f"{base}/v1", api_key="mas_wrong_key", max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("a bad key was accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401, e
    try:
        client.chat.completions.create(model="mas-coordinator", messages=[])
        raise AssertionError("no messages was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and "messages" in str(e), e

    # `user` keeps the conversation as a MAS session; X-MAS-Session continues one.
    raw = client.chat.completions.with_raw_response.create(
        model="mas-coordinator", messages=[{"role": "user", "content": "Say hello"}], user="sdk-tests")
    session = raw.headers["x-mas-session"]
    raw.parse()
    kept = get(f"{base}/api/sessions/{session}", key)
    assert kept["session"]["title"] == "API · sdk-tests", kept["session"]
    assert [m["content"] for m in kept["messages"]] == ["Say hello", HELLO], kept["messages"]
    client.chat.completions.create(
        model="mas-coordinator", messages=[{"role": "user", "content": "Say hello again"}],
        extra_headers={"X-MAS-Session": session})
    assert len(get(f"{base}/api/sessions/{session}", key)["messages"]) == 4
    before = len(get(f"{base}/api/sessions", key)["sessions"])
    client.chat.completions.create(model="mas-coordinator", messages=[{"role": "user", "content": "Say hello"}])
    time.sleep(0.5)
    assert len(get(f"{base}/api/sessions", key)["sessions"]) == before, "without either, nothing is kept"

    # A client that leaves mid-stream: the run is cancelled, the server carries on.
    response = client.chat.completions.with_raw_response.create(
        model="mas-coordinator", messages=[{"role": "user", "content": "Count slowly"}],
        user="sdk-disconnect", stream=True)
    session = response.headers["x-mas-session"]
    stream = response.parse()
    seen = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
        if seen >= 5:
            break
    stream.close()
    deadline = time.time() + 10
    while True:
        last = get(f"{base}/api/sessions/{session}", key)["messages"][-1]
        if last["status"] == "cancelled":
            break
        assert time.time() < deadline, f"the run was not cancelled: {last}"
        time.sleep(0.2)
    assert last["content"].startswith("w0 w1 w2"), last
    deadline = time.time() + 5
    while not FakeModel.dropped:
        assert time.time() < deadline, "the model's stream was not closed"
        time.sleep(0.1)
    assert client.chat.completions.create(
        model="mas-coordinator", messages=[{"role": "user", "content": "Say hello"}]
    ).choices[0].message.content == HELLO


if __name__ == "__main__":
    main()
