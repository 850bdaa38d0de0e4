#!/usr/bin/env bash
# Builds the router image local/berth-router:1 on a Docker engine (default: the local one) with `docker import`:
# Debian's haproxy (2.6) and socat (the Runtime API from `docker exec`), the libraries they link, and a static
# busybox for sh, kill and cat. No registry answers here; Berth copies the image to the nodes that need it.
#   scripts/router-image.sh [DOCKER_HOST]
set -euo pipefail
IMAGE=local/berth-router:1
host_args=()
if [ $# -ge 1 ]; then host_args=(-H "$1"); fi
# The packages are downloaded, not installed (nothing of haproxy runs on this machine), and kept under var/.
cache="$(cd "$(dirname "$0")/.." && pwd)/var/cache/router"
packages=(haproxy socat liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 libwrap0)
mkdir -p "$cache"
for package in "${packages[@]}"; do
  if ! ls "$cache/${package}"_*.deb >/dev/null 2>&1; then
    (cd "$cache" && apt-get download "$package" >/dev/null 2>&1) || {
      apt-get update >/dev/null && (cd "$cache" && apt-get download "$package" >/dev/null)
    }
  fi
done
# Cached whether or not the image is needed now, as test-image.sh does: a later build may run where no mirror
# answers (the Ctrl-C test's engine, in a network namespace of its own).
if docker "${host_args[@]}" image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
busybox=/usr/bin/busybox  # busybox-static, as for the test images
[ -x /bin/busybox ] && busybox=/bin/busybox

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for package in "${packages[@]}"; do dpkg-deb -x "$(ls "$cache/${package}"_*.deb | head -1)" "$work/deb"; done
root="$work/img"
mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/bin" "$root/etc/berth/certs" "$root/run/berth" "$root/tmp"
cp "$work/deb/usr/sbin/haproxy" "$root/usr/sbin/haproxy"
cp "$work/deb/usr/bin/socat" "$root/usr/bin/socat"
export LD_LIBRARY_PATH="$work/deb/usr/lib/x86_64-linux-gnu:$work/deb/lib/x86_64-linux-gnu:$work/deb/usr/lib"
for binary in "$root/usr/sbin/haproxy" "$root/usr/bin/socat"; do
  if ldd "$binary" | grep -q "not found"; then
    echo "router-image: $binary links a library no package here has:" >&2
    ldd "$binary" | grep "not found" >&2
    exit 1
  fi
  # The libraries and loader each links, where the image expects them (the paths ldd printed, as the loader sees
  # them: a library found in an unpacked package goes to its usual place).
  ldd "$binary" | grep -o '/[^ ]*' | while read -r lib; do
    place=${lib#"$work/deb"}
    mkdir -p "$root$(dirname "$place")"
    cp -L "$lib" "$root$place"
  done
done
cp "$busybox" "$root/bin/busybox"
for applet in sh kill cat mkdir ls printf echo sleep rm mv; do ln -s busybox "$root/bin/$applet"; done
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
tar -C "$root" -c . | docker "${host_args[@]}" import \
  -c 'ENV PATH=/usr/sbin:/usr/bin:/bin' -c 'WORKDIR /' \
  -c 'CMD ["/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/berth/haproxy.cfg"]' \
  -c 'LABEL berth.router=1' - "$IMAGE" >/dev/null
echo "router-image: built $IMAGE (haproxy $(ls "$cache"/haproxy_*.deb | head -1 | sed 's/.*haproxy_\([^_]*\)_.*/\1/'))"
