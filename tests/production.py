#!/usr/bin/env python3
"""The production topology of compose/docker-compose.prod.yml, run in containers.

podman-compose is not packaged for this Debian and docker compose needs a
Docker daemon, so this script reads the compose file itself and starts its
services with `podman run`: each service's image, environment (with the
file's `${...}` interpolation), secret files at /run/secrets, volumes, ports,
networks (service names resolve through aardvark-dns), `deploy.replicas`,
resource limits, command, entrypoint and health check, as compose would.

The test-only override (OVERRIDE below, and nothing else) differs from the file:
- the MAS images are the ones tests/containers.sh built from the Dockerfile
  (localhost/mas/*:test), not rebuilt;
- the third-party images cannot be pulled here (no registry is reachable): each
  is a stand-in built from Debian's packages (tests/production/standins.Containerfile)
  with the ports, paths, environment and secret files the compose file gives
  the official one; Grafana and Jaeger have no Debian package and are not run,
  so the servers' OTEL_* variables are dropped (tests/run.sh's trace step
  covers OTLP);
- the model is a local fake speaking Gemini's streaming wire format
  (GEMINI_BASE_URL), the only paid service in the file;
- published ports go to free loopback ports; restart policies and log options
  are left out (the containers are killed and stopped on purpose).

Then it proves, through nginx with TLS: HTTP is redirected, /metrics is not
public, the MCP server answers with its bearer token, sign-in works, a chat
turn with a tool call streams an answer, the producing chat-server container
SIGKILLed mid-answer -> the client resumes and gets one whole answer, the
tool having run once, saved complete; PostgreSQL restarted -> nothing lost
and a new turn works; Prometheus (Debian's package) scrapes every target as
up; PostgreSQL stopped -> MasPostgresDown fires and reaches Alertmanager.
Prints each step's time. Needs tests/containers.sh's images. Run by tests/run.sh.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "compose"
COMPOSE = COMPOSE_DIR / "docker-compose.prod.yml"
PREFIX = "mas-prod"
HOST = "mas.test"
PODMAN = ["podman", "--runtime", "runc"]
# podman's default rlimits are above this machine's hard limits; there is no
# systemd to time health checks (`podman healthcheck run` runs them).
LIMITS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=8192:8192", "--health-interval", "disable"]
# Subnets inside the compose file's TRUSTED_PROXIES (172.16.0.0/12), as
# Docker's default address pools are.
SUBNETS = {"backend": "172.28.0.0/16", "edge": "172.29.0.0/16"}
STANDINS = "tests/production/standins.Containerfile"
# Official image -> the stand-in's target in STANDINS.
STANDIN_TARGETS = {
    "nginx:1.27-bookworm": "nginx",
    "postgres:16-bookworm": "postgres",
    "redis:7-bookworm": "redis",
    "prom/prometheus:v2.53.0": "prometheus",
    "prom/alertmanager:v0.27.0": "alertmanager",
    "quay.io/prometheuscommunity/postgres-exporter:v0.15.0": "postgres-exporter",
    "oliver006/redis_exporter:v1.62.0-alpine": "redis-exporter",
    "nginx/nginx-prometheus-exporter:1.3.0": "nginx-exporter",
    "prom/node-exporter:v1.8.2": "node-exporter",
}
NOT_RUN = {"grafana": "no Debian package", "jaeger": "no Debian package"}
OTEL = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME")
PASSWORD = "a long admin password for the test"
QUESTION = "Which schools are called Moi Girls?"
ANSWER_WORDS = (
    "The search found several schools named Moi Girls across Kenya , most of them public secondary "
    "schools run by their counties , and the table below lists each one with its county , sub-county , "
    "level and ownership so you can tell them apart and pick the one you mean ."
).split()


# ---------------------------------------------------------------- utilities

started = time.monotonic()


def took(what: str) -> None:
    global started
    print(f"  ({what}: {time.monotonic() - started:.0f} s)", flush=True)
    started = time.monotonic()


def fail(message: str) -> None:
    print(f"production topology: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def sh(*args: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if check and done.returncode != 0:
        fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(what: str, seconds: float, probe, interval: float = 0.5):
    """Calls probe until it returns something truthy; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = probe()
        except (httpx.HTTPError, OSError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"{what}: not within {seconds:.0f} s")  # main() prints the containers' logs
        time.sleep(interval)


