"""The errors that name why no node could take a replica: the rule, the port, the resources or the zones."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .model import MIB, PlacementError, Rule, ServiceDemand
from .nodes import NodeState

_SHOWN_NODES = 10  # nodes listed in an error message


def _mib(size: float | None) -> str:
    return _("unlimited") if size is None else f"{round(size / MIB, 1):g} MiB"


def _fact(node: NodeState, rule: Rule) -> str:
    """What a node shows about a rule, for an error message."""
    if rule.kind == "constraint":
        return f"{rule.key.removeprefix('node.')} {node.value(rule.key) or _('(none)')}"
    if rule.key == "service":
        count = sum(n for s, n in node.services.items() if fnmatchcase(s, rule.value))
        return _("%(count)s container(s) of %(service)s") % {"count": count, "service": rule.value}
    count = sum(1 for name in node.names if fnmatchcase(name, rule.value))
    return _("%(count)s container(s) named %(glob)s") % {"count": count, "glob": rule.value}


def rule_error(nodes: Sequence[NodeState], hard: Sequence[Rule], demand: ServiceDemand) -> PlacementError:
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


def port_error(nodes: Sequence[NodeState], demand: ServiceDemand) -> PlacementError:
    total = len(demand.placed) + len(demand.indexes)
    return PlacementError(
        _(
            "Host port %(port)s can be published once per node: service %(service)s needs %(total)s "
            "containers but the cluster has %(nodes)s ready node(s). Leave the host port empty to "
            "let the engine choose one per container."
        )
        % {"port": demand.host_port, "service": demand.name, "total": total, "nodes": len(nodes)}
    )


def resource_error(nodes: Sequence[NodeState], demand: ServiceDemand) -> PlacementError:
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


def zones_error(demand: ServiceDemand, zones: set[str], why: str) -> PlacementError:
    return PlacementError(
        _("availability:az==%(n)s: service %(service)s must spread over %(n)s zones but %(why)s (%(zones)s)")
        % {"n": demand.zones, "service": demand.name, "why": why, "zones": ", ".join(sorted(zones)) or _("none")}
    )
