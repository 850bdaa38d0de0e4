#!/usr/bin/env bash
# The embedded Prometheus: installs Debian's `prometheus` when missing and starts it in its own session (setsid:
# stopping the console never stops it), scraping the console's /metrics every 5 s with the scrape token.
# Safe to run again: it only starts one when none answers on its port.
#   BERTH_PROMETHEUS_PORT (9090)       where it listens, on 127.0.0.1
#   BERTH_PORT (8000)                  the console it scrapes, on 127.0.0.1
#   BERTH_DATA_DIR (var)               its configuration and data under prometheus/, the token in metrics-token
#   BERTH_METRICS_TOKEN                the scrape token (else the one in metrics-token, made once)
#   BERTH_PROMETHEUS_RETENTION (15d)   how long it keeps samples
# Berth uses another Prometheus instead when BERTH_PROMETHEUS_URL points at it (then this script is not needed).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${BERTH_DATA_DIR:-$PWD/var}
port=${BERTH_PROMETHEUS_PORT:-9090}
target=${BERTH_PORT:-8000}
retention=${BERTH_PROMETHEUS_RETENTION:-15d}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! command -v prometheus >/dev/null; then
  echo "prometheus: installing Debian's prometheus"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
  echo "prometheus: answering on 127.0.0.1:$port"
  exit 0
fi

mkdir -p "$data/prometheus/data"
token_file="$data/metrics-token"
umask 077  # the token file is the operator's alone from its first byte
if [ -n "${BERTH_METRICS_TOKEN:-}" ]; then
  printf '%s\n' "$BERTH_METRICS_TOKEN" >"$token_file"
elif [ ! -s "$token_file" ]; then
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file"
  echo >>"$token_file"
fi
chmod 600 "$token_file"
cat >"$data/prometheus/prometheus.yml" <<CONFIG
# Written by scripts/prometheus.sh: Berth's embedded Prometheus.
global:
  scrape_interval: 5s
  evaluation_interval: 15s
scrape_configs:
  - job_name: berth
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: $token_file
    static_configs:
      - targets: ["127.0.0.1:$target"]
CONFIG
echo "prometheus: starting on 127.0.0.1:$port (scraping 127.0.0.1:$target; log: $data/prometheus/prometheus.log)"
setsid -f prometheus --config.file="$data/prometheus/prometheus.yml" --storage.tsdb.path="$data/prometheus/data" \
  --storage.tsdb.retention.time="$retention" --web.listen-address="127.0.0.1:$port" \
  </dev/null >>"$data/prometheus/prometheus.log" 2>&1
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && exit 0; sleep 0.5; done
echo "prometheus: did not start; see $data/prometheus/prometheus.log" >&2
exit 1
