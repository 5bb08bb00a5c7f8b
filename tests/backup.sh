#!/usr/bin/env bash
# Backs up a chat database and a Redis with data in them, damages nothing,
# verifies, restores into a fresh database and a fresh Redis, and checks the
# data came back. Needs TEST_DATABASE_URL (tests/services.sh) and the
# chat-server binary as $1. Run by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
chat=$1
: "${TEST_DATABASE_URL:?start PostgreSQL first (tests/services.sh)}"
scratch=$(mktemp -d)
chmod 755 "$scratch"
redis_pids=()
cleanup() { for pid in "${redis_pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$scratch"; }
trap cleanup EXIT

base=${TEST_DATABASE_URL%/*}
for db in mas_backup mas_verify mas_restore; do
  psql -X -q "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
# Real rows, written by the binary: two users and a key.
echo 'a long enough password' | DATABASE_URL="$base/mas_backup" "$chat" user add root --role admin >/dev/null 2>&1
echo 'a long enough password' | DATABASE_URL="$base/mas_backup" "$chat" user add alice >/dev/null 2>&1
DATABASE_URL="$base/mas_backup" "$chat" key create alice --scopes chat >/dev/null 2>&1

start_redis() { # port dir
  mkdir -p "$2"
  redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --appendonly no --save '' >"$2/log" 2>&1 &
  redis_pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis-server did not start" >&2; exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
p1=$(free_port); start_redis "$p1" "$scratch/redis1"
redis-cli -p "$p1" XADD mas:log:run-1 1-0 e '{"type":"text_delta","text":"hello"}' >/dev/null
redis-cli -p "$p1" SET mas:tokens:alice:20000 1234 >/dev/null

DATABASE_URL="$base/mas_backup" REDIS_URL="redis://127.0.0.1:$p1" scripts/backup.sh backup "$scratch/backup" >/dev/null 2>&1
VERIFY_DATABASE_URL="$base/mas_verify" scripts/backup.sh verify "$scratch/backup"

# A damaged backup is refused.
cp -r "$scratch/backup" "$scratch/damaged"
printf 'x' >>"$scratch/damaged/postgres.dump"
if scripts/backup.sh verify "$scratch/damaged" >/dev/null 2>&1; then echo "a damaged backup passed verification" >&2; exit 1; fi

# Restore into a fresh database and a fresh Redis.
mkdir -p "$scratch/redis2"
DATABASE_URL="$base/mas_restore" scripts/backup.sh restore "$scratch/backup" "$scratch/redis2" >/dev/null
users=$(DATABASE_URL="$base/mas_restore" "$chat" user list 2>/dev/null | cut -f2 | grep -cxE 'root|alice' || true)
[ "$users" = 2 ] || { echo "restored users: $users, expected 2" >&2; exit 1; }
keys=$(DATABASE_URL="$base/mas_restore" "$chat" key list 2>/dev/null | grep -c '"scopes":\["chat"\]' || true)
[ "$keys" = 1 ] || { echo "restored keys: $keys, expected 1" >&2; exit 1; }
p2=$(free_port); start_redis "$p2" "$scratch/redis2"
[ "$(redis-cli -p "$p2" GET mas:tokens:alice:20000)" = 1234 ] || { echo "Redis key not restored" >&2; exit 1; }
[ "$(redis-cli -p "$p2" XLEN mas:log:run-1)" = 1 ] || { echo "Redis stream not restored" >&2; exit 1; }
echo "backup, verify, damaged backup refused, restore: ok"
