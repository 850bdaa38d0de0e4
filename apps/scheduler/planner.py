"""Placing the replicas of services, one service after another on shared node states, incrementally."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from .messages import port_error, resource_error, rule_error, zones_error
from .model import NodeCapacity, PlacementError, Rule, ServiceDemand
from .nodes import NodeState, ZoneKey
from .order import order_services

RankKey = tuple[int, int, float, int, int]  # soft violations, replicas on the node, usage, containers, id
Rank = tuple[int, int, int, float, int, int]  # the same with the replicas in the node's zone second
_Allowed = dict[tuple[Rule, ...], list[NodeState]]  # hard constraints -> the nodes that satisfy them, shared in a plan


class _Planner:
    """Places one service on the shared node states, updating them as it goes."""

    def __init__(self, nodes: Sequence[NodeState], demand: ServiceDemand, app: str, allowed: _Allowed) -> None:
        self.nodes, self.demand, self.app = nodes, demand, app
        self.hard = [r for r in demand.rules if not r.soft]
        self.soft = [r for r in demand.rules if r.soft]
        self.affinities = [r for r in self.hard if r.kind == "affinity"]  # the hard rules that placing can change
        constraints = tuple(r for r in self.hard if r.kind == "constraint")
        if constraints not in allowed:
            allowed[constraints] = [n for n in nodes if all(n.holds(r) for r in constraints)]
        self.allowed = allowed[constraints]  # by the node's own facts, which placing does not change
        by_id = {n.id: n for n in nodes}
        mine = [by_id[i] for i in demand.placed.values() if i in by_id]
        self.per_node = Counter(n.id for n in mine)
        self.per_zone = Counter(n.zone_key for n in mine)
        self.covered = {n.cap.zone for n in mine if n.cap.zone}
        for node in mine:
            node.services[demand.name] = max(node.services[demand.name], self.per_node[node.id])

    def check_zones(self) -> None:
        """Fail early when the eligible nodes span fewer zones than ``availability:az`` asks for."""
        if not self.demand.zones:
            return
        eligible = {n.cap.zone for n in self.allowed if n.cap.zone and all(n.holds(r) for r in self.affinities)}
        if len(eligible | self.covered) < self.demand.zones:
            raise zones_error(self.demand, eligible | self.covered, _("its eligible nodes are in fewer"))

    def zones_only(self, remaining: int) -> bool:
        """Whether the next replica must go to a named zone not covered yet (``availability:az`` would fail
        otherwise: as many zones are missing as replicas remain)."""
        total = len(self.demand.placed) + len(self.demand.indexes)
        missing = min(self.demand.zones or 0, total) - len(self.covered)
        return missing > 0 and missing >= remaining

    def candidates(self, remaining: int) -> list[NodeState]:
        """Nodes that may take the next replica, worked out from scratch; raise naming the rule that left none.

        This is the definition that the incremental queue (``_Queue``) keeps up to date; the planner calls it
        only when the queue is empty, to name the rule that failed.
        """
        demand = self.demand
        eligible = [n for n in self.nodes if all(n.holds(r) for r in self.hard)]
        if not eligible:
            raise rule_error(self.nodes, self.hard, demand)
        if demand.host_port is not None:
            eligible = [n for n in eligible if self.per_node[n.id] == 0]
            if not eligible:
                raise port_error(self.nodes, demand)
        fitting = [n for n in eligible if n.fits(demand)]
        if not fitting:
            raise resource_error(eligible, demand)
        if self.zones_only(remaining):
            fitting = [n for n in fitting if n.cap.zone and n.cap.zone not in self.covered]
            if not fitting:
                raise zones_error(demand, self.covered, _("no eligible node with room is in another zone"))
        return fitting

    def key(self, node: NodeState) -> RankKey | None:
        """The rank within its zone (smaller is better) of a node of ``allowed``, or None when it may not take a
        replica now: a hard affinity fails, the fixed host port is taken there, or the reservations do not fit."""
        if self.affinities and not all(node.holds(r) for r in self.affinities):
            return None
        if self.demand.host_port is not None and self.per_node[node.id]:
            return None
        usage = node.usage_after(self.demand)
        if usage is None:
            return None
        violations = sum(1 for r in self.soft if not node.holds(r)) if self.soft else 0
        return violations, self.per_node[node.id], usage, node.containers, node.id

    def put(self, node: NodeState, index: int) -> None:
        """Record replica ``index`` on ``node``."""
        name = f"{self.app}_{self.demand.name}_{index}" if self.app else f"{self.demand.name}_{index}"
        node.add(self.demand, name)
        self.per_node[node.id] += 1
        self.per_zone[node.zone_key] += 1
        if node.cap.zone:
            self.covered.add(node.cap.zone)

    def replicated(self) -> dict[int, int]:
        """Each index in turn goes to the best-ranked candidate (see the module's docstring for the ranking)."""
        indexes = sorted(self.demand.indexes)
        result: dict[int, int] = {}
        if not indexes:
            return result
        queue = _Queue(self)
        for done, index in enumerate(indexes):
            remaining = len(indexes) - done
            best = queue.best(self.zones_only(remaining))
            if best is None:
                self.candidates(remaining)  # raises, naming the rule that left no node
                raise AssertionError("the candidate queue lost a node")  # pragma: no cover
            self.put(best, index)
            queue.landed(best)
            result[index] = best.id
        return result

    def global_(self) -> dict[int, int]:
        """One new replica on every eligible node that has none, indexes after the highest existing one."""
        eligible = [n for n in self.nodes if all(n.holds(r) for r in self.hard)]
        if not eligible and not self.demand.placed:
            raise rule_error(self.nodes, self.hard, self.demand)
        result: dict[int, int] = {}
        index = max(self.demand.placed, default=0)
        for node in sorted(eligible, key=lambda n: n.id):
            if self.per_node[node.id]:
                continue
            if not node.fits(self.demand):
                raise resource_error([node], self.demand)
            index += 1
            self.put(node, index)
            result[index] = node.id
        return result


class _Queue:
    """The candidates of one service, best first, kept up to date as its replicas land.

    The rank of a node is (soft violations, replicas of the service in its zone, replicas on the node, usage,
    containers, id). Placing a replica changes only the node it lands on (its replicas, usage, containers and
    the rules about its containers) and the zone count of that node's zone. So each zone keeps a heap of its
    candidates by the node part of the rank, and one heap orders the zones by their best node's full rank;
    a landing updates one node and one zone, O(log n), instead of rescanning every node. Stale heap entries
    are skipped when they reach the top (lazy deletion). The choice is the same node as a full scan's: the
    rank is a total order (it ends with the node id) and the candidate set is the same.
    """

    def __init__(self, planner: _Planner) -> None:
        self.planner = planner
        self.by_id = {n.id: n for n in planner.nodes}
        self.keys: dict[int, RankKey | None] = {}
        self.zones: dict[ZoneKey, list[RankKey]] = {}
        self.versions: dict[ZoneKey, int] = {}
        self.order: list[tuple[Rank, int, ZoneKey]] = []
        self.clock = 0
        for node in planner.allowed:  # a node that fails a constraint never becomes a candidate
            key = self.keys[node.id] = planner.key(node)
            if key is not None:
                self.zones.setdefault(node.zone_key, []).append(key)
        for zone, heap in self.zones.items():
            heapq.heapify(heap)
            self.refresh(zone)

    def zone_rank(self, zone: ZoneKey) -> Rank | None:
        """The full rank of the zone's best candidate, dropping stale entries on the way; None: no candidate."""
        heap = self.zones.get(zone)
        while heap and self.keys[heap[0][-1]] != heap[0]:
            heapq.heappop(heap)
        if not heap:
            return None
        violations, on_node, usage, containers, node_id = heap[0]
        return violations, self.planner.per_zone[zone], on_node, usage, containers, node_id

    def refresh(self, zone: ZoneKey) -> None:
        """Order the zone again after its best candidate or its replica count changed."""
        self.clock += 1
        self.versions[zone] = self.clock
        rank = self.zone_rank(zone)
        if rank is not None:
            heapq.heappush(self.order, (rank, self.clock, zone))

    def best(self, zones_only: bool) -> NodeState | None:
        """The best candidate (only in named zones not covered yet, with ``zones_only``); None when none."""
        if zones_only:
            covered = self.planner.covered
            ranks = [
                rank
                for zone in self.zones
                if isinstance(zone, str) and zone not in covered and (rank := self.zone_rank(zone)) is not None
            ]
            return self.by_id[min(ranks)[-1]] if ranks else None
        while self.order:
            rank, version, zone = self.order[0]
            if self.versions[zone] == version:
                return self.by_id[rank[-1]]
            heapq.heappop(self.order)
        return None

    def landed(self, node: NodeState) -> None:
        """A replica was put on ``node``: rank it again, and its zone."""
        zone = node.zone_key
        key = self.keys[node.id] = self.planner.key(node)
        if key is not None:
            heapq.heappush(self.zones.setdefault(zone, []), key)
        self.refresh(zone)


def _plan(nodes: Sequence[NodeState], demand: ServiceDemand, app: str, allowed: _Allowed) -> dict[int, int]:
    planner = _Planner(nodes, demand, app, allowed)
    planner.check_zones()
    return planner.global_() if demand.global_ else planner.replicated()


def place(nodes: Sequence[NodeCapacity], demand: ServiceDemand, app: str = "") -> dict[int, int]:
    """Assign a node to each index in ``demand.indexes`` (or to each eligible node, for a global service).

    Returns replica index -> node id. Raises PlacementError naming the rule that left no node.
    """
    if not nodes:
        raise PlacementError(_("The cluster has no ready node."))
    return _plan([NodeState(n) for n in nodes], demand, app, {})


def place_application(
    nodes: Sequence[NodeCapacity],
    demands: Sequence[ServiceDemand],
    depends: Mapping[str, Sequence[str]],
    app: str = "",
) -> dict[str, dict[int, int]]:
    """Plan every service of one application together, each after the services it depends on.

    Replicas placed earlier in the plan count for later affinities, spreads and reservations; each is
    named ``{app}_{service}_{index}`` for container affinities. Returns service -> (index -> node id),
    in placement order.
    """
    if not nodes:
        raise PlacementError(_("The cluster has no ready node."))
    by_name = {d.name: d for d in demands}
    if len(by_name) != len(demands):
        raise ValueError("each service may be demanded once")
    graph = {name: list(depends.get(name, ())) for name in by_name}
    graph.update({name: list(deps) for name, deps in depends.items() if name not in by_name})
    states = [NodeState(n) for n in nodes]
    allowed: _Allowed = {}
    return {name: _plan(states, by_name[name], app, allowed) for name in order_services(graph) if name in by_name}
