#!/usr/bin/env python
"""A rolling update of 10 replicas, two at a time, new first: Berth against Swarm mode's ``docker service update`` on
the same engine, in one run, each under the same load.

    .venv/bin/python bench/rolling.py [--rounds 1] [--connections 8] [--node 182]

One engine in a network namespace (``scripts/netns-node.sh up 182``), which Berth's overlay cluster joins to its swarm
(Berth's routing needs the cluster network), and on it, in turn (the order turns every round):

* ``berth``: an application of 10 containers of ``local/netbox:1`` answering ``<version> <hostname>`` over HTTP,
  with a health check (``nc`` to its port, every second) and ``deploy.update_config`` parallelism 2, start-first,
  monitor 1s, routed by the cluster's router (``web.<cluster>.localhost`` on port 9080 of the node); the update
  changes its environment, through the API (``PATCH``), until the client is told the release is successful;
* ``swarm``: a Swarm service of the same 10 containers (same image, command, health check, stop grace period) on
  an attachable overlay network, updated with ``docker service update --env-add`` with ``--update-parallelism 2
  --update-order start-first --update-monitor 1s``, until the command returns (it waits for the service to
  converge). Swarm's routing mesh needs IPVS, which this kernel lacks (the engine logs "error reading the kernel
  parameter net.ipv4.vs.…" and a published port answers nothing), so its traffic goes through the same HAProxy as
  Berth's routers (the router image), on that network, published on port 18080, following Swarm's own service
  discovery (``server-template`` over ``tasks.<service>`` from the engine's DNS, re-resolved every second, checked
  as Berth's routers check: every 2 s, 2 to fall, 2 to rise): Swarm decides which tasks are in its DNS, HAProxy
  only follows it.

While each update runs, ``--connections`` clients (8 at most: busybox httpd's backlog) send GETs to its address
on the node (the network rule: only this machine's own namespace node) and count every answer that is not a 200
with a body as failed; the load starts two seconds before the update and stops when it ends (at most 180 s).

Goal (issue 14): Berth's time at most Swarm's, with 0 failed requests.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import FINAL_LINE, Api, berth  # noqa: E402

SWARM_PORT = 18080
SWARM_NETWORK = "rollbench-net"
PROXY = """global
    log stdout format raw local0
resolvers docker
    nameserver dns 127.0.0.11:53
    hold valid 1s
    hold obsolete 0s
defaults
    mode http
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response
frontend swarm
    bind :80
    default_backend tasks
backend tasks
    balance roundrobin
    default-server check inter 2000 fall 2 rise 2 resolvers docker init-addr none
    server-template task 20 tasks.rollbench:80
"""
ROUTING_PORT = 9080
REPLICAS = 10
HEALTH = "echo | nc -w 1 127.0.0.1 80"
SERVE = "echo $VERSION $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def compose(version: str) -> str:
    return f"""
services:
  web:
    image: local/netbox:1
    command: ["sh", "-c", "{SERVE.replace("$", "$$")}"]
    environment:
      VERSION: "{version}"
    stop_grace_period: 2s
    expose: ["80"]
    healthcheck:
      test: ["CMD-SHELL", "{HEALTH}"]
      interval: 1s
      timeout: 2s
      retries: 2
    labels:
      aliyun.routing.port_80: "web"
    deploy:
      replicas: {REPLICAS}
      update_config:
        parallelism: 2
        order: start-first
        monitor: 1s
