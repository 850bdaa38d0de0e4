#!/usr/bin/env bash
# Prepares a checkout: Debian packages and services (scripts/services.sh), the virtualenv, the
# front-end packages (npm) and the database. Re-running it only does what is missing.
#   scripts/setup.sh          what the console needs
#   scripts/setup.sh --dev    also the test tools and Chromium
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ "$dev" = 1 ]; then scripts/services.sh --browser; else scripts/services.sh; fi

if ! command -v npm >/dev/null; then
  echo "setup: installing npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# Exact versions with hashes from the lock files (scripts/lock.sh refreshes them). Berth itself runs from
# the checkout; it is not installed.
lock=requirements/base.lock; stamp=.venv/.berth-installed
[ "$dev" = 1 ] && { lock=requirements/dev.lock; stamp=.venv/.berth-installed-dev; }
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages from $lock"
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$lock"
  touch "$stamp"
fi

if [ ! -d node_modules ] || [ package.json -nt node_modules ]; then
  echo "setup: installing front-end packages (npm)"
  npm install --no-audit --no-fund --loglevel=error >/dev/null
  touch node_modules
fi

.venv/bin/python manage.py migrate --noinput -v 0
