#!/usr/bin/env bash
# The repository's Dockerfile built and its two images run as a user's
# machine would, with podman (Debian's, with runc). No image registry is
# reachable here, so the two base images the Dockerfile names are made
# locally first and kept between runs: debian:bookworm-slim from debootstrap
# (the Debian mirror apt uses), and the cargo-chef builder from that, the
# host's Rust toolchain (the version rust-toolchain.toml pins) and cargo-chef
# from crates.io (tests/containers/builder.Containerfile). podman's layer
# cache keeps the dependency layer between runs. Then, for each image: its
# size, the time to /health, uid 10001 on a read-only root filesystem with a
# tmpfs where the code writes (as compose/k8s runs it), its HEALTHCHECK,
# `*_FILE` secrets, and `podman stop` draining a running answer with exit 0.
# Prints each step's time. Run by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
scratch=$(mktemp -d)
chmod 755 "$scratch"
containers=()
fake_pid=
cleanup() {
  for name in "${containers[@]}"; do podman rm -f "$name" >/dev/null 2>&1 || true; done
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
started=$SECONDS
took() { echo "  ($1: $((SECONDS - started)) s)"; started=$SECONDS; }
podman_=(podman --runtime runc)
# podman's default rlimits are above this machine's hard limits: below them.
# No systemd here to time the health checks; `podman healthcheck run` runs them.
limits=(--ulimit nofile=16384:16384 --ulimit nproc=8192:8192 --health-interval disable)
keep=/var/tmp/mas-images

# The base images the Dockerfile names.
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-http://deb.debian.org/debian}
  rm -rf "$keep/rootfs" && mkdir -p "$keep"
  debootstrap --variant=minbase bookworm "$keep/rootfs" "$mirror" >"$keep/debootstrap.log" 2>&1 ||
    { tail -20 "$keep/debootstrap.log"; exit 1; }
  tar -C "$keep/rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$keep/rootfs"
fi
builder=docker.io/lukemathwalker/cargo-chef:latest-rust-1-bookworm
if ! podman image exists "$builder"; then
  toolchain=$(realpath "$(rustc --print sysroot)")
  "${podman_[@]}" build --network host -q -v "$toolchain:/host-rust:ro" \
    -v /usr/local/share/ca-certificates:/host-ca:ro \
    -f tests/containers/builder.Containerfile -t "$builder" tests/containers >/dev/null
fi
took "base images"

# Both targets of the Dockerfile, as it is (Docker format: OCI images drop
# HEALTHCHECK).
for target in mcp-server chat-server; do
  "${podman_[@]}" build --format docker --network host --target "$target" -t "localhost/mas/$target:test" . \
    >"$scratch/build-$target.log" 2>&1 || { tail -40 "$scratch/build-$target.log"; exit 1; }
  size=$(podman image inspect --format '{{.Size}}' "localhost/mas/$target:test")
  echo "$target image: $((size / 1000000)) MB"
  took "build $target"
done

# Runs image $1 as container $2 (already in `containers`) publishing port $3
# (its own) on $4, read-only, with the rest of the arguments; prints the
# milliseconds to /health.
start() {
  local image=$1 name=$2 inner=$3 outer=$4 t0
  shift 4
  t0=$(date +%s%N)
  "${podman_[@]}" run -d --name "$name" "${limits[@]}" --read-only --tmpfs /tmp \
    -p "127.0.0.1:$outer:$inner" "$@" "$image" >/dev/null 2>>"$scratch/podman.log" ||
    { tail -5 "$scratch/podman.log"; exit 1; }
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$outer/health" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -fs "http://127.0.0.1:$outer/health" >/dev/null || { podman logs "$name" | tail -20; exit 1; }
  echo $((($(date +%s%N) - t0) / 1000000))
}
# What every container must be: uid 10001, a root it cannot write, a healthy HEALTHCHECK.
hardened() { # name
  [ "$(podman exec "$1" id -u)" = 10001 ] || { echo "$1 does not run as uid 10001"; exit 1; }
  # Not even root could write its root filesystem.
  if podman exec --user 0 "$1" touch /probe 2>/dev/null; then echo "$1: its root filesystem is writable"; exit 1; fi
  podman healthcheck run "$1" >/dev/null 2>>"$scratch/podman.log" || { echo "$1: its HEALTHCHECK fails"; exit 1; }
}
# Stops container $1 (SIGTERM, then up to 30 s); its exit status must be 0.
stopped() {
  "${podman_[@]}" stop -t 30 "$1" >/dev/null 2>>"$scratch/podman.log"
  local code
  code=$(podman inspect --format '{{.State.ExitCode}}' "$1")
  [ "$code" = 0 ] || { echo "$1 exited $code on podman stop"; podman logs "$1" | tail -20; exit 1; }
}

# mcp-server: its bearer token from a secret file.
mkdir -p "$scratch/secrets"
openssl rand -hex 16 >"$scratch/secrets/mcp_token"
chmod 644 "$scratch/secrets/mcp_token"
port=$(free_port)
containers+=(mas-test-mcp)
ms=$(start localhost/mas/mcp-server:test mas-test-mcp 8001 "$port" \
  -e MCP_AUTH_TOKENS_FILE=/run/secrets/mcp_token -v "$scratch/secrets/mcp_token:/run/secrets/mcp_token:ro")
echo "mcp-server container: /health in $ms ms"
hardened mas-test-mcp
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"containers.sh","version":"1"}}}'
mcp() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/mcp" -H 'content-type: application/json' \
  -H 'accept: application/json, text/event-stream' "$@" -d "$init"; }
