#!/bin/sh
# Secrets come from files (docker/kubernetes secrets), never from the image:
# for every VAR_FILE in the environment, VAR is set to that file's content.
set -eu
for pair in $(env | grep -E '^[A-Z0-9_]+_FILE=' | cut -d= -f1); do
  var=${pair%_FILE}
  file=$(printenv "$pair")
  # An empty file (an unused provider's key) leaves the variable unset.
  if [ -z "$(printenv "$var" 2>/dev/null || true)" ] && [ -s "$file" ]; then
    # A file the container's user cannot read stops the start with its name
    # (a secret created 0600 on the host, say), rather than leaving VAR unset.
    value=$(cat "$file") || { echo "mas-entrypoint: cannot read $file ($pair)" >&2; exit 1; }
    export "$var=$value"
  fi
done
exec "$@"
