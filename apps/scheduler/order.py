"""The order services are placed (and started) in: each after the services it depends on."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from .model import PlacementError


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
