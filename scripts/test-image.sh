#!/usr/bin/env bash
# Builds local/busybox:1 on a Docker engine (default: the local one) with `docker import`.
#   scripts/test-image.sh [DOCKER_HOST]
set -euo pipefail
host_args=()
if [ $# -ge 1 ]; then host_args=(-H "$1"); fi
if docker "${host_args[@]}" image inspect local/busybox:1 >/dev/null 2>&1; then exit 0; fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
cp /usr/bin/busybox "$root/bin/busybox"
for applet in sh sleep httpd wget cat echo ls env hostname ps kill true false printf date mkdir rm; do
  ln -s busybox "$root/bin/$applet"
done
echo "hello from berth" >"$root/www/index.html"
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
tar -C "$root" -c . | docker "${host_args[@]}" import \
  -c 'ENV PATH=/bin' -c 'WORKDIR /' -c 'CMD ["/bin/sh"]' - local/busybox:1 >/dev/null
echo "test-image: built local/busybox:1"
