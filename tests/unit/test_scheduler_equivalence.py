"""The incremental scheduler places every replica exactly where the full-scan scheduler it replaced did.

Equal, not merely equally valid: both choose, for each replica in turn, the minimum of the same total order
(soft violations, zone spread, node spread, usage, containers, node id) over the same candidate set, so any
difference is a defect of the incremental bookkeeping, and exact equality is the stronger and simpler check
(placements of existing applications do not move when Berth is upgraded). The full-scan scheduler is kept here,
and only here, as the reference: ``reference_place`` and ``reference_place_application`` are the code of
``apps/scheduler.py`` before it became incremental (commit 2abe2f2), less its docstrings. The error messages are
built by the same helpers in both (they are not what changed); which error, and from which state, is compared.

bench/scheduler.py times both on the large workloads of issue 11.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

import pytest
from django.utils.translation import gettext as _
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.scheduler import (
    NodeCapacity,
    PlacementError,
    Rule,
    ServiceDemand,
    order_services,
    place,
    place_application,
)
from apps.scheduler.messages import port_error, resource_error, rule_error, zones_error

MIB = 1024 * 1024

# --- the reference: the full-scan scheduler --------------------------------------------------------------------


class _RefNode:
    """A node's state while a plan is being made (as before)."""

    def __init__(self, cap: NodeCapacity) -> None:
        self.cap = cap
        self.id = cap.id
        self.services: Counter[str] = Counter(cap.services)
        self.names = list(cap.containers_names)
        self.containers = cap.containers
        self.cpus = cap.reserved_cpus
        self.memory = cap.reserved_memory

    def value(self, key: str) -> str | None:
        cap, hostname = self.cap, self.cap.hostname or self.cap.name
        fields: dict[str, str | None] = {"node.id": str(cap.id), "node.name": cap.name, "node.zone": cap.zone or None}
        fields["node.hostname"] = fields["node"] = hostname
        if key in fields:
            return fields[key]
        if key in cap.labels:
            return str(cap.labels[key])
        return (cap.zone or None) if key == "zone" else None

    def holds(self, rule: Rule) -> bool:
        if rule.kind == "constraint":
            actual = self.value(rule.key)
            found = actual is not None and fnmatchcase(actual, rule.value)
        elif rule.key == "service":
            found = any(count > 0 and fnmatchcase(name, rule.value) for name, count in self.services.items())
        else:
            found = any(fnmatchcase(name, rule.value) for name in self.names)
        return found if rule.op == "==" else not found

    def free_cpus(self) -> float | None:
        return max(self.cap.cpus - self.cpus, 0.0) if self.cap.cpus else None

    def free_memory(self) -> int | None:
        return max(self.cap.memory - self.memory, 0) if self.cap.memory else None

    def fits(self, demand: ServiceDemand) -> bool:
        cpus, memory = self.free_cpus(), self.free_memory()
        return (cpus is None or demand.cpus <= cpus + 1e-9) and (memory is None or demand.memory <= memory)

    def usage(self, demand: ServiceDemand) -> float:
        cpu = (self.cpus + demand.cpus) / self.cap.cpus if self.cap.cpus else 0.0
        memory = (self.memory + demand.memory) / self.cap.memory if self.cap.memory else 0.0
        return max(cpu, memory)

    def zone_key(self) -> str | tuple[str, int]:
        return self.cap.zone or ("", self.id)

    def add(self, demand: ServiceDemand, name: str) -> None:
        self.services[demand.name] += 1
        self.names.append(name)
        self.containers += 1
        self.cpus += demand.cpus
        self.memory += demand.memory


