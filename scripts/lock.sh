#!/usr/bin/env bash
# Refreshes the lock files from pyproject.toml: exact versions with hashes, what `make up`, `make test`
# and CI install (scripts/setup.sh). Run it after changing a dependency, and commit the lock files with it.
#   scripts/lock.sh              keep the locked versions that still satisfy pyproject.toml
#   scripts/lock.sh --upgrade    move every package to its newest allowed version
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install -q --disable-pip-version-check 'pip-tools>=7.4,<8'
compile=("$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url
         --no-emit-find-links "$@")
# The dev lock holds everything; the runtime lock (with the PostgreSQL driver, so DATABASE_URL=postgres://… works
# after `make up`) is held to the same versions.
"${compile[@]}" --extra dev --extra postgres --output-file requirements/dev.lock pyproject.toml
"${compile[@]}" --extra postgres --constraint requirements/dev.lock --output-file requirements/base.lock pyproject.toml
echo "lock: requirements/base.lock and requirements/dev.lock refreshed"
