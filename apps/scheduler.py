"""Placement: which node each new container goes to. Pure: plain data in, plain data out.

The rules follow Alibaba Cloud Container Service (Swarm edition):

* ``constraint:KEY==VALUE`` / ``!=`` about a node: a label name, or ``node.id``, ``node.name``,
  ``node.hostname`` (alias ``node``; the name when the hostname is unknown) and ``node.zone``. A plain
  ``zone`` key is the node's zone unless the node carries a label literally named ``zone``. A missing
  label (or an empty zone) never equals anything, so ``!=`` holds for it.
* ``affinity:service==NAME`` / ``affinity:container==GLOB`` about the containers already on the node,
  including the ones placed earlier in the same plan.
* ``==~`` / ``!=~`` are soft: preferences that rank nodes, never a reason to fail.
* Values are globs (``*``, ``?``, ``[...]``), matched case-sensitively.

Among eligible nodes the choice is lexicographic: fewest soft-rule violations, then the zone with the
fewest replicas of this service (a node without a zone counts as a zone of its own, so clusters without
zones spread per node), then the fewest replicas of this service on the node, then the lowest resource
usage after placing (the larger of the CPU and memory fractions; unknown capacity counts as empty), then
the fewest containers, then the lowest id. ``ServiceDemand.zones`` (``availability:az==N``) counts named
zones only: a node without a zone is not an availability zone anyone asked for.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

MIB = 1024 * 1024
_SHOWN_NODES = 10  # nodes listed in an error message


class PlacementError(Exception):
    """No placement satisfies the rules; the message names the rule that failed."""


@dataclass(frozen=True)
class Rule:
    """One constraint (about a node) or affinity (about the containers on a node)."""

    kind: str  # "constraint" or "affinity"
    key: str  # constraint: label name, node.id, node.name, node.hostname, node.zone; affinity: service, container
    op: str  # "==" or "!="
    value: str  # a glob
    soft: bool = False  # a preference: ranks nodes, never causes a failure

    def __post_init__(self) -> None:
        if self.kind not in ("constraint", "affinity"):
            raise ValueError(f"unknown rule kind {self.kind!r}")
        if self.op not in ("==", "!="):
            raise ValueError(f"unknown rule operator {self.op!r}")
        if self.kind == "affinity" and self.key not in ("service", "container"):
            raise ValueError(f"affinity is about a service or a container, not {self.key!r}")

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Read ``kind:key==value`` with ``==``, ``!=``, ``==~`` or ``!=~``."""
        kind, _sep, rest = text.partition(":")
        for op in ("==~", "!=~", "==", "!="):
            key, found, value = rest.partition(op)
            if found and key.strip():
                return cls(kind.strip(), key.strip(), op[:2], value.strip(), op.endswith("~"))
        raise ValueError(f"not a rule: {text!r}")

    def describe(self) -> str:
        """The rule as written, e.g. ``constraint:zone==a`` or ``affinity:service!=~db``."""
        return f"{self.kind}:{self.key}{self.op}{'~' if self.soft else ''}{self.value}"


@dataclass(frozen=True)
class NodeCapacity:
    """A ready node as the scheduler sees it."""

    id: int
    name: str
    zone: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: int = 0  # containers of any application already on the node
    cpus: float = 0.0  # 0: unknown, unlimited
    memory: int = 0  # bytes; 0: unknown, unlimited
    reserved_cpus: float = 0.0  # already reserved by containers on the node
    reserved_memory: int = 0
    services: Mapping[str, int] = field(default_factory=dict)  # service of the same application -> containers
    containers_names: tuple[str, ...] = ()  # names of every container on the node
    hostname: str = ""


@dataclass(frozen=True)
class ServiceDemand:
    """What one service asks for."""

    name: str
    indexes: Sequence[int]  # replica indexes that need a node
    placed: Mapping[int, int] = field(default_factory=dict)  # index -> node id of replicas that already have one
    host_port: int | None = None  # a fixed host port allows one replica per node
    rules: tuple[Rule, ...] = ()
    cpus: float = 0.0  # reservation per container
    memory: int = 0  # bytes per container
    global_: bool = False  # one container on every eligible node; ``indexes`` is ignored
    zones: int | None = None  # availability:az==N, spread over at least N named zones


