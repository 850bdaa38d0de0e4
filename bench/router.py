#!/usr/bin/env python
"""Requests per second and latency through a Berth router, against the same backends direct and through nginx; and
the time from a container answering to its first request through a router.

    .venv/bin/python bench/router.py [--rounds 3] [--seconds 10] [--connections 8]

Two backends (``local/busybox:1`` httpd answering its hostname) on a bridge network of the benchmark's own, and,
in the same run and in turn (the order turns every round), ``wrk`` on 127.0.0.1 with ``--connections``
connections (8 at most: busybox httpd listens with a backlog of 9, FIELD-NOTES) and two threads:

* ``direct``: half the connections to each backend's address, the two wrk runs at once; their rates summed;
* ``berth``: the Berth router: the image ``local/berth-router:1`` and the configuration ``routing.haproxy.build``
  writes for one route with these two servers, HAProxy in its own container but on the host's network (as nginx
  below, so that both proxies reach the backends the same way);
* ``nginx``: Debian's ``nginx-light`` on this machine, the equivalent configuration (round robin over the two,
  HTTP/1.1 keep-alive to the backends as HAProxy reuses its connections, ``X-Forwarded-For``, two workers as
  HAProxy's two threads);
* ``berth-published``: the Berth router as a cluster runs it, on the bridge network with its port published on
  127.0.0.1 (the engine's port forwarding included).

Then, ``--joins`` times: a third backend is started; from the first moment it answers directly, the time until a
request through the (published) router is answered by it, the router told by ``routing.routers.apply`` (the
Runtime API, as a sync after a scale-up does). What Berth adds before that call (the release noting the container,
the sync's scheduling) is not in this figure.

busybox httpd closes every connection, so each request is a new connection from the proxy to a backend: from the
host's network namespace (``direct``, ``berth``, ``nginx``) the sockets in TIME_WAIT towards the two backend
addresses soon take every local port, and the rate falls to what the ports free per second (seen: ~800 req/s,
p50 9 ms, for both proxies). The run sets ``net.ipv4.tcp_tw_reuse`` to 1 (outgoing connections may reuse them)
and puts the old value back at the end.

Goal (issue 13): the Berth router at least 0.8x nginx's requests per second. wrk and nginx-light are installed with
apt when missing (nginx's service is not started). Everything it starts is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

import docker  # noqa: E402

from clusters import docker_host as host  # noqa: E402
from routing import haproxy, routers  # noqa: E402

NAME = "berth-bench-router"
LABELS = {"berth.bench": NAME}
HOSTNAME = "web.bench.localhost"
HOST_PORT = 19180  # the router on the host's network
PUBLISHED_PORT = 19181  # the router as a cluster runs it
NGINX_PORT = 19182
SERVE = ["sh", "-c", "hostname > /www/index.html && exec httpd -f -p 80 -h /www"]


def ensure_tools() -> None:
    missing = [p for p, binary in (("wrk", "wrk"), ("nginx-light", "nginx")) if shutil.which(binary) is None]
    if not missing:
        return
    policy = Path("/usr/sbin/policy-rc.d")  # no service starts while the packages install
    made = not policy.exists()
    if made:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True, env=env)
    finally:
        if made:
            policy.unlink()


def wrk(url: str, seconds: int, connections: int, host_header: str | None) -> dict[str, float]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host_header:
        argv[1:1] = ["-H", f"Host: {host_header}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rate,
        "p50": _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


def _ms(text: str) -> float:
    """wrk's ``123.45us``, ``1.20ms``, ``2.00s`` or ``1.00m`` in milliseconds."""
    found = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not found:
        raise ValueError(f"wrk wrote a latency as {text!r}")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[found.group(2)]


def direct(addresses: list[str], seconds: int, connections: int) -> dict[str, float]:
    """Half the connections to each backend, at once."""
    share = max(1, connections // len(addresses))
    procs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{share}", f"-d{seconds}s", "--latency", f"http://{a}/"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for a in addresses
    ]
    outs = [p.communicate(timeout=seconds + 30)[0] for p in procs]
    rates = [float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1)) for o in outs]
    return {
        "rps": sum(rates),
        "p50": max(_ms(re.search(r"^\s*50%\s+(\S+)", o, re.M).group(1)) for o in outs),
        "p99": max(_ms(re.search(r"^\s*99%\s+(\S+)", o, re.M).group(1)) for o in outs),
        "errors": 0.0,
        "socket_errors": 0.0,
    }


