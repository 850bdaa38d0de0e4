#!/usr/bin/env bash
# A test or demo node: a dockerd in its own network namespace, reachable from this machine at 10.250.N.2.
#   scripts/netns-node.sh up N [--tls DIR]  start node N (1-200); without --tls it listens on tcp://10.250.N.2:2375,
#                                          with --tls (DIR holds ca.pem, cert.pem, key.pem) on :2376, verifying clients
#   scripts/netns-node.sh ns N             only the namespace and its link (a bare "host" for the attach script)
#   scripts/netns-node.sh dockerd-cmd N    print the dockerd command line for node N (the attach script runs it)
#   scripts/netns-node.sh stop N           kill its dockerd only (the host "dies"; namespace and data stay)
#   scripts/netns-node.sh shutdown N       stop its dockerd gracefully (containers stop; namespace and data stay)
#   scripts/netns-node.sh start N [--tls DIR]  start dockerd again in the existing namespace
#   scripts/netns-node.sh restart N [--tls DIR]  shutdown, then start (new TLS material: containers come back by
#                                          their restart policy)
#   scripts/netns-node.sh down N           stop it and remove its namespace, mounts and data; exits 1 (saying what)
#                                          when anything of it remains, so a caller can try again
# dockerd is started with `nsenter --net` (not `ip netns exec`, which remounts /sys and hides cgroups), and with
# `setsid`: a session of its own, so a Ctrl-C of whoever started it (the Celery worker under honcho) never reaches it.
# Test nodes pull over plain HTTP from registries on 10.250.0.0/16 (tests/registry.py bound to a host side
# address such as 10.250.N.1, which every node reaches through its default route).
set -euo pipefail
cmd=${1:-}; n=${2:-}
case "$n" in ''|*[!0-9]*) echo "usage: $0 up|ns|start|stop|shutdown|restart|dockerd-cmd|down N [--tls DIR]" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 200 ] || { echo "N must be 1-200" >&2; exit 2; }
tls_dir=""
if [ "${3:-}" = "--tls" ]; then tls_dir=${4:?--tls needs a directory}; fi

ns="berth-n$n"; veth="bvn$n"; peer="bvn${n}p"
host_ip="10.250.$n.1"; node_ip="10.250.$n.2"
root="/var/lib/berth-node-$n"; run="/run/berth-node-$n"
sock="unix://$run/docker.sock"

dockerd_cmd() {
  echo "nsenter --net=/run/netns/$ns dockerd --data-root $root --exec-root $run/exec --pidfile $run/dockerd.pid" \
    "-H $sock --bip 10.251.$n.1/24 --default-address-pool base=10.252.0.0/16,size=24" \
    "--containerd-namespace berth-n$n --containerd-plugins-namespace berth-n$n-plugins" \
    "--insecure-registry 10.250.0.0/16 --config-file $root/daemon.json"
}

stop_engine() {
  if [ -f "$run/dockerd.pid" ]; then
    pid=$(cat "$run/dockerd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$run/dockerd.pid"
  fi
}

shutdown_engine() {
  # TERM: dockerd stops its containers (they come back by restart policy when it starts again), then KILL.
  if [ -f "$run/dockerd.pid" ]; then
    pid=$(cat "$run/dockerd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$run/dockerd.pid"
  fi
}

remains() {
  # What is left of node N on this machine (processes, namespace, mounts, directories); empty when nothing.
  pgrep -af -- "(-namespace berth-n$n |$run/|$root )" 2>/dev/null | grep -v -- "netns-node.sh" || true
  [ -e "/run/netns/$ns" ] && echo "namespace $ns"
  ip link show "$veth" >/dev/null 2>&1 && echo "link $veth"
  grep -E " ($root|$run)[/ ]" /proc/mounts 2>/dev/null || true
  for dir in "$root" "$run"; do [ -e "$dir" ] && echo "directory $dir"; done
  return 0
}

down() {
  shutdown_engine
  # containerd shims of this node outlive dockerd; end them too.
  pkill -f -- "-namespace berth-n$n " 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  grep -o " $root[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  grep -o " $run[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$root" "$run" 2>/dev/null || true
  left=""
  for _ in $(seq 1 20); do
    left=$(remains)
    [ -z "$left" ] && return 0
    sleep 0.25
  done
  echo "node $n is not completely gone:" >&2
  echo "$left" >&2
  return 1
}

namespace() {
  down
  mkdir -p "$root" "$run"
  # Its own identity: dockerd 20.10 derives the engine ID ("docker info" ID) from a key file that defaults
  # to /etc/docker/key.json, shared with this machine's engine; Berth tells engines apart by that ID.
  printf '{"deprecated-key-path": "%s/key.json"}\n' "$root" >"$root/daemon.json"
  ip netns add "$ns"
  ip link add "$veth" type veth peer name "$peer"
  ip link set "$peer" netns "$ns"
  ip addr add "$host_ip/24" dev "$veth"
  ip link set "$veth" up
  nsenter --net="/run/netns/$ns" ip addr add "$node_ip/24" dev "$peer"
  nsenter --net="/run/netns/$ns" ip link set "$peer" up
  nsenter --net="/run/netns/$ns" ip link set lo up
  nsenter --net="/run/netns/$ns" ip route add default via "$host_ip"
}

up() {
  namespace
  start_engine
}

start_engine() {
  if [ -n "$tls_dir" ]; then
    listen=(-H "tcp://$node_ip:2376" --tlsverify --tlscacert "$tls_dir/ca.pem" --tlscert "$tls_dir/cert.pem"
            --tlskey "$tls_dir/key.pem")
    endpoint="tcp://$node_ip:2376"
  else
    listen=(-H "tcp://$node_ip:2375" --tls=false)
    endpoint="tcp://$node_ip:2375"
  fi
  # setsid -f: dockerd in a session of its own (a Ctrl-C of the caller's process group never reaches it).
  # shellcheck disable=SC2046
  setsid -f $(dockerd_cmd) "${listen[@]}" </dev/null >"$run/dockerd.log" 2>&1
  for _ in $(seq 1 100); do docker -H "$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  docker -H "$sock" version >/dev/null 2>&1 || { echo "node $n did not start:" >&2; tail -20 "$run/dockerd.log" >&2; exit 1; }
  for image in local/busybox:1 local/netbox:1; do
    if ! docker -H "$sock" image inspect "$image" >/dev/null 2>&1; then
      docker save "$image" | docker -H "$sock" load >/dev/null
    fi
  done
  echo "$endpoint"
}

case "$cmd" in
  up) up ;;
  stop) stop_engine ;;
  shutdown) shutdown_engine ;;
  start) start_engine ;;
  restart) shutdown_engine; start_engine ;;
  ns) namespace; echo "$node_ip" ;;
  dockerd-cmd) dockerd_cmd ;;
  down) down ;;
  remains) remains ;;
  *) echo "usage: $0 up|ns|start|stop|shutdown|restart|dockerd-cmd|down|remains N [--tls DIR]" >&2; exit 2 ;;
esac
