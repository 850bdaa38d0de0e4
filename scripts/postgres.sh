#!/usr/bin/env bash
# A PostgreSQL of the project's own: Debian's `postgresql` (installed when missing), a cluster in BERTH_PG_DIR
# listening on 127.0.0.1:BERTH_PG_PORT only (never the system's cluster or port), a role that may create databases
# (the test runner makes test_<name>) and a database of that role. Prints the DATABASE_URL to use; messages go to
# stderr. Safe to run again: it only installs, makes and starts what is missing.
#   scripts/postgres.sh         install, make and start as needed; print postgres://berth:…@127.0.0.1:55432/berth
#   scripts/postgres.sh stop    stop the cluster
# The cluster is for tests and for trying Berth on PostgreSQL: it runs without fsync (fast, not crash-safe).
# The server runs in a session of its own (setsid), so a terminal's Ctrl-C never stops it.
set -euo pipefail

port=${BERTH_PG_PORT:-55432}
role=${BERTH_PG_USER:-berth}
password=${BERTH_PG_PASSWORD:-berth}
database=${BERTH_PG_DATABASE:-berth}
say() { echo "postgres: $*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

bin_dir() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }
bin=$(bin_dir)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  say "installing postgresql (Debian)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  bin=$(bin_dir)
fi
version=$(basename "$(dirname "$bin")")
data=${BERTH_PG_DIR:-/var/lib/berth-pg/$version}
as_postgres() { $SUDO runuser -u postgres -- "$@"; }
answers() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; }

if [ "${1:-}" = "stop" ]; then
  if [ -f "$data/postmaster.pid" ]; then as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >&2; fi
  exit 0
fi
[ -z "${1:-}" ] || { echo "usage: $0 [stop]" >&2; exit 2; }

if [ ! -f "$data/PG_VERSION" ]; then
  say "making a cluster in $data (127.0.0.1:$port)"
  $SUDO install -d -o postgres -g postgres -m 700 "$data"
  as_postgres "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale --auth-local=peer --auth-host=scram-sha-256 \
    >/dev/null
  as_postgres tee -a "$data/postgresql.conf" >/dev/null <<EOF
# scripts/postgres.sh: the project's own cluster, for tests
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if ! answers; then
  say "starting PostgreSQL $version on 127.0.0.1:$port (log: $data/server.log)"
  # setsid: the server gets a session of its own; pg_ctl returns once it accepts connections.
  $SUDO setsid -f runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start </dev/null >/dev/null 2>&1
  for _ in $(seq 1 60); do answers && break; sleep 0.5; done
  answers || { say "PostgreSQL did not start; see $data/server.log"; exit 1; }
fi

psql_admin() { as_postgres "$bin/psql" -h "$data" -p "$port" -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
  say "making role $role"
  psql_admin "CREATE ROLE \"$role\" LOGIN CREATEDB PASSWORD '$password'"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
  say "making database $database"
  psql_admin "CREATE DATABASE \"$database\" OWNER \"$role\""
fi
echo "postgres://$role:$password@127.0.0.1:$port/$database"
