#!/usr/bin/env bash
# `make test`: every check, in layers. Installs and starts what it needs (Debian packages, dockerd,
# Redis, Chromium, the virtualenv, npm packages) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export DJANGO_SETTINGS_MODULE=tests.settings
PY=.venv/bin/python

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== manage.py check / makemigrations --check"
$PY manage.py check
DJANGO_SETTINGS_MODULE=console.settings BERTH_HTTPS=true $PY manage.py check --deploy --fail-level WARNING
$PY manage.py makemigrations --check --dry-run >/dev/null || { echo "missing migrations"; exit 1; }

status=0
for layer in unit security integration e2e; do
  echo "== pytest tests/$layer"
  $PY -m pytest "tests/$layer" "$@" || status=$?
  [ "$status" = 0 ] || break
done
exit "$status"