# ---------------------------------------------------- compose -> podman run

INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value, env: dict[str, str]):
    """Compose's variable substitution: $$, ${VAR}, ${VAR:-default}, ${VAR:?error}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        current = env.get(name)
        # With a colon an empty value counts as unset, as in the shell.
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op and op.endswith("-") and missing:
            return arg
        if op and op.endswith("?") and missing:
            fail(f"compose file: {arg}")
        return current or ""

    return INTERPOLATION.sub(one, value)


def as_list(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


class Compose:
    """The compose file, interpolated, with the override applied."""

    def __init__(self, env: dict[str, str], paths: dict[str, Path], override: dict):
        self.file = interpolate(yaml.safe_load(COMPOSE.read_text()), env)
        self.paths = paths
        self.override = override
        self.ports: dict[tuple[str, int], int] = {}

    def host_path(self, path: str) -> str:
        """A path of the compose file (relative to compose/), moved where the test keeps it."""
        for prefix, there in self.paths.items():
            if path == prefix or path.startswith(prefix + "/"):
                return str(there) + path[len(prefix) :]
        return str((COMPOSE_DIR / path).resolve())

    def replicas(self, service: str) -> list[str]:
        n = int(self.file["services"][service].get("deploy", {}).get("replicas", 1))
        return [f"{PREFIX}-{service}"] if n == 1 else [f"{PREFIX}-{service}-{i}" for i in range(1, n + 1)]

    def image(self, service: str) -> str:
        spec = self.file["services"][service]
        if "image" in self.override.get(service, {}):
            return self.override[service]["image"]
        target = STANDIN_TARGETS.get(spec["image"])
        if target is None:
            fail(f"{service}: no stand-in for {spec['image']}")
        return f"localhost/mas-standin/{target}:test"

    def args(self, service: str) -> list[str]:
        """`podman run` options for one container of `service` (without its name)."""
        spec = self.file["services"][service]
        extra = self.override.get(service, {})
        out: list[str] = [*LIMITS]
        networks = spec.get("networks", ["default"])
        for network in networks:
            out += ["--network", f"{PREFIX}-{network}"]
        out += ["--network-alias", service]
        environment = spec.get("environment", {})
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        environment = {**environment, **extra.get("environment", {})}
        for name in extra.get("drop_environment", ()):
            environment.pop(name, None)
        for name, value in environment.items():
            out += ["-e", f"{name}={value}"]
        for secret in spec.get("secrets", []):
            source = self.file["secrets"][secret]["file"]
            out += ["-v", f"{self.host_path(source)}:/run/secrets/{secret}:ro"]
        for volume in spec.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith((".", "/")):
                source = self.host_path(source) if source.startswith(".") else source
            else:
                source = f"{PREFIX}-{source}"
            out += ["-v", ":".join([source, target, *mode])]
        for port in spec.get("ports", []):
            inner = int(str(port).split(":")[-1])
            outer = self.ports.setdefault((service, inner), free_port())
            out += ["-p", f"127.0.0.1:{outer}:{inner}"]
        limits = spec.get("deploy", {}).get("resources", {}).get("limits", {})
        if "cpus" in limits:
            out += ["--cpus", str(limits["cpus"])]
        if "memory" in limits:
            out += ["--memory", str(limits["memory"])]
        if spec.get("pid") == "host":
            out += ["--pid", "host"]
        if "stop_grace_period" in spec:
            out += ["--stop-timeout", str(spec["stop_grace_period"]).rstrip("s")]
        check = spec.get("healthcheck")
        if check:
            test = check["test"]
            if test[0] == "CMD-SHELL":
                out += ["--health-cmd", test[1]]
            else:
                out += ["--health-cmd", json.dumps(test[1:])]
        if "entrypoint" in spec:
            out += ["--entrypoint", json.dumps(as_list(spec["entrypoint"]))]
        return out

    def command(self, service: str) -> list[str]:
        spec = self.file["services"][service]
        return as_list(spec["command"]) if "command" in spec else []

    def order(self, services: list[str]) -> list[str]:
        """`services` in the order `depends_on` starts them."""
        done: list[str] = []

        def visit(service: str) -> None:
            if service in done or service not in services:
                return
            for dependency in self.file["services"][service].get("depends_on", []):
                visit(dependency)
            done.append(service)

        for service in services:
            visit(service)
        return done

    def run(self, service: str) -> list[str]:
        names = self.replicas(service)
        for name in names:
            sh(*PODMAN, "run", "-d", "--name", name, *self.args(service), self.image(service), *self.command(service))
        return names


def healthy(name: str) -> bool:
    return subprocess.run(["podman", "healthcheck", "run", name], capture_output=True).returncode == 0


def logs(name: str) -> str:
    done = subprocess.run(["podman", "logs", "--tail", "30", name], capture_output=True, text=True)
    return done.stdout + done.stderr


# ------------------------------------------------------ the fake model (Gemini)


class FakeGemini(http.server.BaseHTTPRequestHandler):
    """`POST /v1beta/models/{model}:streamGenerateContent?alt=sse`, answered in
    the recorded wire format (chat-server/tests/fixtures/wire/gemini_*.sse):
    a turn ending in the user's question gets a `search_schools` function
    call; a turn ending in its function response gets the answer, a word every
    150 ms; a memory-extraction request gets `{"memories": []}`."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []
    lock = threading.Lock()

    def chunk(self, parts: list, finish: bool) -> bytes:
        candidate = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = "STOP"
        body = {
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 52, "candidatesTokenCount": 5, "totalTokenCount": 57},
            "modelVersion": "gemini-2.0-flash",
        }
        return b"data: " + json.dumps(body).encode() + b"\r\n\r\n"

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        contents = request.get("contents") or [{}]
        last = contents[-1].get("parts") or [{}]
        system = json.dumps(request.get("systemInstruction") or request.get("system_instruction") or "")
        if "You extract long-term memories" in system + json.dumps(contents):
            kind, chunks = "extract", [([{"text": '{"memories": []}'}], True)]
        elif any("functionResponse" in part for part in last):
            kind = "answer"
            chunks = [([{"text": (" " if i else "") + w}], i == len(ANSWER_WORDS) - 1) for i, w in enumerate(ANSWER_WORDS)]
        else:
            kind = "call"
            call = {"functionCall": {"name": "search_schools", "args": {"query": "Moi Girls"}}}
            chunks = [([call], True)]
        with self.lock:
            self.seen.append(kind)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        try:
            for parts, finish in chunks:
                self.wfile.write(self.chunk(parts, finish))
                self.wfile.flush()
                if kind == "answer":
                    time.sleep(0.15)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


