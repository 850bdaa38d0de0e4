#!/usr/bin/env bash
# `make test`: every check, in layers. Installs and starts what it needs (Debian packages, dockerd,
# Redis, Chromium, PostgreSQL, the virtualenv, npm packages) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export DJANGO_SETTINGS_MODULE=tests.settings
PY=.venv/bin/python

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the layering contracts of pyproject.toml ([tool.importlinter])
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

# The integration layer again on PostgreSQL, where concurrent requests really overlap (SQLite's writers take turns):
# Debian's postgresql, a cluster of the project's own on 127.0.0.1 (scripts/postgres.sh, started in its own session);
# the test database is test_<the URL's database>, the processes' logs go to <log dir>-pg.
if [ "$status" = 0 ]; then
  echo "== pytest tests/integration on PostgreSQL"
  pg_url=$(scripts/postgres.sh)
  DATABASE_URL="$pg_url" BERTH_TEST_LOG_DIR="${BERTH_TEST_LOG_DIR:-var/test-logs}-pg" \
    $PY -m pytest tests/integration "$@" || status=$?
fi
exit "$status"
