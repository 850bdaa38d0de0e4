"""Placement: which node each new container goes to. Pure: plain data in, plain data out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext as _


class PlacementError(Exception):
    """No placement satisfies the rules; the message names the rule that failed."""


@dataclass(frozen=True)
class NodeCapacity:
    """A ready node as the scheduler sees it."""

    id: int
    name: str
    zone: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: int = 0  # containers of any application already on the node


@dataclass(frozen=True)
class ServiceDemand:
    """What one service asks for."""

    name: str
    indexes: Sequence[int]  # replica indexes that need a node
    placed: Mapping[int, int] = field(default_factory=dict)  # index -> node id of replicas that already have one
    host_port: int | None = None  # a fixed host port allows one replica per node


def place(nodes: Sequence[NodeCapacity], demand: ServiceDemand) -> dict[int, int]:
    """Assign a node to each index in ``demand.indexes``, spreading the service evenly.

    Each new replica goes to the node with the fewest replicas of this service, then the fewest
    containers overall, then the lowest id. A fixed host port can be published once per node.
    """
    if not nodes:
        raise PlacementError(_("The cluster has no ready node."))
    per_node = {n.id: 0 for n in nodes}
    for node_id in demand.placed.values():
        if node_id in per_node:
            per_node[node_id] += 1
    load = {n.id: n.containers for n in nodes}
    result: dict[int, int] = {}
    for index in sorted(demand.indexes):
        candidates = [n for n in nodes if demand.host_port is None or per_node[n.id] == 0]
        if not candidates:
            total = len(demand.placed) + len(demand.indexes)
            raise PlacementError(
                _(
                    "Host port %(port)s can be published once per node: service %(service)s needs %(total)s "
                    "containers but the cluster has %(nodes)s ready node(s). Leave the host port empty to "
                    "let the engine choose one per container."
                )
                % {"port": demand.host_port, "service": demand.name, "total": total, "nodes": len(nodes)}
            )
        best = min(candidates, key=lambda n: (per_node[n.id], load[n.id], n.id))
        result[index] = best.id
        per_node[best.id] += 1
        load[best.id] += 1
    return result
