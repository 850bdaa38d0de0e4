"""What the scheduler reads: rules, nodes and what a service asks for; and its one error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from console.errors import Unsatisfiable

MIB = 1024 * 1024


class PlacementError(Unsatisfiable):
    """No placement satisfies the rules; the message names the rule that failed (the API answers 400)."""


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
