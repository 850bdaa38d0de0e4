#!/usr/bin/env bash
# Installs (Debian) and starts what Berth needs on this machine: dockerd, Redis, the test image.
# Safe to run again: it only installs what is missing and only starts what does not answer.
#   scripts/services.sh            install + start dockerd and Redis, build the test images
#   scripts/services.sh --browser  also install Chromium (tests)
set -euo pipefail

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) echo "usage: $0 [--browser]" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/bin/busybox ] && /usr/bin/busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
command -v prometheus >/dev/null || need+=(prometheus)  # the embedded metrics store (scripts/prometheus.sh)
if [ "$want_browser" = 1 ]; then command -v chromium >/dev/null || need+=(chromium); fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "services: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Docker engine: start one when none answers on DOCKER_HOST (default: the standard socket). A DOCKER_HOST of
# unix:///other.sock starts a dockerd there; BERTH_DOCKERD_ARGS adds arguments (data root and such).
docker_log=${BERTH_DOCKERD_LOG:-/var/log/berth-dockerd.log}
if ! docker version >/dev/null 2>&1; then
  echo "services: starting dockerd (log: $docker_log)"
  listen=()
  if [ -n "${DOCKER_HOST:-}" ]; then listen=(-H "$DOCKER_HOST"); fi
  # setsid: dockerd gets a session of its own, so a terminal's Ctrl-C (SIGINT to the foreground process
  # group of `make up`) never reaches it; stopping the console stops only the console.
  # shellcheck disable=SC2086
  $SUDO setsid -f dockerd "${listen[@]}" ${BERTH_DOCKERD_ARGS:-} </dev/null >>"$docker_log" 2>&1
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version >/dev/null 2>&1 || { echo "services: dockerd did not start; see $docker_log" >&2; exit 1; }
fi

# Redis on 127.0.0.1 (the port of REDIS_URL, default 6379) unless something answers there already.
redis_port=6379
if [[ "${REDIS_URL:-}" =~ ^redis://(127\.0\.0\.1|localhost):([0-9]+) ]]; then redis_port=${BASH_REMATCH[2]}; fi
if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
  echo "services: starting redis-server on 127.0.0.1:$redis_port"
  # setsid, and --daemonize forks and calls setsid() again: Redis lives in its own session.
  setsid -f redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    </dev/null >/dev/null
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.25; done
fi

# Test images and the router's: no registry can be reached, so they are built from Debian's packages.
"$(dirname "$0")/test-image.sh"
"$(dirname "$0")/router-image.sh"
echo "services: docker, redis, the test images (local/busybox:1, local/netbox:1) and the router's" \
  "(local/berth-router:1) are ready"
