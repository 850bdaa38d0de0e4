"""What an update's plan shows of its rolling release: per service, the batches and their order (an
``apps.stacks.PLANNED_SERVICE`` annotation), decided by the planner the runner uses."""

from __future__ import annotations

from typing import Any

from apps.models import Container
from apps.stacks import ServiceRow
from releases import planner, strategy


def rolling_steps(row: ServiceRow, replaced: list[Container], fingerprint: str, item: dict[str, Any]) -> None:
    """Add ``item["rolling"]``: how the running containers ``replaced`` will be replaced (none: nothing added)."""
    config = strategy.config_of(row.spec or {})
    replicas = [planner.Replica(c.index, c.spec_hash) for c in replaced]
    step = planner.plan_service(
        row.name, replicas, fingerprint, config, fixed_ports=strategy.fixed_ports(row.spec or {})
    )
    if step is None:
        return
    names = {c.index: c.name for c in replaced}
    item["rolling"] = {
        "order": step["order"],
        "parallelism": step["parallelism"],
        "delay": step["delay"],
        "failure_action": step["failure_action"],
        "monitor": step["monitor"],
        "note": step["note"],
        "batches": [[names[i] for i in batch] for batch in step["batches"]],
        "most_containers": planner.peak(step, row.scale),
    }
