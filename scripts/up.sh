#!/usr/bin/env bash
# `make up`: set everything up, then run the console (ASGI server, Celery worker and beat, Docker
# events watcher) in the foreground with honcho. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python manage.py bootstrap_local
echo "Berth console: http://${BERTH_BIND:-127.0.0.1}:${BERTH_PORT:-8000}/"
export PATH="$PWD/.venv/bin:$PATH"
exec honcho start -f Procfile