def nginx_config(addresses: list[str], directory: Path) -> Path:
    servers = "\n".join(f"    server {a};" for a in addresses)
    text = f"""worker_processes 2;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {directory}/body;
  proxy_temp_path {directory}/proxy;
  fastcgi_temp_path {directory}/fastcgi;
  uwsgi_temp_path {directory}/uwsgi;
  scgi_temp_path {directory}/scgi;
  upstream backends {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{NGINX_PORT};
    server_name {HOSTNAME};
    location / {{
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_next_upstream error timeout;
    }}
  }}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def config_text(servers: list[haproxy.Server], bind: str, port: int) -> str:
    backend = haproxy.Backend(haproxy.backend_name(HOSTNAME, "/"), tuple(servers), title="bench")
    route = haproxy.Route(HOSTNAME, "/", backend.name)
    return haproxy.build(haproxy.Router(bind, port, routes=(route,), backends=(backend,)))


def start_router(client: docker.DockerClient, name: str, config: str, **options: object) -> str:
    container = client.containers.create(routers.IMAGE, name=name, labels=LABELS, detach=True, **options)
    endpoint = host.Endpoint(url="unix:///var/run/docker.sock")
    routers._write(endpoint, container.id, config)
    container.start()
    deadline = time.monotonic() + 20
    while not routers.wait_listening(endpoint, container.id, 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    return container.id


def wait_answer(url: str, host_header: str | None, wanted: str | None, timeout: float = 30) -> float:
    """The moment a GET answers 200 (with body ``wanted``, when given)."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Host": host_header} if host_header else {})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310 - this machine's containers
                if answer.status == 200 and (wanted is None or answer.read().decode().strip() == wanted):
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"{url} did not answer {wanted or 'in time'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--joins", type=int, default=5)
    args = parser.parse_args()
    if args.connections > 8:
        parser.error("at most 8 connections: busybox httpd drops SYNs above its backlog of 9")
    ensure_tools()
    subprocess.run([str(ROOT / "scripts" / "test-image.sh")], check=True)
    subprocess.run([str(ROOT / "scripts" / "router-image.sh")], check=True)
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=60)
    work = Path(tempfile.mkdtemp(prefix="berth-bench-router-"))
    nginx = None
    cleanup(client)
    reuse = Path("/proc/sys/net/ipv4/tcp_tw_reuse")
    before = reuse.read_text().strip()
    reuse.write_text("1")  # see the docstring: TIME_WAIT would otherwise cap the host's proxies, not the routers
    try:
        client.networks.create(NAME, driver="bridge", labels=LABELS)
        backends = [
            client.containers.run(
                "local/busybox:1", SERVE, name=f"{NAME}-web-{i}", network=NAME, labels=LABELS, detach=True
            )
            for i in (1, 2)
        ]
        for b in backends:
            b.reload()
        addresses = [b.attrs["NetworkSettings"]["Networks"][NAME]["IPAddress"] for b in backends]
        servers = [haproxy.Server(b.name, a, 80) for b, a in zip(backends, addresses, strict=True)]
        for a in addresses:
            wait_answer(f"http://{a}/", None, None)
        start_router(client, f"{NAME}-host", config_text(servers, "127.0.0.1", HOST_PORT), network_mode="host")
        published_id = start_router(
            client,
            f"{NAME}-published",
            config_text(servers, "0.0.0.0", routers.CONTAINER_PORT),  # noqa: S104 - inside its own namespace
            network=NAME,
            ports={f"{routers.CONTAINER_PORT}/tcp": ("127.0.0.1", PUBLISHED_PORT)},
        )
        nginx = subprocess.Popen(
            ["nginx", "-c", str(nginx_config(addresses, work)), "-g", "daemon off;"],
            stderr=subprocess.DEVNULL,
        )
        for port in (HOST_PORT, PUBLISHED_PORT, NGINX_PORT):
            wait_answer(f"http://127.0.0.1:{port}/", HOSTNAME, None)

        kinds = {
            "direct": lambda: direct([f"{a}:80" for a in addresses], args.seconds, args.connections),
            "berth": lambda: wrk(f"http://127.0.0.1:{HOST_PORT}/", args.seconds, args.connections, HOSTNAME),
            "nginx": lambda: wrk(f"http://127.0.0.1:{NGINX_PORT}/", args.seconds, args.connections, HOSTNAME),
            "berth-published": lambda: wrk(
                f"http://127.0.0.1:{PUBLISHED_PORT}/", args.seconds, args.connections, HOSTNAME
            ),
        }
        results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        order = list(kinds)
        for round_number in range(args.rounds):
            for kind in order:
                results[kind].append(kinds[kind]())
                r = results[kind][-1]
                print(
                    f"round {round_number + 1} {kind:16s} {r['rps']:9.0f} req/s  p50 {r['p50']:6.2f} ms  "
                    f"p99 {r['p99']:6.2f} ms  errors {r['errors']:.0f}",
                    flush=True,
                )
            order = order[1:] + order[:1]
        print("\nmedians over the rounds:")
        median = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99")} for k, v in results.items()}
        for kind, m in median.items():
            print(f"  {kind:16s} {m['rps']:9.0f} req/s  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms")
        ratio = median["berth"]["rps"] / median["nginx"]["rps"]
        print(f"  berth / nginx throughput: {ratio:.2f} (goal: at least 0.80)")

        endpoint = host.Endpoint(url="unix:///var/run/docker.sock")
        joins = []
        for i in range(args.joins):
            extra = client.containers.run(
                "local/busybox:1", SERVE, name=f"{NAME}-join-{i}", network=NAME, labels=LABELS, detach=True
            )
            extra.reload()
            address = extra.attrs["NetworkSettings"]["Networks"][NAME]["IPAddress"]
            answered = wait_answer(f"http://{address}/", None, None)
            new = config_text([*servers, haproxy.Server(extra.name, address, 80)], "0.0.0.0", routers.CONTAINER_PORT)  # noqa: S104
            routers.apply(endpoint, published_id, routers.Unit(NAME, {}, {}, new, frozenset()), fresh=False)
            told = time.monotonic()
            routed = wait_answer(f"http://127.0.0.1:{PUBLISHED_PORT}/", HOSTNAME, extra.id[:12])
            joins.append((routed - answered, told - answered))
            back = config_text(servers, "0.0.0.0", routers.CONTAINER_PORT)  # noqa: S104
            routers.apply(endpoint, published_id, routers.Unit(NAME, {}, {}, back, frozenset()), fresh=False)
            extra.remove(force=True)
        print(
            f"\nfrom answering to its first routed request ({args.joins} joins): median "
            f"{statistics.median(j[0] for j in joins) * 1000:.0f} ms (the router told after "
            f"{statistics.median(j[1] for j in joins) * 1000:.0f} ms of it)"
        )
    finally:
        reuse.write_text(before)
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        cleanup(client)
        shutil.rmtree(work, ignore_errors=True)


def cleanup(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": f"berth.bench={NAME}"}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": f"berth.bench={NAME}"}):
        network.remove()


if __name__ == "__main__":
    main()