class _Node:
    """A node's state while a plan is being made: what is on it, what is reserved."""

    def __init__(self, cap: NodeCapacity) -> None:
        self.cap = cap
        self.id = cap.id
        self.services: Counter[str] = Counter(cap.services)
        self.names = list(cap.containers_names)
        self.containers = cap.containers
        self.cpus = cap.reserved_cpus
        self.memory = cap.reserved_memory

    def value(self, key: str) -> str | None:
        """The value a constraint key reads on this node; None when the node has none."""
        cap, hostname = self.cap, self.cap.hostname or self.cap.name
        fields: dict[str, str | None] = {"node.id": str(cap.id), "node.name": cap.name, "node.zone": cap.zone or None}
        fields["node.hostname"] = fields["node"] = hostname
        if key in fields:
            return fields[key]
        if key in cap.labels:
            return str(cap.labels[key])
        return (cap.zone or None) if key == "zone" else None

    def holds(self, rule: Rule) -> bool:
        """Whether the rule is satisfied on this node as it is now."""
        if rule.kind == "constraint":
            actual = self.value(rule.key)
            found = actual is not None and fnmatchcase(actual, rule.value)
        elif rule.key == "service":
            found = any(count > 0 and fnmatchcase(name, rule.value) for name, count in self.services.items())
        else:
            found = any(fnmatchcase(name, rule.value) for name in self.names)
        return found if rule.op == "==" else not found

    def free_cpus(self) -> float | None:
        """CPUs not reserved yet; None when unlimited."""
        return max(self.cap.cpus - self.cpus, 0.0) if self.cap.cpus else None

    def free_memory(self) -> int | None:
        """Bytes not reserved yet; None when unlimited."""
        return max(self.cap.memory - self.memory, 0) if self.cap.memory else None

    def fits(self, demand: ServiceDemand) -> bool:
        """Whether one more container of the demand fits the node's CPUs and memory."""
        cpus, memory = self.free_cpus(), self.free_memory()
        return (cpus is None or demand.cpus <= cpus + 1e-9) and (memory is None or demand.memory <= memory)

    def usage(self, demand: ServiceDemand) -> float:
        """The larger of the CPU and memory fractions reserved once one more container is placed."""
        cpu = (self.cpus + demand.cpus) / self.cap.cpus if self.cap.cpus else 0.0
        memory = (self.memory + demand.memory) / self.cap.memory if self.cap.memory else 0.0
        return max(cpu, memory)

    def zone_key(self) -> str | tuple[str, int]:
        """The zone for spreading: a node without one is a zone of its own."""
        return self.cap.zone or ("", self.id)

    def add(self, demand: ServiceDemand, name: str) -> None:
        """Record one container of the demand placed here."""
        self.services[demand.name] += 1
        self.names.append(name)
        self.containers += 1
        self.cpus += demand.cpus
        self.memory += demand.memory


def _mib(size: float | None) -> str:
    return _("unlimited") if size is None else f"{round(size / MIB, 1):g} MiB"


def _fact(node: _Node, rule: Rule) -> str:
    """What a node shows about a rule, for an error message."""
    if rule.kind == "constraint":
        return f"{rule.key.removeprefix('node.')} {node.value(rule.key) or _('(none)')}"
    if rule.key == "service":
        count = sum(n for s, n in node.services.items() if fnmatchcase(s, rule.value))
        return _("%(count)s container(s) of %(service)s") % {"count": count, "service": rule.value}
    count = sum(1 for name in node.names if fnmatchcase(name, rule.value))
    return _("%(count)s container(s) named %(glob)s") % {"count": count, "glob": rule.value}


