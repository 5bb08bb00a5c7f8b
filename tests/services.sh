#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis on loopback ports for the test suite.
# Source it: `source tests/services.sh; start_postgres; start_redis_path`.
# Everything lives under $MAS_TEST_DIR and is removed by stop_services.

: "${MAS_TEST_DIR:=$(mktemp -d /tmp/mas-test.XXXXXX)}"
export MAS_TEST_DIR
chmod 755 "$MAS_TEST_DIR"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$dir/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; return 1; }
  echo "$dir"
}

# Starts a cluster owned by the postgres user (PostgreSQL refuses to run as root)
# and exports TEST_DATABASE_URL.
start_postgres() {
  local bin port data
  bin=$(pg_bin) || return 1
  port=$(free_port)
  data="$MAS_TEST_DIR/pg"
  mkdir -p "$data" && chown postgres:postgres "$data"
  runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >"$MAS_TEST_DIR/initdb.log" 2>&1 ||
    { cat "$MAS_TEST_DIR/initdb.log" >&2; return 1; }
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -w -t 60 -l "$data/server.log" \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null ||
    { cat "$data/server.log" >&2; return 1; }
  export PG_DATA="$data"
  export PG_BIN="$bin"
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL on 127.0.0.1:$port"
}

stop_services() {
  if [ -n "${PG_DATA:-}" ] && [ -d "$PG_DATA" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -n "${MCP_PID:-}" ] && kill "$MCP_PID" 2>/dev/null || true
  rm -rf "$MAS_TEST_DIR"
}
