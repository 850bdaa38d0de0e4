#!/usr/bin/env bash
# Builds the test images on a Docker engine (default: the local one) with `docker import` (no registry answers here):
#   local/busybox:1  Debian's busybox-static: sh, sleep, httpd, wget… (its applets cannot resolve names in a container)
#   local/netbox:1   Debian's dynamic busybox with the libraries it links: nc, nslookup and httpd that resolve
#                    names through the engine's embedded DNS (the cluster network's tests and bench/network.py; its wget
#                    crashes like the static one's, so clients use nc)
#   scripts/test-image.sh [DOCKER_HOST]
set -euo pipefail
host_args=()
if [ $# -ge 1 ]; then host_args=(-H "$1"); fi
have() { docker "${host_args[@]}" image inspect "$1" >/dev/null 2>&1; }
# image ROOT NAME BUSYBOX APPLET...: an image of one busybox binary and its applets, a page for httpd and a passwd.
image() {
  local root=$1 name=$2 busybox=$3; shift 3
  mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
  cp "$busybox" "$root/bin/busybox"
  for applet in "$@"; do ln -s busybox "$root/bin/$applet"; done
  echo "hello from berth" >"$root/www/index.html"
  echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
  tar -C "$root" -c . | docker "${host_args[@]}" import \
    -c 'ENV PATH=/bin' -c 'WORKDIR /' -c 'CMD ["/bin/sh"]' - "$name" >/dev/null
  echo "test-image: built $name"
}

if ! have local/busybox:1; then
  root=$(mktemp -d)
  image "$root" local/busybox:1 /usr/bin/busybox \
    sh sleep httpd wget cat echo ls env hostname ps kill true false printf date mkdir rm
  rm -rf "$root"
fi

# The dynamic busybox comes from Debian's package `busybox` (installing it would replace busybox-static, so the .deb
# is downloaded and unpacked). It is kept under var/ whether or not the image is needed now: a later build may run
# where no mirror answers (a test's dockerd in a network namespace of its own).
cache="$(cd "$(dirname "$0")/.." && pwd)/var/cache/netbox"
mkdir -p "$cache"
if ! ls "$cache"/busybox_*.deb >/dev/null 2>&1; then
  (cd "$cache" && apt-get download busybox >/dev/null 2>&1) || {
    apt-get update >/dev/null && (cd "$cache" && apt-get download busybox >/dev/null 2>&1)
  }
fi

if ! have local/netbox:1; then
  root=$(mktemp -d)
  dpkg-deb -x "$(ls "$cache"/busybox_*.deb | head -1)" "$root/deb"
  # The libraries and loader it links, where the image expects them (ldd's paths).
  ldd "$root/deb/bin/busybox" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$root/img$(dirname "$lib")"
    cp -L "$lib" "$root/img$lib"
  done
  image "$root/img" local/netbox:1 "$root/deb/bin/busybox" \
    sh sleep nc nslookup httpd cat echo hostname ls env kill true false printf date ps
  rm -rf "$root"
fi