# --------------------------------------------------------------- the client


class Reading:
    """An AI SDK UI message stream as a client shows it."""

    def __init__(self):
        self.run_id = self.session_id = self.last_id = None
        self.text = ""
        self.step_mark = 0
        self.discarded = 0
        self.tools: list[str] = []
        self.done = False

    def apply(self, part: dict) -> None:
        kind = part.get("type")
        if kind == "data-run":
            self.run_id = part["data"]["runId"]
            self.session_id = part["data"]["sessionId"]
        elif kind == "start-step":
            self.step_mark = len(self.text)
        elif kind == "data-step-discarded":
            self.text = self.text[: self.step_mark]
            self.discarded += 1
        elif kind == "text-delta":
            self.text += part.get("delta", "")
        elif kind == "tool-output-available":
            self.tools.append(part.get("toolCallId", ""))

    def read(self, response: httpx.Response, stop=lambda r: False) -> None:
        """Reads until [DONE], the end of the stream, or `stop`."""
        try:
            for line in response.iter_lines():
                if line.startswith("id: "):
                    self.last_id = line[4:]
                elif line.startswith("data: "):
                    if line[6:] == "[DONE]":
                        self.done = True
                        return
                    self.apply(json.loads(line[6:]))
                    if stop(self):
                        return
        except httpx.HTTPError:
            return


