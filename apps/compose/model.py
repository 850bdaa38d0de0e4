"""Value types of the Compose loader: problems, the refusal error, template variables and Alibaba hints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

MAX_BYTES = 1024 * 1024
"""Compose files larger than this many bytes are refused before parsing."""
MAX_EXPANDED_BYTES = 4 * MAX_BYTES
"""Largest size a document may reach once every alias is expanded (yaml_safe); and, separately, the most the
later steps (interpolation, ``extends``, port ranges) may add to it. Both are checked before anything is built,
so a small request never costs more than a few times its size in memory or in a response."""


@dataclass(frozen=True)
class Problem:
    """One reason a Compose file is refused: where (a dotted path, ``line N`` or ``(file)``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ComposeError(ValueError):
    """A refused Compose file. ``errors`` is a list of Problem; str() joins them, one per line."""

    errors: list[Problem]

    def __init__(self, errors: Iterable[Problem]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(problem) for problem in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.errors)


class Problems:
    """Collects problems while a file is processed, so that every problem is reported, not just the first; and
    warnings: what is accepted but deserves a word (a variable read as empty, a label Berth does not know)."""

    def __init__(self, budget: int = MAX_EXPANDED_BYTES) -> None:
        self.items: list[Problem] = []
        self.warnings: list[Problem] = []
        self.warned: set[str] = set()
        self.quiet: set[str] = set()
        self.budget = budget
        self.over_budget = False

    def spend(self, path: str, size: int) -> bool:
        """Account for ``size`` more bytes the document grows by (a substitution, an ``extends``, a port range);
        False, with one problem recorded, once the growth passes the budget (the caller then builds nothing)."""
        self.budget -= max(0, size)
        if self.budget >= 0:
            return True
        if not self.over_budget:
            self.over_budget = True
            self.items.append(
                Problem(
                    path,
                    f"the document grows past {MAX_EXPANDED_BYTES} bytes through variables, extends or port "
                    "ranges; it is refused",
                )
            )
        return False

    def add(self, path: str, message: str) -> None:
        """Record one problem (the same problem twice is recorded once; see ``silence``)."""
        problem = Problem(path, message)
        if problem not in self.items and not self.is_silenced(path):
            self.items.append(problem)

    def warn(self, path: str, message: str, *, once: str | None = None) -> None:
        """Record one warning; with ``once``, only the first warning of that key (a variable is named once)."""
        if once is not None:
            if once in self.warned:
                return
            self.warned.add(once)
        warning = Problem(path, message)
        if warning not in self.warnings:
            self.warnings.append(warning)

    def silence(self, path: str) -> None:
        """Report nothing more at or under ``path``: its value is already known to be wrong (no cascades)."""
        self.quiet.add(path)

    def is_silenced(self, path: str) -> bool:
        """Whether ``path`` is at or under a silenced path."""
        return any(path == quiet or path.startswith((f"{quiet}.", f"{quiet}[")) for quiet in self.quiet)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        """Raise ComposeError with every problem recorded so far, if there is one."""
        if self.items:
            raise ComposeError(self.items)


def join_path(parent: str, key: str | int) -> str:
    """The path of a child: ``services`` + ``web`` is ``services.web``; a list index gives ``ports[1]``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


@dataclass(frozen=True)
class Variable:
    """A ``${VAR}`` parameter of a template: its default (``:-``/``-``) and whether it is required (``:?``/``?``)."""

    name: str
    default: str | None = None
    required: bool = False
    message: str | None = None


@dataclass(frozen=True)
class Rule:
    """One scheduling rule: ``constraint:zone==a`` is Rule("constraint", "zone", "==", "a", soft=False)."""

    kind: Literal["constraint", "affinity"]
    key: str
    op: Literal["==", "!="]
    value: str
    soft: bool = False


@dataclass(frozen=True)
class SchedulingHints:
    """Where the swarm may place a service's containers, from environment hints and deploy.placement."""

    constraints: tuple[Rule, ...] = ()
    affinities: tuple[Rule, ...] = ()
    availability_zones: int | None = None
    reschedule_on_node_failure: bool = False


@dataclass(frozen=True)
class ProbeSpec:
    """The health probe of ``aliyun.probe.*``: a URL (http:// or tcp://) or a command, with timings in seconds."""

    url: str | None = None
    cmd: str | None = None
    timeout_seconds: int | None = None
    initial_delay_seconds: int | None = None


@dataclass(frozen=True)
class LogSpec:
    """One log of ``aliyun.logs.NAME``: the container's standard output or files inside it (a path, globs
    allowed), with the ``.format`` (and its ``.format.pattern``), ``.tags`` and ``.target`` labels of that name."""

    name: str
    source: str  # "stdout" or an absolute path inside the container
    format: str | None = None  # none, json, csv, nginx, apache2 or regexp
    pattern: str | None = None  # the regular expression of format regexp
    tags: dict[str, str] = field(default_factory=dict)
    target: str | None = None  # where the collector stores it (an index, a logstore); the name by default

    @property
    def is_stdout(self) -> bool:
        return self.source == "stdout"


REMOVE_CONTAINERS = ("remove-none", "remove-finished", "remove-failed", "remove-all")
"""``aliyun.remove_containers``: which finished task containers are removed (none, those that succeeded, those
that failed, all)."""


@dataclass(frozen=True)
class AliyunLabels:
    """The ``aliyun.*`` labels of one service, parsed (see apps.compose.aliyun for the meaning of each)."""

    scale: int | None = None
    global_: bool = False
    depends: tuple[str, ...] = ()
    latest_image: bool = False
    probe: ProbeSpec | None = None
    rolling_updates: bool = False
    rolling_updates_parallelism: int | None = None
    routing: dict[int, tuple[str, ...]] = field(default_factory=dict)
    routing_session_sticky: bool = False
    lb: dict[int, str] = field(default_factory=dict)
    auto_scaling: dict[str, str] = field(default_factory=dict)
    schedule: str | None = None
    logs: dict[str, LogSpec] = field(default_factory=dict)
    retry_count: int | None = None  # a task container is started again this many times after it fails
    remove_containers: str | None = None  # one of REMOVE_CONTAINERS
