#!/usr/bin/env python
"""Throughput and TCP round trips between containers on two nodes: a Swarm overlay against published ports.

    .venv/bin/python bench/network.py [--rounds 3] [--seconds 5] [--latency-seconds 5] [--latency-cpus same]

Two nodes made by ``scripts/netns-node.sh`` (180 and 181: a dockerd each in a network namespace of its own,
joined through this machine's routing) form a Swarm (180 manager, 181 worker). Container A on node 180 talks to
container B on node 181 two ways, in the same run and in turn:

* ``overlay``: A and B are plain containers (not Swarm services) on an attachable overlay network; A reaches
  B at B's overlay address (the one the embedded DNS gives for B's name): VXLAN between the two nodes.
* ``published``: A and B are on their nodes' default bridges and B publishes its ports; A connects to
  10.250.181.2:<published port>: masqueraded on node 180, DNAT'ed to B on node 181, no encapsulation.

Per path and round: throughput, one iperf3 TCP stream A -> B for ``--seconds`` (after one second left out:
slow start), A and B free to run on every CPU; latency, sockperf ping-pong over TCP from A to B for
``--latency-seconds``: one 64-byte request, one 64-byte reply, one exchange in flight, Nagle off; the median and
the 95th percentile of every exchange's round trip. For the latency A and B are pinned to one CPU
(``--latency-cpus same``): in this VM, waking a process on the other, idle, CPU costs about 45 µs, which the
scheduler adds to some runs and not to others whatever the path (``split`` pins them apart, ``any`` not at all).
The rounds alternate which path goes first; it prints every round and then the medians over the rounds.

The image ``local/netbench:1`` (``local/netbox:1`` plus Debian 12's iperf3 and sockperf with the libraries they
link) is built once on this machine's engine with ``docker import`` and copied to both nodes. Everything else is
removed at the end, also when interrupted: containers, network, swarm, both nodes, and the one iptables rule it
adds (this machine's FORWARD policy is DROP, so the nodes reach each other only through it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT  # noqa: E402

NODES = (180, 181)  # A's node, B's node: numbers no test uses (netns-node.sh accepts 1-200)
SUBNET = "10.250.0.0/16"  # every netns node's address (10.250.N.2) and this machine's side of it (10.250.N.1)
# Marked with a comment so that the delete at the end removes this rule and never another's identical one.
RULE = ("DOCKER-USER", "-s", SUBNET, "-d", SUBNET, "-m", "comment", "--comment", "berth-bench-network", "-j", "ACCEPT")
IMAGE = "local/netbench:1"
BASE = "local/netbox:1"  # busybox (sh, netstat, ping, nslookup, timeout) with glibc: what the tools need besides
PACKAGES = ("iperf3", "libiperf0", "libsctp1", "sockperf")  # libsctp1: libiperf links it, this machine lacks it
CACHE = ROOT / "var" / "cache" / "netbench"  # the downloaded .debs, kept for the next build (as test-image.sh does)
LABEL = {"berth.bench": "network"}
NETWORK = "netbench"
IPERF, SOCKPERF = 5201, 11111  # the servers' ports in B
PUBLISHED = {IPERF: 25201, SOCKPERF: 21111}  # B's ports on node 181's address (different numbers, to be sure)
MESSAGE = 64  # bytes of a ping-pong request and of its reply: a small RPC
PATHS = ("overlay", "published")
TITLES = {"overlay": "overlay (VXLAN)", "published": "published port (NAT)"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def node_client(n: int) -> docker.DockerClient:
    # The unix socket, not tcp://10.250.N.2:2375: the engines' API traffic stays off the links being measured.
    return docker.DockerClient(base_url=f"unix:///run/berth-node-{n}/docker.sock", timeout=120)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, check=check, capture_output=True, text=True)


# The image -------------------------------------------------------------------------------------------------


def build_image(host: docker.DockerClient) -> None:
    """``local/netbench:1`` on this machine's engine, unless it is there: the files of ``local/netbox:1`` plus
    iperf3 and sockperf from Debian's .debs and the libraries ``ldd`` says they load, at the paths it gives."""
    with suppress(docker.errors.ImageNotFound):
        host.images.get(IMAGE)
        return
    say(f"building {IMAGE} (Debian's {', '.join(PACKAGES)} on {BASE})")
    CACHE.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        if not list(CACHE.glob(f"{package}_*.deb")):
            # Into the cache (cwd), never the checkout; once more after `apt-get update` if the lists are stale.
            download = ["apt-get", "download", package]
            if subprocess.run(download, cwd=CACHE, capture_output=True).returncode:
                run("apt-get", "update")
                subprocess.run(download, cwd=CACHE, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = Path(tmp)
        for package in PACKAGES:
            run("dpkg-deb", "-x", str(sorted(CACHE.glob(f"{package}_*.deb"))[-1]), tmp)
        unpacked_libs = unpacked / "usr/lib/x86_64-linux-gnu"
        files = {"bin/iperf3": unpacked / "usr/bin/iperf3", "bin/sockperf": unpacked / "usr/bin/sockperf"}
        for binary in list(files.values()):
            linked = subprocess.run(
                ["ldd", str(binary)],
                env={"LD_LIBRARY_PATH": str(unpacked_libs)},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            if "not found" in linked:
                raise SystemExit(f"{binary.name} links a library found neither here nor in the .debs:\n{linked}")
            for word in linked.split():
                if word.startswith("/"):
                    path = Path(word)
                    # libiperf and libsctp come from the .debs (their path is the temporary one), the rest from
                    # this machine (Debian 12 too); each where the binaries' loader looks.
                    inside = f"usr/lib/x86_64-linux-gnu/{path.name}" if path.is_relative_to(unpacked) else word[1:]
                    files[inside] = path.resolve()
        base = host.containers.create(BASE, labels=LABEL)
        try:
            exported = io.BytesIO(b"".join(base.export()))
        finally:
            base.remove(force=True)
        image = io.BytesIO()
        with tarfile.open(fileobj=exported) as source, tarfile.open(fileobj=image, mode="w") as target:
            for member in source:
                if member.name.removeprefix("./") not in files:
                    target.addfile(member, source.extractfile(member) if member.isfile() else None)
            for inside, path in sorted(files.items()):
                info = target.gettarinfo(str(path), arcname=inside)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with path.open("rb") as data:
                    target.addfile(info, data)
        host.api.import_image_from_data(
            image.getvalue(),
            repository=IMAGE.split(":")[0],
            tag=IMAGE.split(":")[1],
            changes=["ENV PATH=/bin", "WORKDIR /", 'CMD ["/bin/sh"]'],
        )
    for tool in ("iperf3", "sockperf"):  # a missing library shows here, not as a server that never listens
        checked = host.containers.create(IMAGE, [tool, "--version"], network_mode="none", labels=LABEL)
        try:
            checked.start()
            if checked.wait(timeout=60)["StatusCode"]:
                host.images.remove(IMAGE, force=True)  # the next run builds it again
                raise SystemExit(f"{tool} does not run in {IMAGE}: {checked.logs().decode(errors='replace')}")
        finally:
            checked.remove(force=True)
    say(f"built {IMAGE}")


def copy_image(host: docker.DockerClient, node: docker.DockerClient) -> None:
    """``docker save | docker -H node load``."""
    node.images.load(b"".join(host.images.get(IMAGE).save(named=True)))


# The setting -----------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """A (client, on node 180) and B (servers, on node 181) of one path, and where A finds B's two ports."""

    client: Container
    server: Container
    address: str
    iperf: int
    sockperf: int


def wait(what: str, done: Callable[[], bool], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {limit:.0f} s")
        time.sleep(0.5)


def execute(container: Container, argv: list[str], limit: float) -> str:
    """Run ``argv`` in the container under busybox ``timeout`` (nothing hangs longer than ``limit``)."""
    code, output = container.exec_run(["/bin/busybox", "timeout", str(int(limit)), *argv])
    text = output.decode(errors="replace")
    if code:
        raise RuntimeError(f"{argv[0]} in {container.name} exited {code}: {text.strip()[-600:]}")
    return text


@contextmanager
def cluster() -> Iterator[dict[str, Pair]]:
    """Both nodes up in one swarm, an attachable overlay, and the four containers; all of it gone afterwards."""
    a_node, b_node = NODES
    added = nodes_up = False
    clients: list[docker.DockerClient] = []
    try:
        run("iptables", "-I", *RULE)
        added = True
        host = docker.from_env(timeout=120)
        build_image(host)
        for n in NODES:
            say(f"node {n}: starting (scripts/netns-node.sh up {n})")
            nodes_up = True
            run(str(ROOT / "scripts" / "netns-node.sh"), "up", str(n))
            clients.append(node_client(n))
            copy_image(host, clients[-1])
        host.close()
        a, b = clients
        say(f"swarm: node {a_node} initialises, node {b_node} joins")
        a.swarm.init(
            advertise_addr=f"10.250.{a_node}.2",
            listen_addr=f"10.250.{a_node}.2:2377",
            default_addr_pool=["10.201.0.0/16"],
            subnet_size=24,
        )
        a.swarm.reload()
        b.swarm.join(
            remote_addrs=[f"10.250.{a_node}.2:2377"],
            join_token=a.swarm.attrs["JoinTokens"]["Worker"],
            advertise_addr=f"10.250.{b_node}.2",
            listen_addr=f"10.250.{b_node}.2:2377",
        )
        wait(
            f"node {b_node} to be ready in the swarm",
            lambda: sum(m.attrs["Status"]["State"] == "ready" for m in a.nodes.list()) == 2,
        )
        # No `encrypted` option: IPsec for the overlay does not work on this kernel (and would be another figure).
        a.networks.create(NETWORK, driver="overlay", attachable=True, labels=LABEL)

        serve = f"iperf3 -s -p {IPERF} & exec sockperf server --tcp -p {SOCKPERF}"
        b_overlay = b.containers.run(
            IMAGE, ["sh", "-c", serve], name="netbench-b-overlay", network=NETWORK, labels=LABEL, detach=True
        )
        b_published = b.containers.run(
            IMAGE,
            ["sh", "-c", serve],
            name="netbench-b-published",
            ports={f"{port}/tcp": published for port, published in PUBLISHED.items()},
            labels=LABEL,
            detach=True,
        )
        # A sleeps for as long as a run may take at most; it is removed at the end in any case.
        idle = ["sleep", "7200"]
        a_overlay = a.containers.run(IMAGE, idle, name="netbench-a-overlay", network=NETWORK, labels=LABEL, detach=True)
        a_published = a.containers.run(IMAGE, idle, name="netbench-a-published", labels=LABEL, detach=True)

        for server in (b_overlay, b_published):
            wait(
                f"the servers in {server.name}",
                lambda s=server: all(
                    f":{p} " in execute(s, ["busybox", "netstat", "-ltn"], 10) for p in (IPERF, SOCKPERF)
                ),
            )
        b_overlay.reload()
        overlay_ip = b_overlay.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        resolved = execute(a_overlay, ["nslookup", b_overlay.name], 10)
        say(
            f"overlay: {b_overlay.name} is {overlay_ip}"
            + (" (A resolves its name to it)" if overlay_ip in resolved else f"; A's nslookup said: {resolved!r}")
            + f", MTU {execute(a_overlay, ['cat', '/sys/class/net/eth0/mtu'], 5).strip()} in A"
        )
        say(f"published: {b_published.name} at 10.250.{b_node}.2:{PUBLISHED[IPERF]} (iperf3), :{PUBLISHED[SOCKPERF]}")
        pairs = {
            "overlay": Pair(a_overlay, b_overlay, overlay_ip, IPERF, SOCKPERF),
            "published": Pair(a_published, b_published, f"10.250.{b_node}.2", PUBLISHED[IPERF], PUBLISHED[SOCKPERF]),
        }
        for name, pair in pairs.items():
            # Three pings first: the overlay's neighbour entries are learnt and a broken path fails here, clearly.
            execute(pair.client, ["busybox", "ping", "-c", "3", "-W", "2", pair.address], 15)
            say(f"{name}: A on node {a_node} reaches {pair.address}")
        yield pairs
    finally:
        say("cleaning up")
        for c in clients:
            with suppress(Exception):
                for container in c.containers.list(all=True, filters={"label": "berth.bench=network"}):
                    container.remove(force=True)
        if clients:
            with suppress(Exception):
                for network in clients[0].networks.list(names=[NETWORK]):
                    network.remove()
        for c in reversed(clients):  # the worker first, then the manager (forced: the last one)
            with suppress(Exception):
                c.swarm.leave(force=True)
            c.close()
        if nodes_up:
            for n in reversed(NODES):
                gone = run(str(ROOT / "scripts" / "netns-node.sh"), "down", str(n), check=False)
                if gone.returncode:
                    say(f"node {n} is not completely gone: {gone.stderr.strip()}")
        if added:
            run("iptables", "-D", *RULE, check=False)


# The measurements ------------------------------------------------------------------------------------------


@dataclass
class Figures:
    gbits: float  # received by B, per second
    retransmits: int
    median_us: float  # round trip of one exchange
    p95_us: float
    exchanges: int  # the exchanges sockperf kept (its "valid duration")
    seconds: float  # the time they span


def throughput(pair: Pair, seconds: int) -> tuple[float, int]:
    """Gbit/s that B received over one TCP stream, and the sender's retransmitted segments."""
    report = json.loads(
        execute(
            pair.client,
            ["iperf3", "-c", pair.address, "-p", str(pair.iperf), "-t", str(seconds), "-O", "1", "-J"],
            seconds + 30,
        )
    )
    end = report["end"]
    return end["sum_received"]["bits_per_second"] / 1e9, int(end["sum_sent"].get("retransmits", 0))


def latency(pair: Pair, seconds: int) -> tuple[list[float], float]:
    """The round trip of every exchange sockperf kept (microseconds) and the seconds they span."""
    log = "/tmp/pingpong.csv"
    argv = ["sockperf", "ping-pong", "--tcp", "-i", pair.address, "-p", str(pair.sockperf)]
    # --no-rdtsc: the monotonic clock rather than the TSC, whose rate sockperf would have to guess in a VM.
    argv += ["-m", str(MESSAGE), "-t", str(seconds), "--no-rdtsc", "--full-log", log]
    execute(pair.client, argv, seconds + 30)
    try:
        return parse_log(execute(pair.client, ["cat", log], 60))
    finally:
        execute(pair.client, ["busybox", "rm", "-f", log], 10)


def parse_log(text: str) -> tuple[list[float], float]:
    """sockperf's --full-log: after its summary, one line per exchange: number, the request's send time and the
    reply's receive time (seconds), latency. sockperf keeps the exchanges of its "valid duration": it drops the
    0.4 s of warm-up and about the last 0.8 s, so a 5 s run gives about 3.8 s of them."""
    rtts = []
    first = last = 0.0
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 3 and fields[0].isdigit():
            sent, received = float(fields[1]), float(fields[2])
            first, last = first or sent, received
            rtts.append((received - sent) * 1e6)
    if not rtts:
        raise RuntimeError(f"no exchanges in sockperf's log: {text[:300]!r}")
    return rtts, last - first


PLACEMENTS = {"same": ("0", "0"), "split": ("0", "1"), "any": None}  # latency: A's and B's CPUs


@contextmanager
def placed(pair: Pair, placement: str) -> Iterator[None]:
    """A and B on the CPUs of ``placement`` (``docker update --cpuset-cpus``), on every CPU again afterwards."""
    cpus = PLACEMENTS[placement]
    if cpus is None:
        yield
        return
    every = f"0-{(os.cpu_count() or 1) - 1}"  # the nodes share this machine's kernel, hence its CPU numbers
    try:
        pair.client.update(cpuset_cpus=cpus[0])
        pair.server.update(cpuset_cpus=cpus[1])
        yield
    finally:
        pair.client.update(cpuset_cpus=every)
        pair.server.update(cpuset_cpus=every)


def measure(pair: Pair, seconds: int, latency_seconds: int, placement: str) -> Figures:
    gbits, retransmits = throughput(pair, seconds)
    with placed(pair, placement):
        rtts, took = latency(pair, latency_seconds)
    p95 = statistics.quantiles(rtts, n=20)[-1]
    return Figures(gbits, retransmits, statistics.median(rtts), p95, len(rtts), took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds, each measuring both paths (default 3, at most 20)"
    )
    parser.add_argument("--seconds", type=int, default=5, help="iperf3 seconds per path and round (default 5)")
    parser.add_argument(
        "--latency-seconds", type=int, default=5, help="sockperf ping-pong seconds per path and round (default 5)"
    )
    parser.add_argument(
        "--latency-cpus",
        choices=sorted(PLACEMENTS),
        default="same",
        help="during the latency test: A and B on CPU 0 (same, default), on CPUs 0 and 1 (split), unpinned (any)",
    )
    args = parser.parse_args()
    # Bounded so that a whole run stays well within the clients' `sleep 7200`.
    if not 1 <= args.rounds <= 20 or not 1 <= args.seconds <= 60 or not 2 <= args.latency_seconds <= 60:
        parser.error("--rounds 1-20, --seconds 1-60, --latency-seconds 2-60 (sockperf drops its first and last second)")
    if args.latency_cpus == "split" and (os.cpu_count() or 1) < 2:
        parser.error("--latency-cpus split needs two CPUs")
    # A kill (not only Ctrl-C) also takes the nodes down: SystemExit runs the cleanup in `cluster`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results: dict[str, list[Figures]] = {path: [] for path in PATHS}
    with cluster() as pairs:
        for r in range(1, args.rounds + 1):
            # Alternating the order: whatever else loads the machine falls on both paths alike.
            for path in PATHS if r % 2 else PATHS[::-1]:
                say(f"round {r}: {path} ...")
                got = measure(pairs[path], args.seconds, args.latency_seconds, args.latency_cpus)
                results[path].append(got)
                print(
                    f"round {r} {path:9}: {got.gbits:6.2f} Gbit/s ({got.retransmits} retransmits), "
                    f"round trip median {got.median_us:6.1f} µs, p95 {got.p95_us:6.1f} µs "
                    f"({got.exchanges} exchanges in {got.seconds:.1f} s)",
                    flush=True,
                )

    def med(path: str, field: str) -> float:
        return statistics.median(getattr(f, field) for f in results[path])

    print()
    print(
        f"A on node {NODES[0]} -> B on node {NODES[1]}; medians of {args.rounds} rounds "
        f"(iperf3 {args.seconds} s, 1 TCP stream; sockperf TCP ping-pong {MESSAGE} B, {args.latency_seconds} s, "
        f"CPUs {args.latency_cpus})"
    )
    head = f"{'path':22} | {'throughput':26} | {'RTT median':>10} | {'RTT p95':>9} | {'exchanges/s':>11}"
    print(head)
    print("-" * len(head))
    for path in PATHS:
        gbits = med(path, "gbits")
        rate = statistics.median(f.exchanges / f.seconds for f in results[path])
        print(
            f"{TITLES[path]:22} | {gbits:6.2f} Gbit/s ({gbits * 125:5.0f} MB/s) | {med(path, 'median_us'):7.1f} µs "
            f"| {med(path, 'p95_us'):6.1f} µs | {rate:11,.0f}"
        )
    print(
        f"overlay / published: throughput {med('overlay', 'gbits') / med('published', 'gbits'):.2f}, "
        f"RTT median {med('overlay', 'median_us') / med('published', 'median_us'):.2f}, "
        f"RTT p95 {med('overlay', 'p95_us') / med('published', 'p95_us'):.2f}"
    )


if __name__ == "__main__":
    main()
