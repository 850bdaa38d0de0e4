#!/usr/bin/env python
"""Deploy N containers of the test image through Berth (HTTP API → Celery → engine) and with the raw
docker SDK (best thread pool: 4 workers on 2 cores) in the same run; print both wall times and the ratio.

    .venv/bin/python bench/deploy.py [--containers 50] [--rounds 1]

Berth's time runs from the POST until the release is successful (every container started and
inspected as running); the raw time from creating the network until every container is running.
Both make the same containers: one bridge network per application, init, restart policy, labels.
It starts its own ASGI server and Celery worker on a database and queue of its own (var/bench/).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import NAME, Api, berth  # noqa: E402

IMAGE = "local/busybox:1"


def berth_round(api: Api, cluster: int, n: int, round_no: int) -> float:
    name = f"b{NAME.replace('-', '')}{round_no}"  # container names are the engine's: BERTH_BENCH_NAME keeps them apart
    return api.timed_deploy(cluster, {"name": name, "image": IMAGE, "command": "sleep 3600", "scale": n})


def raw_round(n: int, round_no: int, threads: int = 4) -> float:
    """The same containers as Berth makes (own bridge network, init, restart policy, labels), raw SDK, ``threads``
    at a time."""
    import docker

    client = docker.from_env()
    project = f"raw{NAME.replace('-', '')}{round_no}"  # BERTH_BENCH_NAME: two benchmarks never touch each other's
    network = f"{project}_default"
    names = [f"{project}_{project}_{i}" for i in range(1, n + 1)]
    mine = f"bench=raw-{NAME}"

    def up(name: str) -> None:
        c = client.containers.create(
            IMAGE,
            ["sleep", "3600"],
            name=name,
            init=True,
            network=network,
            restart_policy={"Name": "unless-stopped"},
            stop_signal="SIGTERM",
            labels={"bench": f"raw-{NAME}", "com.docker.compose.project": project},
        )
        c.start()

    started = time.monotonic()
    client.networks.create(network, driver="bridge", labels={"bench": f"raw-{NAME}"})
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(up, names))
    running = client.containers.list(filters={"label": mine, "status": "running"})
    elapsed = time.monotonic() - started
    assert len(running) == n, f"only {len(running)} of {n} running"
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: c.remove(force=True), client.containers.list(all=True, filters={"label": mine})))
    client.networks.get(network).remove()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with berth() as api:
        cluster = api.local_cluster()
        berth_times, raw_times = [], []
        for r in range(1, args.rounds + 1):
            raw_times.append(raw_round(args.containers, r))
            berth_times.append(berth_round(api, cluster, args.containers, r))
            print(f"round {r}: berth {berth_times[-1]:.2f}s  raw {raw_times[-1]:.2f}s", flush=True)
    berth_median, raw_median = statistics.median(berth_times), statistics.median(raw_times)
    print(f"containers: {args.containers}  rounds: {args.rounds}")
    print(f"berth (API -> Celery -> engine): {berth_median:.2f}s")
    print(f"raw docker SDK, 4 threads:       {raw_median:.2f}s")
    print(f"ratio berth/raw: {berth_median / raw_median:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