def _rule_error(nodes: Sequence[_Node], hard: Sequence[Rule], demand: ServiceDemand) -> PlacementError:
    failed = [r for r in hard if any(not n.holds(r) for n in nodes)]
    shown = ", ".join(f"{n.cap.name} " + " / ".join(_fact(n, r) for r in failed) for n in nodes[:_SHOWN_NODES])
    if len(nodes) > _SHOWN_NODES:
        shown += ", …"
    ready = ngettext("%(count)s ready node", "%(count)s ready nodes", len(nodes)) % {"count": len(nodes)}
    rules = _(" and ").join(r.describe() for r in failed)
    return PlacementError(
        _("no node satisfies %(rules)s for service %(service)s (%(ready)s: %(nodes)s)")
        % {"rules": rules, "service": demand.name, "ready": ready, "nodes": shown}
    )


def _port_error(nodes: Sequence[_Node], demand: ServiceDemand) -> PlacementError:
    total = len(demand.placed) + len(demand.indexes)
    return PlacementError(
        _(
            "Host port %(port)s can be published once per node: service %(service)s needs %(total)s "
            "containers but the cluster has %(nodes)s ready node(s). Leave the host port empty to "
            "let the engine choose one per container."
        )
        % {"port": demand.host_port, "service": demand.name, "total": total, "nodes": len(nodes)}
    )


def _resource_error(nodes: Sequence[_Node], demand: ServiceDemand) -> PlacementError:
    memory = [n.free_memory() for n in nodes]
    cpus = [n.free_cpus() for n in nodes]
    values = {"service": demand.name, "memory": _mib(demand.memory), "cpus": f"{demand.cpus:g}"}
    if all(free is not None and free < demand.memory for free in memory):
        values["free"] = _mib(max(f for f in memory if f is not None))
        message = _(
            "not enough memory: service %(service)s needs %(memory)s per container; "
            "the most free on an eligible node is %(free)s"
        )
    elif all(free is not None and free < demand.cpus - 1e-9 for free in cpus):
        values["free"] = f"{max(f for f in cpus if f is not None):g}"
        message = _(
            "not enough CPU: service %(service)s needs %(cpus)s CPUs per container; "
            "the most free on an eligible node is %(free)s CPUs"
        )
    else:
        values["free"] = ", ".join(
            f"{n.cap.name} {'∞' if c is None else f'{c:g}'} CPUs {_mib(m)}"
            for n, c, m in list(zip(nodes, cpus, memory, strict=True))[:_SHOWN_NODES]
        )
        message = _(
            "not enough CPU and memory together: service %(service)s needs %(cpus)s CPUs and %(memory)s per "
            "container; no eligible node has both free (%(free)s)"
        )
    return PlacementError(message % values)


def _zones_error(demand: ServiceDemand, zones: set[str], why: str) -> PlacementError:
    return PlacementError(
        _("availability:az==%(n)s: service %(service)s must spread over %(n)s zones but %(why)s (%(zones)s)")
        % {"n": demand.zones, "service": demand.name, "why": why, "zones": ", ".join(sorted(zones)) or _("none")}
    )