class _RefPlanner:
    """Every replica rescans every node (as before)."""

    def __init__(self, nodes: Sequence[_RefNode], demand: ServiceDemand, app: str) -> None:
        self.nodes, self.demand, self.app = nodes, demand, app
        self.hard = [r for r in demand.rules if not r.soft]
        self.soft = [r for r in demand.rules if r.soft]
        by_id = {n.id: n for n in nodes}
        mine = [by_id[i] for i in demand.placed.values() if i in by_id]
        self.per_node = Counter(n.id for n in mine)
        self.per_zone = Counter(n.zone_key() for n in mine)
        self.covered = {n.cap.zone for n in mine if n.cap.zone}
        for node in nodes:
            node.services[demand.name] = max(node.services[demand.name], self.per_node[node.id])

    def check_zones(self) -> None:
        eligible = {n.cap.zone for n in self.nodes if n.cap.zone and all(n.holds(r) for r in self.hard)}
        if self.demand.zones and len(eligible | self.covered) < self.demand.zones:
            raise zones_error(self.demand, eligible | self.covered, _("its eligible nodes are in fewer"))

    def candidates(self, remaining: int) -> list[_RefNode]:
        demand = self.demand
        eligible = [n for n in self.nodes if all(n.holds(r) for r in self.hard)]
        if not eligible:
            raise rule_error(self.nodes, self.hard, demand)  # type: ignore[arg-type]
        if demand.host_port is not None:
            eligible = [n for n in eligible if self.per_node[n.id] == 0]
            if not eligible:
                raise port_error(self.nodes, demand)  # type: ignore[arg-type]
        fitting = [n for n in eligible if n.fits(demand)]
        if not fitting:
            raise resource_error(eligible, demand)  # type: ignore[arg-type]
        total = len(demand.placed) + len(demand.indexes)
        missing = min(demand.zones or 0, total) - len(self.covered)
        if missing > 0 and missing >= remaining:
            fitting = [n for n in fitting if n.cap.zone and n.cap.zone not in self.covered]
            if not fitting:
                raise zones_error(demand, self.covered, _("no eligible node with room is in another zone"))
        return fitting

    def rank(self, node: _RefNode) -> tuple[int, int, int, float, int, int]:
        violations = sum(1 for r in self.soft if not node.holds(r))
        usage = node.usage(self.demand)
        return violations, self.per_zone[node.zone_key()], self.per_node[node.id], usage, node.containers, node.id

    def put(self, node: _RefNode, index: int) -> None:
        name = f"{self.app}_{self.demand.name}_{index}" if self.app else f"{self.demand.name}_{index}"
        node.add(self.demand, name)
        self.per_node[node.id] += 1
        self.per_zone[node.zone_key()] += 1
        if node.cap.zone:
            self.covered.add(node.cap.zone)

    def replicated(self) -> dict[int, int]:
        indexes = sorted(self.demand.indexes)
        result: dict[int, int] = {}
        for done, index in enumerate(indexes):
            best = min(self.candidates(len(indexes) - done), key=self.rank)
            self.put(best, index)
            result[index] = best.id
        return result

    def global_(self) -> dict[int, int]:
        eligible = [n for n in self.nodes if all(n.holds(r) for r in self.hard)]
        if not eligible and not self.demand.placed:
            raise rule_error(self.nodes, self.hard, self.demand)  # type: ignore[arg-type]
        result: dict[int, int] = {}
        index = max(self.demand.placed, default=0)
        for node in sorted(eligible, key=lambda n: n.id):
            if self.per_node[node.id]:
                continue
            if not node.fits(self.demand):
                raise resource_error([node], self.demand)  # type: ignore[list-item]
            index += 1
            self.put(node, index)
            result[index] = node.id
        return result


def _reference_plan(nodes: Sequence[_RefNode], demand: ServiceDemand, app: str) -> dict[int, int]:
    planner = _RefPlanner(nodes, demand, app)
    planner.check_zones()
    return planner.global_() if demand.global_ else planner.replicated()


def reference_place(nodes: Sequence[NodeCapacity], demand: ServiceDemand, app: str = "") -> dict[int, int]:
    """``apps.scheduler.place`` as it was: a full scan of the nodes per replica."""
    if not nodes:
        raise PlacementError(_("The cluster has no ready node."))
    return _reference_plan([_RefNode(n) for n in nodes], demand, app)


