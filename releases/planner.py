"""The release planner: which containers of each service a rolling release replaces, in which batches and order.

Pure: (the replicas as they run, the fingerprint each service wants, its ``UpdateConfig``) → steps, stored on the
release row (``params["plan"]``) before the first batch runs. What the plan page shows is what the runner carries
out; a runner that resumes after its worker died reads the same steps and skips what is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from releases.strategy import UpdateConfig


@dataclass(frozen=True)
class Replica:
    """One running container of a service as the planner sees it."""

    index: int
    fingerprint: str


def batches(indexes: list[int], parallelism: int) -> list[list[int]]:
    """``indexes`` in order, ``parallelism`` at a time."""
    size = max(1, parallelism)
    ordered = sorted(indexes)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def plan_service(
    name: str, replicas: list[Replica], wanted: str, config: UpdateConfig, *, fixed_ports: bool = False
) -> dict[str, Any] | None:
    """The steps that replace the replicas of service ``name`` not made from ``wanted``; None when none is.

    A service that publishes a fixed host port cannot run two containers of a replica on one node at once: its
    order is stop-first whatever it asks, and the step says why."""
    stale = [r.index for r in replicas if r.fingerprint != wanted]
    if not stale:
        return None
    order, note = config.order, ""
    if fixed_ports and order == "start-first":
        order, note = (
            "stop-first",
            "stop-first: the service publishes a fixed host port, which two containers cannot share",
        )
    return {
        "service": name,
        "fingerprint": wanted,
        "order": order,
        "parallelism": config.parallelism,
        "delay": config.delay,
        "failure_action": config.failure_action,
        "monitor": config.monitor,
        "max_failure_ratio": config.max_failure_ratio,
        "batches": batches(stale, config.parallelism),
        "note": note,
    }


def peak(step: dict[str, Any], scale: int) -> int:
    """The most containers of the service that run at once while ``step`` is carried out: one more per container of
    a batch when new ones start before the old ones stop."""
    if step["order"] != "start-first":
        return scale
    return scale + max((len(b) for b in step["batches"]), default=0)


def remaining(step: dict[str, Any], done: set[int]) -> list[list[int]]:
    """The batches of ``step`` still to run when the replicas ``done`` are already made from its fingerprint (a
    runner that resumes); a batch partly done keeps the rest of it."""
    left = []
    for batch in step["batches"]:
        rest = [i for i in batch if i not in done]
        if rest:
            left.append(rest)
    return left
