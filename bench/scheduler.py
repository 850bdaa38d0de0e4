#!/usr/bin/env python
"""Time the scheduler (apps.scheduler, pure) on the two workloads of issue 11; print the median of rounds.

    .venv/bin/python bench/scheduler.py [--rounds 5] [--reference]

* ``application``: 10,000 containers, 100 services of 100 replicas planned together (``place_application``),
  half of the services with a constraint (``constraint:disk==ssd``, held by half of the nodes), every one with
  CPU and memory reservations, on 1,000 nodes in three zones.
* ``service``: one service of 10,000 replicas with the same reservations on the same nodes (``place``).

Target: under 1 s each. It prints the median wall time and the median CPU time of this process (on a machine
shared with other work, CPU time is the steadier figure). ``--reference`` also times, once, the full-scan
scheduler it replaced (kept as the reference of the equivalence tests in tests/unit/test_scheduler_equivalence.py;
20 to 25 s per workload) and checks that both give the same placement. No database, Docker or network is used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()  # the scheduler's messages are translatable

from apps.scheduler import NodeCapacity, Rule, ServiceDemand, place, place_application  # noqa: E402

GIB = 1024**3
MIB = 1024**2
NODES = 1000
ZONES = ("a", "b", "c")


def cluster() -> list[NodeCapacity]:
    """1,000 nodes of 32 CPUs and 128 GiB in three zones; every other node has an SSD."""
    return [
        NodeCapacity(
            id=i,
            name=f"node{i}",
            zone=ZONES[i % 3],
            labels={"disk": "ssd" if i % 2 else "hdd"},
            cpus=32,
            memory=128 * GIB,
        )
        for i in range(1, NODES + 1)
    ]


def application() -> list[ServiceDemand]:
    """100 services of 100 replicas (0.25 CPU, 256 MiB each); the odd ones only on SSD nodes."""
    ssd = (Rule.parse("constraint:disk==ssd"),)
    return [
        ServiceDemand(f"s{n}", list(range(1, 101)), rules=ssd if n % 2 else (), cpus=0.25, memory=256 * MIB)
        for n in range(100)
    ]


def big_service() -> ServiceDemand:
    """One service of 10,000 replicas with the same reservations."""
    return ServiceDemand("big", list(range(1, 10_001)), cpus=0.25, memory=256 * MIB)


def workloads(
    place_one: Callable[..., dict[int, int]], place_all: Callable[..., dict[str, dict[int, int]]]
) -> dict[str, Callable[[], object]]:
    nodes, demands, big = cluster(), application(), big_service()
    return {
        "application": lambda: place_all(nodes, demands, {}, app="bench"),
        "service": lambda: place_one(nodes, big, app="bench"),
    }


def timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds of this process, and the result (CPU time is what to compare on a busy machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - started, time.process_time() - cpu, result


def check(name: str, result: object) -> None:
    """Every replica placed; spread evenly over the eligible nodes (a sanity check, not a benchmark)."""
    plans = result if name == "application" else {"big": result}
    per_node: Counter[int] = Counter()
    for placed in plans.values():  # type: ignore[union-attr]
        per_node.update(placed.values())
    assert sum(per_node.values()) == 10_000, sum(per_node.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference", action="store_true", help="also time the full-scan scheduler, once")
    args = parser.parse_args()
    current = workloads(place, place_application)
    reference = {}
    if args.reference:
        from tests.unit.test_scheduler_equivalence import reference_place, reference_place_application

        reference = workloads(reference_place, reference_place_application)
    for name, run in current.items():
        walls, cpus = [], []
        for _round in range(args.rounds):
            wall, cpu, result = timed(run)
            walls.append(wall)
            cpus.append(cpu)
        check(name, result)
        line = (
            f"{name:12} median {statistics.median(walls):.3f} s (CPU {statistics.median(cpus):.3f} s); rounds "
            + " ".join(f"{t:.3f}" for t in walls)
        )
        if name in reference:
            wall, cpu, expected = timed(reference[name])
            same = "same placement" if expected == result else "DIFFERENT PLACEMENT"
            line += f"  | full scan {wall:.2f} s (CPU {cpu:.2f} s), {same}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
