"""A node's state while a plan is made: what is on it and reserved, and whether a rule holds there."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase

from .model import NodeCapacity, Rule, ServiceDemand

ZoneKey = str | tuple[str, int]


class NodeState:
    """A node's state while a plan is being made: what is on it, what is reserved."""

    def __init__(self, cap: NodeCapacity) -> None:
        self.cap = cap
        self.id = cap.id
        self.services: Counter[str] = Counter(cap.services)
        self.names = list(cap.containers_names)
        self.containers = cap.containers
        self.cpus = cap.reserved_cpus
        self.memory = cap.reserved_memory
        self.zone_key: ZoneKey = cap.zone or ("", cap.id)  # for spreading: a node without a zone is one of its own

    def value(self, key: str) -> str | None:
        """The value a constraint key reads on this node; None when the node has none."""
        cap = self.cap
        if key == "node.id":
            return str(cap.id)
        if key == "node.name":
            return cap.name
        if key == "node.zone":
            return cap.zone or None
        if key in ("node.hostname", "node"):
            return cap.hostname or cap.name
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
        return self.usage_after(demand) is not None

    def usage_after(self, demand: ServiceDemand) -> float | None:
        """The larger of the CPU and memory fractions reserved once one more container of the demand is placed
        (unknown capacity counts as empty); None when it does not fit."""
        cap = self.cap
        cpu = memory = 0.0
        if cap.cpus:
            if demand.cpus > max(cap.cpus - self.cpus, 0.0) + 1e-9:
                return None
            cpu = (self.cpus + demand.cpus) / cap.cpus
        if cap.memory:
            if demand.memory > max(cap.memory - self.memory, 0):
                return None
            memory = (self.memory + demand.memory) / cap.memory
        return max(cpu, memory)

    def add(self, demand: ServiceDemand, name: str) -> None:
        """Record one container of the demand placed here."""
        self.services[demand.name] += 1
        self.names.append(name)
        self.containers += 1
        self.cpus += demand.cpus
        self.memory += demand.memory
