#!/usr/bin/env bash
# `make up`: set everything up, then run the console (ASGI server, Celery worker and beat, Docker
# events watcher) in the foreground with honcho. Ctrl-C (or SIGTERM) stops them all, and is the normal way to
# stop the console: this script then ends with status 0. Under `make up` make itself gets the terminal's Ctrl-C
# and ends as interrupted, whatever its recipe returns. dockerd and Redis run in their own session
# (scripts/services.sh) and keep running.
#
# `scripts/up.sh --console-only [PROCFILE]` runs only the console part (what the tests drive).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
procfile=Procfile
if [ "${1:-}" = "--console-only" ]; then
  procfile="${2:-Procfile}"
else
  scripts/setup.sh
  .venv/bin/python manage.py bootstrap_local
  # The embedded Prometheus (its own session; skipped when BERTH_PROMETHEUS_URL names another one).
  if [ -z "${BERTH_PROMETHEUS_URL:-}" ]; then
    scripts/prometheus.sh || echo "prometheus: not started; the metrics charts will say so"
  fi
  echo "Berth console: http://${BERTH_BIND:-127.0.0.1}:${BERTH_PORT:-8000}/"
fi

# honcho runs in the background so that this shell sees Ctrl-C (SIGINT) and SIGTERM at once and hands them on as
# SIGTERM: honcho stops its processes and exits; then so does this script, successfully.
stopping=0
honcho_pid=""
stop() {
  stopping=1
  if [ -n "$honcho_pid" ]; then kill -TERM "$honcho_pid" 2>/dev/null || true; fi
}
trap stop INT TERM
honcho start -f "$procfile" &
honcho_pid=$!
status=0
while :; do
  set +e
  wait "$honcho_pid"
  status=$?
  set -e
  kill -0 "$honcho_pid" 2>/dev/null || break # a signal interrupted `wait`: wait until honcho has stopped
done
# Stopped by Ctrl-C or SIGTERM: honcho may have got the terminal's SIGINT itself and ended before this shell ran
# its trap (130), or ended on the trap's SIGTERM (143).
if [ "$stopping" = 1 ] || [ "$status" = 130 ] || [ "$status" = 143 ]; then
  echo "Berth console stopped."
  exit 0
fi
exit "$status"
