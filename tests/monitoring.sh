#!/usr/bin/env bash
# The monitoring of compose/docker-compose.prod.yml against real services,
# without containers: Redis from compose/redis.conf (is it bounded, and does
# it refuse writes when full rather than evict?), nginx's status page
# (nginx/status.conf), Debian's packages of the four exporters the compose
# file runs (PostgreSQL, Redis, nginx, node), the chat-server and mcp-server
# binaries, and Prometheus scraping them under the job names of
# monitoring/prometheus.yml with monitoring/alerts.yml loaded. Checks every
# target is up, every exporter metric the alert rules and the dashboard name
# exists, and that stopping PostgreSQL raises MasPostgresDown. Needs
# tests/services.sh's PostgreSQL (restarted afterwards), the binaries as $1
# (chat-server) and $2 (mcp-server). Run by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
chat=$1
mcp=$2
: "${TEST_DATABASE_URL:?start PostgreSQL first (tests/services.sh)}"
: "${PG_DATA:?}" "${PG_BIN:?}"
scratch=$(mktemp -d)
chmod 755 "$scratch"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$scratch/nginx.pid" ] && kill "$(cat "$scratch/nginx.pid")" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url what
  for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$2 did not answer $1" >&2; exit 1
}

# Redis from the production file: bounded, noeviction.
redis_port=$(free_port)
mkdir -p "$scratch/redis"
redis-server compose/redis.conf --port "$redis_port" --bind 127.0.0.1 --dir "$scratch/redis" \
  --appendonly no --save '' >"$scratch/redis/log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
rcli() { redis-cli -p "$redis_port" "$@"; }
[ "$(rcli CONFIG GET maxmemory | tail -1)" = 536870912 ] || { echo "compose/redis.conf: maxmemory is not 512mb"; exit 1; }
[ "$(rcli CONFIG GET maxmemory-policy | tail -1)" = noeviction ] || { echo "compose/redis.conf: the policy is not noeviction"; exit 1; }
# Full: with 1 MiB left, keys with a TTL (as every MAS key has) are written
# until Redis refuses; every key written must still be there.
used=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
rcli CONFIG SET maxmemory $((used + 1048576)) >/dev/null
payload=$(head -c 4096 /dev/zero | tr '\0' x)
written=0
refused=
for i in $(seq 2000); do
  reply=$(rcli SET "mas:log:run-$i" "$payload" EX 3600)
  if [ "$reply" = OK ]; then written=$i; else refused=$reply; break; fi
done
case "$refused" in OOM*) ;; *) echo "Redis did not refuse a write when full (last reply: ${refused:-OK})"; exit 1 ;; esac
kept=$(rcli DBSIZE)
[ "$kept" = "$written" ] || { echo "Redis evicted keys when full: $written written, $kept kept"; exit 1; }
[ "$(rcli EXISTS mas:log:run-1)" = 1 ] || { echo "the first key written is gone"; exit 1; }
rcli CONFIG SET maxmemory 536870912 >/dev/null
rcli FLUSHALL >/dev/null
echo "redis.conf: maxmemory 512mb, noeviction: full, it refused a write ($refused) and kept all $written keys"

# nginx's status page, as nginx/status.conf serves it (on a free port).
nginx_port=$(free_port)
mkdir -p "$scratch/nginx/logs"
sed "s/listen 8081;/listen 127.0.0.1:$nginx_port;/" nginx/status.conf >"$scratch/nginx/status.conf"
cat >"$scratch/nginx/nginx.conf" <<EOF
pid $scratch/nginx.pid;
error_log $scratch/nginx/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $scratch/nginx/body;
    proxy_temp_path $scratch/nginx/proxy;
    fastcgi_temp_path $scratch/nginx/fastcgi;
    uwsgi_temp_path $scratch/nginx/uwsgi;
    scgi_temp_path $scratch/nginx/scgi;
    include $scratch/nginx/status.conf;
}
EOF
nginx -p "$scratch/nginx" -c "$scratch/nginx/nginx.conf"
wait_http "http://127.0.0.1:$nginx_port/stub_status" nginx