def client(port: int, cert: Path) -> httpx.Client:
    # mas.test is this test's name for the public host: it resolves to loopback.
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == HOST else host, *args, **kwargs)

    socket.getaddrinfo = resolve
    return httpx.Client(base_url=f"https://{HOST}:{port}", verify=str(cert), timeout=httpx.Timeout(30, read=25))


# ------------------------------------------------------------------ the test

COMPOSE_YAML_VOLUMES = list((yaml.safe_load(COMPOSE.read_text()).get("volumes") or {}).keys())


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="mas-prod-"))
    os.chmod(scratch, 0o755)
    names: list[str] = []
    conf = scratch / "containers.conf"
    # netavark with aardvark-dns: containers find each other by service name.
    conf.write_text('[network]\nnetwork_backend = "netavark"\n')
    os.environ["CONTAINERS_CONF"] = str(conf)
    fake = http.server.ThreadingHTTPServer(("0.0.0.0", 0), FakeGemini)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        run(scratch, names, fake.server_address[1])
    except SystemExit:
        for name in names:
            print(f"--- {name}\n{logs(name)}", file=sys.stderr)
        raise
    finally:
        for name in names:
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
        for network in SUBNETS:
            subprocess.run(["podman", "network", "rm", "-f", f"{PREFIX}-{network}"], capture_output=True)
        for volume in COMPOSE_YAML_VOLUMES:
            subprocess.run(["podman", "volume", "rm", "-f", f"{PREFIX}-{volume}"], capture_output=True)
        fake.shutdown()
        subprocess.run(["rm", "-rf", str(scratch)])


