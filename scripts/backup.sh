#!/usr/bin/env bash
# Backs up, verifies and restores MAS's state: the chat database (PostgreSQL,
# custom-format dump) and Redis (an RDB snapshot: run logs, limits, leases).
#
#   DATABASE_URL=postgres://... REDIS_URL=redis://... scripts/backup.sh backup DIR
#   scripts/backup.sh verify DIR            # checksums, dump readable, RDB sound;
#                                           # with VERIFY_DATABASE_URL, restored and counted there
#   DATABASE_URL=... scripts/backup.sh restore DIR [REDIS_DATA_DIR]
#
# Needs pg_dump/pg_restore/psql of the server's major version, redis-cli and
# redis-check-rdb (Debian: postgresql-client, redis-tools).
set -euo pipefail

die() { echo "backup.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: backup.sh backup|verify|restore DIR [REDIS_DATA_DIR]"
action=$1 dir=$2

counts() { # table row counts of a database, one "table count" per line
  psql -X -A -t -q "$1" -c "SELECT format('%s %s', c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1"
}

case $action in
  backup)
    : "${DATABASE_URL:?DATABASE_URL is needed}" "${REDIS_URL:?REDIS_URL is needed}"
    mkdir -p "$dir"
    pg_dump --format=custom --no-owner --file="$dir/postgres.dump" "$DATABASE_URL"
    counts "$DATABASE_URL" >"$dir/postgres.counts"
    redis-cli -u "$REDIS_URL" --no-auth-warning --rdb "$dir/redis.rdb" >/dev/null
    (cd "$dir" && sha256sum postgres.dump postgres.counts redis.rdb >SHA256SUMS)
    echo "backed up to $dir"
    "$0" verify "$dir"
    ;;
  verify)
    (cd "$dir" && sha256sum --quiet -c SHA256SUMS) || die "checksums do not match"
    pg_restore --list "$dir/postgres.dump" >/dev/null || die "the PostgreSQL dump is unreadable"
    redis-check-rdb "$dir/redis.rdb" >/dev/null || die "the Redis snapshot is damaged"
    if [ -n "${VERIFY_DATABASE_URL:-}" ]; then
      pg_restore --no-owner --clean --if-exists --exit-on-error -d "$VERIFY_DATABASE_URL" "$dir/postgres.dump"
      diff <(counts "$VERIFY_DATABASE_URL") "$dir/postgres.counts" ||
        die "the restored database's row counts differ from the backup's"
      echo "verified: restored into VERIFY_DATABASE_URL with the same row counts"
    fi
    echo "verified $dir"
    ;;
  restore)
    : "${DATABASE_URL:?DATABASE_URL is needed}"
    "$0" verify "$dir"
    pg_restore --no-owner --clean --if-exists --exit-on-error -d "$DATABASE_URL" "$dir/postgres.dump"
    diff <(counts "$DATABASE_URL") "$dir/postgres.counts" || die "row counts differ after the restore"
    echo "PostgreSQL restored"
    if [ -n "${3:-}" ]; then
      # Redis loads a snapshot only at start: stop it, put the file in place, start it.
      install -m 0644 "$dir/redis.rdb" "$3/dump.rdb"
      echo "Redis snapshot placed at $3/dump.rdb: start Redis with appendonly off once to load it"
    fi
    ;;
  *) die "unknown action $action" ;;
esac