"""


class Load:
    """``connections`` clients sending GETs to ``address:port`` with ``host`` until stopped (at most 180 s)."""

    def __init__(self, address: str, port: int, host: str, connections: int) -> None:
        self.address, self.port, self.host = address, port, host
        self.ok = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(connections)]

    def run(self) -> None:
        deadline = time.monotonic() + 180
        while not self.stop.is_set() and time.monotonic() < deadline:
            outcome = ""
            connection = http.client.HTTPConnection(self.address, self.port, timeout=5)
            try:
                connection.request("GET", "/", headers={"Host": self.host})
                answer = connection.getresponse()
                body = answer.read()
                if answer.status != 200 or not body.strip():
                    outcome = f"{answer.status} {body[:60]!r}"
            except OSError as exc:
                outcome = repr(exc)
            finally:
                connection.close()
            with self.lock:
                if outcome:
                    self.failed.append(outcome)
                else:
                    self.ok += 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def wait(what: str, done, limit: float = 180) -> None:  # noqa: ANN001 - a predicate
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {what}")


def answers(address: str, port: int, host: str) -> set[str]:
    found = set()
    for _ in range(20):
        try:
            connection = http.client.HTTPConnection(address, port, timeout=5)
            connection.request("GET", "/", headers={"Host": host})
            found.add(connection.getresponse().read().decode(errors="replace").split(" ")[0])
            connection.close()
        except OSError:
            found.add("error")
    return found


def docker(node: str, *argv: str, check: bool = True) -> str:
    done = subprocess.run(["docker", "-H", node, *argv], capture_output=True, text=True, check=False)
    if check and done.returncode:
        raise SystemExit(f"docker {' '.join(argv[:3])}: {done.stderr.strip()[:500]}")
    return done.stdout.strip()


def berth_round(api: Api, cluster: int, address: str, host: str, round_: int, connections: int) -> tuple[float, Load]:
    """Seconds of one rolling update by Berth, and its load."""
    version = f"v{round_ + 1}"
    told: list[float] = []
    with Load(address, ROUTING_PORT, host, connections) as load:
        time.sleep(2)
        started = time.monotonic()
        release = api.call("PATCH", f"/api/v1/clusters/{cluster}/applications/rollbench", {"compose": compose(version)})
        done = api.follow(release, out=lambda line: told.append(time.monotonic()) if FINAL_LINE.match(line) else None)
        elapsed = (told[0] if told else time.monotonic()) - started
    if done["status"] != "successful":
        raise SystemExit(f"Berth's update failed: {done['error']}")
    return elapsed, load


def swarm_round(node: str, address: str, round_: int, connections: int) -> tuple[float, Load]:
    """Seconds of one ``docker service update`` (until it returns, converged), and its load."""
    with Load(address, SWARM_PORT, address, connections) as load:
        time.sleep(2)
        started = time.monotonic()
        docker(
            node, "service", "update", "--quiet", "--detach=false", "--env-add", f"VERSION=v{round_ + 1}", "rollbench"
        )
        elapsed = time.monotonic() - started
    return elapsed, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--node", type=int, default=182, help="the netns node's number (netns-node.sh: 1-200)")
    args = parser.parse_args()
    script = str(ROOT / "scripts" / "netns-node.sh")
    address = f"10.250.{args.node}.2"
    node = f"tcp://{address}:2375"
    times: dict[str, list[float]] = {"berth": [], "swarm": []}
    failed: dict[str, list[int]] = {"berth": [], "swarm": []}
    served: dict[str, list[int]] = {"berth": [], "swarm": []}
    with berth(beat=True) as api:
        endpoint = subprocess.run([script, "up", str(args.node)], check=True, capture_output=True, text=True)
        try:
            cluster = api.call("POST", "/api/v1/clusters", {"name": "rb", "network_mode": "overlay"})["id"]
            api.call(
                "POST",
                f"/api/v1/clusters/{cluster}/nodes",
                {"name": "n", "endpoint": endpoint.stdout.strip(), "publish_ip": address},
            )
            wait(
                "the node in the cluster network",
                lambda: api.items(f"/api/v1/clusters/{cluster}/nodes")[0]["network"] == "manager",
            )
            api.call("PATCH", f"/api/v1/clusters/{cluster}/routing", {"enabled": True, "port": ROUTING_PORT})
            host = "web.rb.localhost"
            body = {"name": "rollbench", "compose": compose("v1")}
            first = api.wait_release(api.call("POST", f"/api/v1/clusters/{cluster}/applications", body))
            if first["status"] != "successful":
                raise SystemExit(f"Berth's deploy failed: {first['error']}")
            wait("Berth's router to answer", lambda: answers(address, ROUTING_PORT, host) == {"v1"})
            docker(node, "network", "create", "--driver", "overlay", "--attachable", SWARM_NETWORK)
            docker(
                node,
                *("service", "create", "--quiet", "--detach=false", "--no-resolve-image", "--name", "rollbench"),
                *("--replicas", str(REPLICAS), "--network", SWARM_NETWORK),
                *("--update-parallelism", "2", "--update-order", "start-first", "--update-monitor", "1s"),
                *("--health-cmd", HEALTH, "--health-interval", "1s", "--health-timeout", "2s", "--health-retries", "2"),
                *("--stop-grace-period", "2s", "--env", "VERSION=v1"),
                *("local/netbox:1", "sh", "-c", SERVE),
            )
            docker(
                node,
                *("run", "-d", "--name", "rollbench-proxy", "--network", SWARM_NETWORK, "-p", f"{SWARM_PORT}:80"),
                *("-e", f"CONFIG={PROXY}", "--entrypoint", "sh", "local/berth-router:1"),
                *("-c", 'printf "%s" "$CONFIG" > /tmp/haproxy.cfg && exec haproxy -W -db -f /tmp/haproxy.cfg'),
            )
            wait("the swarm service to answer", lambda: answers(address, SWARM_PORT, address) == {"v1"})
            for r in range(1, args.rounds + 1):
                order = ["berth", "swarm"] if r % 2 else ["swarm", "berth"]
                for tool in order:
                    time.sleep(3)
                    if tool == "berth":
                        seconds, load = berth_round(api, cluster, address, host, r, args.connections)
                    else:
                        seconds, load = swarm_round(node, address, r, args.connections)
                    times[tool].append(seconds)
                    failed[tool].append(len(load.failed))
                    served[tool].append(load.ok)
                    example = f" (first: {load.failed[0]})" if load.failed else ""
                    print(
                        f"round {r} {tool}: {seconds:.2f}s, {load.ok} requests answered, "
                        f"{len(load.failed)} failed{example}",
                        flush=True,
                    )
        finally:
            docker(node, "rm", "-f", "rollbench-proxy", check=False)
            docker(node, "service", "rm", "rollbench", check=False)
            subprocess.run([script, "down", str(args.node)], check=False, capture_output=True)
    b, s = statistics.median(times["berth"]), statistics.median(times["swarm"])
    print(f"rolling update of {REPLICAS} replicas, parallelism 2, start-first, rounds: {args.rounds}")
    print(f"berth (API -> Celery -> engine, health + router gated): {b:.2f}s, failed {sum(failed['berth'])}")
    print(f"swarm (docker service update, HAProxy on its DNS):      {s:.2f}s, failed {sum(failed['swarm'])}")
    print(f"ratio berth/swarm: {b / s:.2f}  (target <= 1, with 0 failed requests)")


if __name__ == "__main__":
    main()