class _Planner:
    """Places one service on the shared node states, updating them as it goes."""

    def __init__(self, nodes: Sequence[_Node], demand: ServiceDemand, app: str) -> None:
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
        """Fail early when the eligible nodes span fewer zones than ``availability:az`` asks for."""
        eligible = {n.cap.zone for n in self.nodes if n.cap.zone and all(n.holds(r) for r in self.hard)}
        if self.demand.zones and len(eligible | self.covered) < self.demand.zones:
            raise _zones_error(self.demand, eligible | self.covered, _("its eligible nodes are in fewer"))

    def candidates(self, remaining: int) -> list[_Node]:
        """Nodes that may take the next replica; raise naming the rule that left none."""
        demand = self.demand
        eligible = [n for n in self.nodes if all(n.holds(r) for r in self.hard)]
        if not eligible:
            raise _rule_error(self.nodes, self.hard, demand)
        if demand.host_port is not None:
            eligible = [n for n in eligible if self.per_node[n.id] == 0]
            if not eligible:
                raise _port_error(self.nodes, demand)
        fitting = [n for n in eligible if n.fits(demand)]
        if not fitting:
            raise _resource_error(eligible, demand)
        total = len(demand.placed) + len(demand.indexes)
        missing = min(demand.zones or 0, total) - len(self.covered)
        if missing > 0 and missing >= remaining:
            fitting = [n for n in fitting if n.cap.zone and n.cap.zone not in self.covered]
            if not fitting:
                raise _zones_error(demand, self.covered, _("no eligible node with room is in another zone"))
        return fitting

    def rank(self, node: _Node) -> tuple[int, int, int, float, int, int]:
        """Smaller is better: soft violations, zone spread, node spread, usage, load, id."""
        violations = sum(1 for r in self.soft if not node.holds(r))
        usage = node.usage(self.demand)
        return violations, self.per_zone[node.zone_key()], self.per_node[node.id], usage, node.containers, node.id

    def put(self, node: _Node, index: int) -> None:
        """Record replica ``index`` on ``node``."""
        name = f"{self.app}_{self.demand.name}_{index}" if self.app else f"{self.demand.name}_{index}"
        node.add(self.demand, name)
        self.per_node[node.id] += 1
        self.per_zone[node.zone_key()] += 1
        if node.cap.zone:
            self.covered.add(node.cap.zone)

    def replicated(self) -> dict[int, int]:
        """Each index in turn goes to the best-ranked candidate."""
        indexes = sorted(self.demand.indexes)
        result: dict[int, int] = {}
        for done, index in enumerate(indexes):
            best = min(self.candidates(len(indexes) - done), key=self.rank)
            self.put(best, index)
            result[index] = best.id
        return result

    def global_(self) -> dict[int, int]:
        """One new replica on every eligible node that has none, indexes after the highest existing one."""
        eligible = [n for n in self.nodes if all(n.holds(r) for r in self.hard)]
        if not eligible and not self.demand.placed:
            raise _rule_error(self.nodes, self.hard, self.demand)
        result: dict[int, int] = {}
        index = max(self.demand.placed, default=0)
        for node in sorted(eligible, key=lambda n: n.id):
            if self.per_node[node.id]:
                continue
            if not node.fits(self.demand):
                raise _resource_error([node], self.demand)
            index += 1
            self.put(node, index)
            result[index] = node.id
        return result


def _plan(nodes: Sequence[_Node], demand: ServiceDemand, app: str) -> dict[int, int]:
    planner = _Planner(nodes, demand, app)
    planner.check_zones()
    return planner.global_() if demand.global_ else planner.replicated()


def place(nodes: Sequence[NodeCapacity], demand: ServiceDemand, app: str = "") -> dict[int, int]:
    """Assign a node to each index in ``demand.indexes`` (or to each eligible node, for a global service).

    Returns replica index -> node id. Raises PlacementError naming the rule that left no node.
    """
    if not nodes:
        raise PlacementError(_("The cluster has no ready node."))
    return _plan([_Node(n) for n in nodes], demand, app)


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
    states = [_Node(n) for n in nodes]
    return {name: _plan(states, by_name[name], app) for name in order_services(graph) if name in by_name}


def order_services(depends: Mapping[str, Sequence[str]]) -> list[str]:
    """Services in dependency order, each after the ones it depends on.

    Among services free to go, the one met first in the input (keys, then dependencies named only as
    such) goes first. A cycle raises PlacementError naming it.
    """
    names = list(dict.fromkeys([*depends, *(d for deps in depends.values() for d in deps)]))
    position = {name: i for i, name in enumerate(names)}
    waiting = {name: set(depends.get(name, ())) for name in names}
    dependents: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for dep in waiting[name]:
            dependents[dep].append(name)
    ready = [position[n] for n in names if not waiting[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for other in dependents[name]:
            waiting[other].discard(name)
            if not waiting[other]:
                heapq.heappush(ready, position[other])
    if len(order) < len(names):
        raise PlacementError(
            _("services depend on each other in a cycle: %(cycle)s") % {"cycle": " -> ".join(_cycle(names, waiting))}
        )
    return order


def _cycle(names: Sequence[str], waiting: Mapping[str, set[str]]) -> list[str]:
    """Follow unmet dependencies from the first stuck service until one repeats."""
    name = next(n for n in names if waiting[n])
    path: list[str] = []
    while name not in path:
        path.append(name)
        name = min(waiting[name], key=names.index)
    return path[path.index(name) :] + [name]