[ "$(mcp)" = 401 ] || { echo "mcp-server answered without the token"; exit 1; }
[ "$(mcp -H "authorization: Bearer $(cat "$scratch/secrets/mcp_token")")" = 200 ] ||
  { echo "mcp-server refused the token from MCP_AUTH_TOKENS_FILE"; exit 1; }
stopped mas-test-mcp
# A secret its user cannot read (0600, root's) stops the start with the file's name.
cp "$scratch/secrets/mcp_token" "$scratch/secrets/unreadable" && chmod 600 "$scratch/secrets/unreadable"
containers+=(mas-test-unreadable)
if timeout 30 "${podman_[@]}" run --rm --name mas-test-unreadable "${limits[@]}" --read-only -e MCP_AUTH_TOKENS_FILE=/run/secrets/mcp_token \
  -v "$scratch/secrets/unreadable:/run/secrets/mcp_token:ro" localhost/mas/mcp-server:test >"$scratch/unreadable.log" 2>&1; then
  echo "mcp-server started with a secret file it cannot read"; exit 1
fi
grep -q "mas-entrypoint: cannot read /run/secrets/mcp_token (MCP_AUTH_TOKENS_FILE)" "$scratch/unreadable.log" ||
  { echo "an unreadable secret file is not named:"; cat "$scratch/unreadable.log"; exit 1; }
echo "mcp-server container: uid 10001, read-only root, HEALTHCHECK healthy, MCP_AUTH_TOKENS_FILE read (an unreadable one refused by name), stopped with 0"
took "mcp-server checks"

# A model for the chat server: OpenAI's recorded stream, an event every 150 ms.
fixture=chat-server/tests/fixtures/wire/openai_text_usage_done.sse
fake_port=$(free_port)
python3 - "$fake_port" "$fixture" "$scratch/authorization" <<'EOF' &
import http.server, sys, time
port, fixture, seen = int(sys.argv[1]), sys.argv[2], sys.argv[3]
events = [e for e in open(fixture, "rb").read().split(b"\n\n") if e.strip()]
class Model(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        open(seen, "a").write((self.headers.get("authorization") or "") + "\n")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event + b"\n\n")
            self.wfile.flush()
            time.sleep(0.15)
        self.close_connection = True
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), Model).serve_forever()
EOF
fake_pid=$!
openssl rand -hex 12 >"$scratch/secrets/openai_key"
echo "sqlite:///var/lib/mas/chat.db" >"$scratch/secrets/database_url"
chmod 644 "$scratch/secrets/"*
port=$(free_port)
containers+=(mas-test-chat)
ms=$(start localhost/mas/chat-server:test mas-test-chat 8000 "$port" --tmpfs /var/lib/mas:rw,U \
  -e LLM_PROVIDER=openai -e OPENAI_MODEL=gpt-4o -e "OPENAI_BASE_URL=http://host.containers.internal:$fake_port/v1" \
  -e OPENAI_API_KEY_FILE=/run/secrets/openai_key -e DATABASE_URL_FILE=/run/secrets/database_url \
  -v "$scratch/secrets/openai_key:/run/secrets/openai_key:ro" -v "$scratch/secrets/database_url:/run/secrets/database_url:ro")
echo "chat-server container: /health in $ms ms"
hardened mas-test-chat
podman exec mas-test-chat test -s /var/lib/mas/chat.db || { echo "DATABASE_URL_FILE was not read"; exit 1; }
# An answer under way when the container is stopped is finished first.
curl -s -m 60 "http://127.0.0.1:$port/api/chat" -H 'content-type: application/json' \
  -d '{"message":"What is the weather in San Francisco?"}' >"$scratch/answer.json" &
asking=$!
for _ in $(seq 100); do [ -s "$scratch/authorization" ] && break; sleep 0.05; done
sleep 0.5
stopped mas-test-chat
wait "$asking" || { echo "the answer broke off when the container stopped"; exit 1; }
expected=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["openai_text_usage_done.sse"]["result"]["text"])' \
  chat-server/tests/fixtures/wire/expected.json)
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("message"))' "$scratch/answer.json")
[ "$got" = "$expected" ] || { echo "the drained answer is not whole: $(cat "$scratch/answer.json")"; exit 1; }
grep -qx "Bearer $(cat "$scratch/secrets/openai_key")" "$scratch/authorization" ||
  { echo "the model was not called with the key from OPENAI_API_KEY_FILE"; exit 1; }
echo "chat-server container: uid 10001, read-only root (tmpfs /tmp, /var/lib/mas), HEALTHCHECK healthy, DATABASE_URL_FILE and OPENAI_API_KEY_FILE read, podman stop drained a running answer (whole) and exited 0"
took "chat-server checks"