def reference_place_application(
    nodes: Sequence[NodeCapacity],
    demands: Sequence[ServiceDemand],
    depends: Mapping[str, Sequence[str]],
    app: str = "",
) -> dict[str, dict[int, int]]:
    """``apps.scheduler.place_application`` as it was."""
    if not nodes:
        raise PlacementError(_("The cluster has no ready node."))
    by_name = {d.name: d for d in demands}
    if len(by_name) != len(demands):
        raise ValueError("each service may be demanded once")
    graph = {name: list(depends.get(name, ())) for name in by_name}
    graph.update({name: list(deps) for name, deps in depends.items() if name not in by_name})
    states = [_RefNode(n) for n in nodes]
    return {name: _reference_plan(states, by_name[name], app) for name in order_services(graph) if name in by_name}


# --- random clusters and applications ------------------------------------------------------------------------------

SERVICES = ("web", "db", "cache")
UNIT = 256 * MIB

clusters = st.lists(
    st.fixed_dictionaries(
        {
            "zone": st.sampled_from(["", "a", "b", "c"]),
            "labels": st.dictionaries(st.sampled_from(["disk", "tier"]), st.sampled_from(["ssd", "hdd"]), max_size=2),
            "containers": st.integers(0, 6),
            "cpus": st.sampled_from([0, 1, 2, 4]),
            "memory": st.sampled_from([0, 2, 4, 8]),
            "reserved_cpus": st.sampled_from([0, 0.25, 1]),
            "reserved_memory": st.sampled_from([0, 1, 2]),
            "services": st.dictionaries(st.sampled_from([*SERVICES, "other"]), st.integers(0, 2), max_size=2),
            "names": st.lists(st.sampled_from(["shop_db_1", "shop_web_9", "x_cache_1"]), max_size=2, unique=True),
            "hostname": st.sampled_from(["", "alpha", "beta"]),
        }
    ),
    min_size=1,
    max_size=9,
).map(
    lambda rows: [
        NodeCapacity(
            i + 1,
            f"n{i + 1}",
            r["zone"],
            r["labels"],
            r["containers"],
            r["cpus"],
            r["memory"] * UNIT,
            min(r["reserved_cpus"], r["cpus"]),
            min(r["reserved_memory"], r["memory"]) * UNIT,
            r["services"],
            tuple(r["names"]),
            r["hostname"],
        )
        for i, r in enumerate(rows)
    ]
)

rules = st.builds(
    Rule,
    kind=st.just("constraint"),
    key=st.sampled_from(["disk", "tier", "zone", "node.zone", "node.id", "node.hostname"]),
    op=st.sampled_from(["==", "!="]),
    value=st.sampled_from(["ssd", "hdd", "*d", "a", "b", "[ab]", "1", "2", "alpha", "*"]),
    soft=st.booleans(),
) | st.builds(
    Rule,
    kind=st.just("affinity"),
    key=st.sampled_from(["service", "container"]),
    op=st.sampled_from(["==", "!="]),
    value=st.sampled_from(["web", "db", "c*", "shop_web_*", "shop_db_?", "x_*", "*"]),
    soft=st.booleans(),
)


@st.composite
def applications(draw: st.DrawFn, nodes: list[NodeCapacity]) -> tuple[list[ServiceDemand], dict[str, list[str]]]:
    """One to three services with rules, reservations, ports, zones, existing replicas and dependencies."""
    names = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True))
    ids = [n.id for n in nodes]
    demands = []
    for name in names:
        placed = draw(st.dictionaries(st.integers(1, 4), st.sampled_from([*ids, 99]), max_size=3))
        first = max(placed, default=0) + 1
        wanted = draw(st.integers(0, 8))
        demands.append(
            ServiceDemand(
                name,
                list(range(first, first + wanted)),
                placed,
                host_port=draw(st.sampled_from([None, None, 8080])),
                rules=tuple(draw(st.lists(rules, max_size=3))),
                cpus=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
                memory=draw(st.sampled_from([0, UNIT, 2 * UNIT])),
                global_=draw(st.sampled_from([False, False, False, True])),
                zones=draw(st.sampled_from([None, None, 1, 2, 3])),
            )
        )
    depends = {name: draw(st.lists(st.sampled_from(names), max_size=2, unique=True)) for name in names}
    return demands, depends