def run(scratch: Path, names: list[str], fake_port: int) -> None:
    if sh("podman", "info", "--format", "{{.Host.NetworkBackend}}").strip() != "netavark":
        fail("podman does not use netavark (install netavark and aardvark-dns)")
    for image in ("localhost/mas/chat-server:test", "localhost/mas/mcp-server:test"):
        if subprocess.run(["podman", "image", "exists", image]).returncode != 0:
            fail(f"{image} is missing: tests/containers.sh builds it")

    # The stand-ins (podman's layer cache keeps them between runs).
    for target in sorted(set(STANDIN_TARGETS.values())):
        sh(*PODMAN, "build", "--format", "docker", "--network", "host", "-q", "-f", STANDINS,
           "--target", target, "-t", f"localhost/mas-standin/{target}:test", "tests/production")
    took("stand-in images from Debian's packages")

    # The secrets and the certificate, as the README's Deployment section makes them.
    secrets, certs = scratch / "secrets", scratch / "certs"
    secrets.mkdir(mode=0o700)
    certs.mkdir(mode=0o700)
    values = {  # os.urandom(n).hex() is `openssl rand -hex n`
        "secret_key": os.urandom(32).hex(),
        "mcp_token": os.urandom(32).hex(),
        "postgres_password": os.urandom(24).hex(),
        "redis_password": os.urandom(24).hex(),
        "grafana_admin_password": os.urandom(16).hex(),
        "google_api_key": "fake-gemini-key",
        "tavily_api_key": "",
    }
    values["database_url"] = f"postgres://mas:{values['postgres_password']}@postgres:5432/mas"
    values["redis_url"] = f"redis://:{values['redis_password']}@redis:6379"
    for name, value in values.items():
        (secrets / name).write_text(value + ("\n" if name not in ("google_api_key", "tavily_api_key") else ""))
        os.chmod(secrets / name, 0o444)  # the README's `chmod 444 secrets/*`
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
       "-addext", f"subjectAltName=DNS:{HOST}", "-keyout", str(certs / "privkey.pem"), "-out", str(certs / "fullchain.pem"))

    override = {
        "chat-server": {
            "image": "localhost/mas/chat-server:test",
            "environment": {"GEMINI_BASE_URL": f"http://host.containers.internal:{fake_port}"},
            "drop_environment": OTEL,
        },
        "mcp-server": {"image": "localhost/mas/mcp-server:test", "drop_environment": OTEL},
    }
    compose = Compose({"MAS_HOSTNAME": HOST, "MAS_VERSION": "test"},
                      {"./secrets": secrets, "./certs": certs}, override)
    for network, subnet in SUBNETS.items():
        subprocess.run(["podman", "network", "rm", "-f", f"{PREFIX}-{network}"], capture_output=True)
        sh("podman", "network", "create", "--subnet", subnet, f"{PREFIX}-{network}")
    for volume in COMPOSE_YAML_VOLUMES:
        subprocess.run(["podman", "volume", "rm", "-f", f"{PREFIX}-{volume}"], capture_output=True)
    services = [s for s in compose.file["services"] if s not in NOT_RUN]
    for service in services:
        for name in compose.replicas(service):
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
    print(f"services from {COMPOSE.relative_to(ROOT)}: {', '.join(services)}; not run: "
          + ", ".join(f"{s} ({why})" for s, why in NOT_RUN.items()))

    # PostgreSQL and Redis first, then the first admin (production refuses to
    # start without one): `docker compose run --rm -T chat-server chat-server user add ...`.
    for service in ("postgres", "redis"):
        names += compose.run(service)
    for service in ("postgres", "redis"):
        until(f"{service}'s health check", 60, lambda: healthy(f"{PREFIX}-{service}"))
    names.append(f"{PREFIX}-admin")
    sh(*PODMAN, "run", "--rm", "-i", "--name", f"{PREFIX}-admin", *compose.args("chat-server"),
       compose.image("chat-server"), "chat-server", "user", "add", "root", "--role", "admin", stdin=PASSWORD + "\n")
    took("PostgreSQL, Redis, the first admin")

    for service in compose.order(services):
        if service not in ("postgres", "redis"):
            names += compose.run(service)
    # The compose file's health checks, and the MAS images' own HEALTHCHECK.
    with_checks = [n for s in services if "healthcheck" in compose.file["services"][s] or s in override
                   for n in compose.replicas(s)]
    for name in with_checks:
        until(f"{name}'s health check", 90, lambda: healthy(name))
    print(f"every health check passes: {', '.join(n.removeprefix(PREFIX + '-') for n in with_checks)}")
    took("every service started and healthy")

    edge = client(compose.ports[("nginx", 443)], certs / "fullchain.pem")
    plain = httpx.get(f"http://127.0.0.1:{compose.ports[('nginx', 80)]}/login", headers={"host": HOST})
    if plain.status_code != 301 or plain.headers.get("location") != f"https://{HOST}/login":
        fail(f"HTTP is not redirected to HTTPS: {plain.status_code} {plain.headers.get('location')}")
    health = edge.get("/health")
    if health.status_code != 200 or "max-age" not in health.headers.get("strict-transport-security", ""):
        fail(f"/health through nginx: {health.status_code} {dict(health.headers)}")
    if edge.get("/metrics").status_code != 404:
        fail("/metrics is public")
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "production.py", "version": "1"}}}
    mcp_headers = {"accept": "application/json, text/event-stream"}
    if edge.post("/mcp", json=initialize, headers=mcp_headers).status_code != 401:
        fail("the MCP server answered through nginx without its token")
    answer = edge.post("/mcp", json=initialize, headers={**mcp_headers, "authorization": f"Bearer {values['mcp_token']}"})
    if answer.status_code != 200 or "serverInfo" not in answer.text:
        fail(f"MCP initialize through nginx: {answer.status_code} {answer.text[:300]}")
    if edge.get("/api/sessions").status_code != 401:
        fail("the API answered without a sign-in")
    if edge.post("/login", data={"username": "root", "password": "wrong"}).status_code == 303:
        fail("a wrong password signed in")
    signed = edge.post("/login", data={"username": "root", "password": PASSWORD})
    if signed.status_code not in (302, 303) or not edge.cookies:
        fail(f"sign-in: {signed.status_code} {signed.text[:300]}")
    me = edge.get("/api/auth/me").json()
    if me.get("username") != "root" or not me.get("csrf_token"):
        fail(f"/api/auth/me after sign-in: {me}")
    edge.headers["x-csrf-token"] = me["csrf_token"]
    print("through nginx (TLS): HTTP redirected to HTTPS, HSTS, /metrics not public, MCP with its bearer token only, "
          "sign-in with the admin made by `chat-server user add`")
    took("the edge")

    # Prometheus: every target up (scraped every 15 s; the chat-server job
    # finds both replicas through DNS).
    prometheus = f"http://127.0.0.1:{compose.ports[('prometheus', 9090)]}"

    def targets_up():
        active = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
        jobs: dict[str, list[str]] = {}
        for target in active:
            jobs.setdefault(target["labels"]["job"], []).append(target["health"])
        want = {"chat-server": 2, "mcp-server": 1, "postgres": 1, "redis": 1, "nginx": 1, "node": 1}
        return all(jobs.get(job, []) == ["up"] * n for job, n in want.items()) and jobs

    jobs = until("Prometheus scraping every target as up", 120, targets_up, interval=2)
    print("Prometheus: every target up: " + ", ".join(f"{job} x{len(h)}" for job, h in sorted(jobs.items())))

    # The exporters reach what they watch, with the secrets the compose file gives them.
    def value(query: str):
        result = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}).json()["data"]["result"]
        return result[0]["value"][1] if result else None

    for metric in ("pg_up", "redis_up", "nginx_up"):
        until(f"{metric} == 1", 60, lambda: value(metric) == "1", interval=2)
    print("the exporters see their services: pg_up, redis_up and nginx_up are 1")
    took("Prometheus")

    # A chat turn with a tool call; its producer SIGKILLed mid-answer.
    reading = Reading()
    with edge.stream("POST", "/chat/stream", json={"message": QUESTION}) as response:
        if response.status_code != 200:
            fail(f"POST /chat/stream: {response.status_code} {response.read()[:300]}")
        reading.read(response, stop=lambda r: r.tools and len(r.text.split()) >= 8)
    if not reading.tools or reading.done:
        fail(f"the answer did not stream (tools {reading.tools}, text {reading.text!r})")
    chat_names = compose.replicas("chat-server")

    def producer():
        for name in chat_names:
            ready = subprocess.run(["podman", "exec", name, "curl", "-s", "http://127.0.0.1:8000/ready"],
                                   capture_output=True, text=True).stdout
            if ready and json.loads(ready).get("active_runs") == 1:
                return name
        return None

    victim = until("the producing replica", 10, producer, interval=0.1)
    shown = len(reading.text.split())
    sh("podman", "kill", "--signal", "KILL", victim)
    print(f"{victim} SIGKILLed with {shown} of {len(ANSWER_WORDS)} words shown")
    deadline = time.monotonic() + 90
    while not reading.done:
        if time.monotonic() > deadline:
            fail(f"the run did not finish on the other replica: {reading.text!r}\n{logs(chat_names[0])}{logs(chat_names[1])}")
        headers = {"last-event-id": reading.last_id} if reading.last_id else {}
        try:
            with edge.stream("GET", f"/api/runs/{reading.run_id}/stream", headers=headers) as response:
                if response.status_code == 200:
                    reading.read(response)
                    continue
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    expected = " ".join(ANSWER_WORDS)
    if reading.text != expected:
        fail(f"the resumed answer is not the one answer:\n got      {reading.text!r}\n expected {expected!r}")
    if len(reading.tools) != 1:
        fail(f"the tool's result was streamed {len(reading.tools)} times")
    survivor = next(n for n in chat_names if n != victim)
    executions = sh("podman", "exec", f"{PREFIX}-mcp-server", "curl", "-s", "http://127.0.0.1:8001/metrics")
    ran = sum(float(line.rsplit(" ", 1)[1]) for line in executions.splitlines()
              if line.startswith("mas_tool_executions_total{") and 'tool_name="search_schools"' in line)
    if ran != 1:
        fail(f"search_schools ran {ran:g} times on mcp-server")
    calls = FakeGemini.seen.count("call")
    if calls != 1:
        fail(f"the model was asked for the tool call {calls} times")

    def saved():
        session = edge.get(f"/api/sessions/{reading.session_id}").json()
        last = session["messages"][-1]
        return session if last["content"] == expected and last.get("status") == "complete" else None

    session = until("the whole answer saved as complete", 30, saved)
    print(f"the client resumed through nginx on {survivor}: one whole answer ({len(ANSWER_WORDS)} words, "
          f"{reading.discarded} interrupted step discarded), search_schools ran once, saved complete")
    took("a replica killed mid-answer")

    # PostgreSQL restarted: nothing lost, a new turn works.
    before = [(m["role"], m["content"], m.get("status")) for m in session["messages"]]
    sh("podman", "restart", "-t", "30", f"{PREFIX}-postgres")
    until("postgres healthy again", 60, lambda: healthy(f"{PREFIX}-postgres"))
    after = until("the session after the restart", 60,
                  lambda: edge.get(f"/api/sessions/{reading.session_id}").json()["messages"])
    if [(m["role"], m["content"], m.get("status")) for m in after] != before:
        fail("the saved messages changed across the PostgreSQL restart")
    second = Reading()
    with edge.stream("POST", "/chat/stream", json={"message": "And the ones in Nairobi?",
                                                   "session_id": reading.session_id}) as response:
        if response.status_code != 200:
            fail(f"a new turn after the PostgreSQL restart: {response.status_code}")
        second.read(response)
    if not second.done or second.text != expected:
        fail(f"the turn after the PostgreSQL restart: {second.text!r}")
    until("the second turn saved", 30,
          lambda: len(edge.get(f"/api/sessions/{reading.session_id}").json()["messages"]) == len(before) + 2)
    print(f"PostgreSQL restarted: the {len(before)} saved messages unchanged, a new turn answered and saved")
    took("PostgreSQL restarted")

    # PostgreSQL stopped: MasPostgresDown (pg_up == 0 for 1m) fires and reaches Alertmanager.
    sh("podman", "stop", "-t", "30", f"{PREFIX}-postgres")
    stopped = time.monotonic()

    def firing():
        alerts = httpx.get(f"{prometheus}/api/v1/alerts").json()["data"]["alerts"]
        return any(a["labels"]["alertname"] == "MasPostgresDown" and a["state"] == "firing" for a in alerts)

    until("MasPostgresDown firing in Prometheus", 180, firing, interval=2)
    alertmanager = f"http://127.0.0.1:{compose.ports[('alertmanager', 9093)]}"
    until("MasPostgresDown in Alertmanager", 60, lambda: any(
        a["labels"]["alertname"] == "MasPostgresDown" for a in httpx.get(f"{alertmanager}/api/v2/alerts").json()))
    print(f"PostgreSQL stopped: MasPostgresDown firing after {time.monotonic() - stopped:.0f} s, received by Alertmanager")
    took("an alert")
    print("production topology in containers: ok")


if __name__ == "__main__":
    main()
