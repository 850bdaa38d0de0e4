#!/usr/bin/env bash
# A test node: a dockerd in its own network namespace, reachable from this machine at 10.250.N.2:2375.
#   scripts/netns-node.sh up N     start node N (1-200); prints its endpoint
#   scripts/netns-node.sh down N   stop it and remove its namespace and data
# dockerd is started with `nsenter --net` (not `ip netns exec`, which remounts /sys and hides cgroups).
set -euo pipefail
cmd=${1:-}; n=${2:-}
case "$n" in ''|*[!0-9]*) echo "usage: $0 up|down N" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 200 ] || { echo "N must be 1-200" >&2; exit 2; }

ns="berth-n$n"; veth="bvn$n"; peer="bvn${n}p"
host_ip="10.250.$n.1"; node_ip="10.250.$n.2"
root="/var/lib/berth-node-$n"; run="/run/berth-node-$n"
endpoint="tcp://$node_ip:2375"

down() {
  if [ -f "$run/dockerd.pid" ]; then
    pid=$(cat "$run/dockerd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # containerd shims of this node outlive dockerd; end them too.
  pkill -f -- "-namespace moby -address $run/" 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  grep -o " $root[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  grep -o " $run[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$root" "$run" 2>/dev/null || true
}

up() {
  down
  mkdir -p "$root" "$run"
  ip netns add "$ns"
  ip link add "$veth" type veth peer name "$peer"
  ip link set "$peer" netns "$ns"
  ip addr add "$host_ip/24" dev "$veth"
  ip link set "$veth" up
  nsenter --net="/run/netns/$ns" ip addr add "$node_ip/24" dev "$peer"
  nsenter --net="/run/netns/$ns" ip link set "$peer" up
  nsenter --net="/run/netns/$ns" ip link set lo up
  nsenter --net="/run/netns/$ns" ip route add default via "$host_ip"
  nohup nsenter --net="/run/netns/$ns" dockerd \
    --data-root "$root" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
    -H "unix://$run/docker.sock" -H "$endpoint" --tls=false --bip "10.251.$n.1/24" \
    --default-address-pool "base=10.252.$n.0/24,size=28" \
    --containerd-namespace "berth-n$n" --containerd-plugins-namespace "berth-n$n-plugins" \
    >"$run/dockerd.log" 2>&1 &
  for _ in $(seq 1 100); do docker -H "$endpoint" version >/dev/null 2>&1 && break; sleep 0.2; done
  docker -H "$endpoint" version >/dev/null 2>&1 || { echo "node $n did not start:" >&2; tail -20 "$run/dockerd.log" >&2; exit 1; }
  if ! docker -H "$endpoint" image inspect local/busybox:1 >/dev/null 2>&1; then
    docker save local/busybox:1 | docker -H "$endpoint" load >/dev/null
  fi
  echo "$endpoint"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down N" >&2; exit 2 ;;
esac