def outcome(call: object, *args: object, **kwargs: object) -> tuple[str, object]:
    """What a placement gives: its result with the order of its keys, or the error's type and message."""
    try:
        result = call(*args, **kwargs)  # type: ignore[operator]
    except (PlacementError, ValueError) as error:
        return "error", (type(error).__name__, str(error))
    if isinstance(result, dict) and all(isinstance(v, dict) for v in result.values()):
        return "plan", [(service, list(placed.items())) for service, placed in result.items()]
    return "plan", list(result.items())


# --- properties ---------------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), nodes=clusters, app=st.sampled_from(["shop", ""]))
def test_application_placement_equals_the_full_scan(data: st.DataObject, nodes: list[NodeCapacity], app: str) -> None:
    demands, depends = data.draw(applications(nodes))
    assert outcome(place_application, nodes, demands, depends, app=app) == outcome(
        reference_place_application, nodes, demands, depends, app=app
    )


@settings(max_examples=100, deadline=None)
@given(data=st.data(), nodes=clusters)
def test_service_placement_equals_the_full_scan(data: st.DataObject, nodes: list[NodeCapacity]) -> None:
    demands, _depends = data.draw(applications(nodes))
    assert outcome(place, nodes, demands[0], app="shop") == outcome(reference_place, nodes, demands[0], app="shop")


@settings(max_examples=80, deadline=None)
@given(
    zones=st.lists(st.sampled_from(["", "a", "b", "c", "d"]), min_size=1, max_size=40),
    count=st.integers(1, 120),
    wanted_zones=st.sampled_from([None, 2, 3, 4]),
    cpus=st.sampled_from([0.0, 0.5, 1.0]),
    prefer=st.sampled_from([None, "a", "[ab]"]),
)
def test_many_replicas_on_many_nodes_equal_the_full_scan(
    zones: list[str], count: int, wanted_zones: int | None, cpus: float, prefer: str | None
) -> None:
    """Larger clusters than above, where the zone and node heaps hold many entries and fill up; a soft preference
    for some zones pulls replicas there until ``availability:az`` must send the last ones elsewhere."""
    nodes = [
        NodeCapacity(i + 1, f"n{i + 1}", z, cpus=4, memory=16 * UNIT, containers=i % 3) for i, z in enumerate(zones)
    ]
    soft = (Rule("constraint", "zone", "==", prefer, soft=True),) if prefer else ()
    wanted = ServiceDemand("web", list(range(1, count + 1)), cpus=cpus, memory=UNIT, rules=soft, zones=wanted_zones)
    assert outcome(place, nodes, wanted) == outcome(reference_place, nodes, wanted)


def test_zone_rule_sends_the_last_replicas_to_zones_not_covered() -> None:
    nodes = [NodeCapacity(1, "n1", "a"), NodeCapacity(2, "n2", "a"), NodeCapacity(3, "n3", "b"), NodeCapacity(4, "n4")]
    wanted = ServiceDemand("web", [1, 2, 3], rules=(Rule.parse("constraint:zone==~a"),), zones=2)
    assert place(nodes, wanted) == reference_place(nodes, wanted) == {1: 1, 2: 2, 3: 3}


@pytest.mark.parametrize("host_port", [None, 8080])
def test_self_anti_affinity_fills_one_node_each_then_names_the_rule(host_port: int | None) -> None:
    nodes = [NodeCapacity(i, f"n{i}", "ab"[i % 2]) for i in range(1, 6)]
    rule = Rule.parse("affinity:service!=web")
    for count in (5, 6):
        wanted = ServiceDemand("web", list(range(1, count + 1)), host_port=host_port, rules=(rule,))
        assert outcome(place, nodes, wanted) == outcome(reference_place, nodes, wanted)