# The MAS servers, the chat server on its own PostgreSQL database.
base=${TEST_DATABASE_URL%/*}
PGOPTIONS=--client-min-messages=warning psql -X -q "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS mas_monitoring" -c "CREATE DATABASE mas_monitoring"
chat_port=$(free_port)
mcp_port=$(free_port)
"$mcp" serve --port "$mcp_port" >"$scratch/mcp.log" 2>&1 &
pids+=($!)
DATABASE_URL="$base/mas_monitoring" "$chat" serve --port "$chat_port" >"$scratch/chat.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$mcp_port/health" mcp-server
wait_http "http://127.0.0.1:$chat_port/health" chat-server

# The exporters (Debian's packages of the images the compose file runs).
declare -A port
for job in postgres redis nginx node; do port[$job]=$(free_port); done
pg_port=${base##*:}
DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="127.0.0.1:${port[postgres]}" >"$scratch/pg-exporter.log" 2>&1 &
pids+=($!)
prometheus-redis-exporter -redis.addr "redis://127.0.0.1:$redis_port" \
  -web.listen-address "127.0.0.1:${port[redis]}" >"$scratch/redis-exporter.log" 2>&1 &
pids+=($!)
prometheus-nginx-exporter -nginx.scrape-uri "http://127.0.0.1:$nginx_port/stub_status" \
  -web.listen-address "127.0.0.1:${port[nginx]}" >"$scratch/nginx-exporter.log" 2>&1 &
pids+=($!)
prometheus-node-exporter --web.listen-address="127.0.0.1:${port[node]}" >"$scratch/node-exporter.log" 2>&1 &
pids+=($!)

# Prometheus with the production rules and the production job names.
prom_port=$(free_port)
targets() { printf '  - job_name: %s\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$1" "$2"; }
{
  printf 'global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\nrule_files:\n  - %s/monitoring/alerts.yml\nscrape_configs:\n' "$ROOT"
  targets chat-server "$chat_port"
  targets mcp-server "$mcp_port"
  for job in postgres redis nginx node; do targets "$job" "${port[$job]}"; done
} >"$scratch/prometheus.yml"
jobs_here=$(grep -o 'job_name: [a-z-]*' "$scratch/prometheus.yml" | sort)
jobs_prod=$(grep -o 'job_name: [a-z-]*' monitoring/prometheus.yml | sort)
[ "$jobs_here" = "$jobs_prod" ] || { echo "monitoring/prometheus.yml has other jobs than this test scrapes:"; echo "$jobs_prod"; exit 1; }
prometheus --config.file="$scratch/prometheus.yml" --storage.tsdb.path="$scratch/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$scratch/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$prom_port/api/v1"
wait_http "http://127.0.0.1:$prom_port/-/ready" prometheus

query() { curl -fsG "$api/query" --data-urlencode "query=$1"; }
# Every target up (each scraped once a second).
for _ in $(seq 60); do
  down=$(curl -fs "$api/targets" | python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
print(" ".join("%s:%s" % (t["labels"]["job"], t["health"]) for t in targets if t["health"] != "up") or ("none" if len(targets) == 6 else "missing"))')
  [ "$down" = none ] && break
  sleep 0.5
done
[ "$down" = none ] || { echo "targets not up: $down"; tail -5 "$scratch"/*exporter.log; exit 1; }
echo "prometheus: all 6 jobs up (chat-server, mcp-server, postgres, redis, nginx, node)"

# Every exporter metric the rules and the dashboard use, as the exporters name it.
names=$(grep -ohE '\b(pg|redis|nginx|node)_[a-zA-Z_]+' monitoring/alerts.yml monitoring/grafana/dashboards/mas.json | sort -u)
for name in $names; do
  count=$(query "count($name)" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  [ "$count" != 0 ] || { echo "no series named $name: the exporters do not have it"; exit 1; }
done
echo "exporter metrics in the rules and the dashboard: all $(echo "$names" | wc -w) exist"
# The rules' own expressions run on them (an empty result is fine; an error is not).
healthy=$(curl -fs "$api/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
bad = [r["name"] for g in groups for r in g["rules"] if r.get("health") not in ("ok", "unknown")]
print(" ".join(bad) or "ok")')
[ "$healthy" = ok ] || { echo "alert rules failing to evaluate: $healthy"; exit 1; }

# PostgreSQL stops: its alert goes pending at once (firing after its minute).
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
state=
for _ in $(seq 60); do
  state=$(curl -fs "$api/alerts" | python3 -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
print(next((a["state"] for a in alerts if a["labels"]["alertname"] == "MasPostgresDown"), ""))')
  [ -n "$state" ] && break
  sleep 0.5
done
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 60 -l "$PG_DATA/server.log" \
  -o "-p $pg_port -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
[ -n "$state" ] || { echo "MasPostgresDown did not go off when PostgreSQL stopped"; exit 1; }
echo "PostgreSQL stopped: MasPostgresDown is $state (pg_up == 0); PostgreSQL started again"
