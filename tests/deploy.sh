#!/usr/bin/env bash
# Validates the deployment files without a container engine: both compose
# files (docker-compose 1.29 from Debian), nginx.conf (nginx -t, with the
# service names pointed at loopback and a throwaway certificate), the
# Prometheus config and rules (promtool), Alertmanager (amtool), the
# Kubernetes manifests (kubernetes-validate, strict, against 1.31's schemas)
# and the Grafana dashboard (JSON). Run by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

docker-compose -f compose/docker-compose.yml config >/dev/null
MAS_HOSTNAME=mas.example.org docker-compose -f compose/docker-compose.prod.yml config >/dev/null
echo "compose files: valid"

mkdir -p "$scratch/etc/mas" "$scratch/etc/certs" "$scratch/logs"
cp nginx/*.conf "$scratch/etc/mas/"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=mas.example.org \
  -keyout "$scratch/etc/certs/privkey.pem" -out "$scratch/etc/certs/fullchain.pem" 2>/dev/null
sed -e "s#/etc/nginx/certs#$scratch/etc/certs#; s#/var/log/nginx#$scratch/logs#; s#/tmp/nginx.pid#$scratch/nginx.pid#" \
    -e "s#chat-server:8000#127.0.0.1:8000#; s#mcp-server:8001#127.0.0.1:8001#" \
    nginx/nginx.conf >"$scratch/etc/nginx.conf"
nginx -t -q -p "$scratch" -c "$scratch/etc/nginx.conf" -g "error_log $scratch/logs/error.log;"
echo "nginx.conf: nginx -t ok"

promtool check config --syntax-only monitoring/prometheus.yml >/dev/null
promtool check rules monitoring/alerts.yml >/dev/null
promtool test rules monitoring/alerts.test.yml >/dev/null
amtool check-config monitoring/alertmanager.yml >/dev/null
echo "prometheus config, alert rules (and their unit tests), alertmanager config: valid"

.tools/venv/bin/kubernetes-validate --strict --quiet compose/k8s/*.yaml
echo "kubernetes manifests: valid (strict, 1.31)"

python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["panels"], "no panels"' \
  monitoring/grafana/dashboards/mas.json
sh -n docker/entrypoint.sh
bash -n scripts/backup.sh
echo "grafana dashboard, entrypoint, backup script: valid"
