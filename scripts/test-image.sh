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

if ! have local/busybox:1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
  cp /usr/bin/busybox "$root/bin/busybox"
  for applet in sh sleep httpd wget cat echo ls env hostname ps kill true false printf date mkdir rm; do
    ln -s busybox "$root/bin/$applet"
  done
  echo "hello from berth" >"$root/www/index.html"
  echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
  tar -C "$root" -c . | docker "${host_args[@]}" import \
    -c 'ENV PATH=/bin' -c 'WORKDIR /' -c 'CMD ["/bin/sh"]' - local/busybox:1 >/dev/null
  rm -rf "$root"
  echo "test-image: built local/busybox:1"
fi

if ! have local/netbox:1; then
  # The dynamic busybox comes from Debian's package `busybox` (installing it would replace busybox-static, so the
  # .deb is downloaded and unpacked; kept under var/ for the next build).
  cache="$(cd "$(dirname "$0")/.." && pwd)/var/cache/netbox"
  mkdir -p "$cache"
  if ! ls "$cache"/busybox_*.deb >/dev/null 2>&1; then
    (cd "$cache" && apt-get download busybox >/dev/null 2>&1) || {
      apt-get update >/dev/null && (cd "$cache" && apt-get download busybox >/dev/null 2>&1)
    }
  fi
  root=$(mktemp -d)
  dpkg-deb -x "$(ls "$cache"/busybox_*.deb | head -1)" "$root/deb"
  mkdir -p "$root/img/bin" "$root/img/etc" "$root/img/tmp" "$root/img/www"
  cp "$root/deb/bin/busybox" "$root/img/bin/busybox"
  for applet in sh sleep nc nslookup httpd cat echo hostname ls env kill true false printf date ps; do
    ln -s busybox "$root/img/bin/$applet"
  done
  # The libraries and loader it links, where the image expects them (ldd's paths).
  ldd "$root/deb/bin/busybox" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$root/img$(dirname "$lib")"
    cp -L "$lib" "$root/img$lib"
  done
  echo "hello from berth" >"$root/img/www/index.html"
  echo "root:x:0:0:root:/:/bin/sh" >"$root/img/etc/passwd"
  tar -C "$root/img" -c . | docker "${host_args[@]}" import \
    -c 'ENV PATH=/bin' -c 'WORKDIR /' -c 'CMD ["/bin/sh"]' - local/netbox:1 >/dev/null
  rm -rf "$root"
  echo "test-image: built local/netbox:1"
fi
