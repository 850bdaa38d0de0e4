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

Planning is incremental: a service's candidates are ranked once, in a heap per zone, and after each replica
only the node it landed on and that node's zone are ranked again (``planner._Queue``); constraints, which read
only a node's own facts, are checked once per plan for each set of them. A service costs O(nodes + replicas ×
log nodes) instead of a scan of every node for every replica, and the choices are the same
(tests/unit/test_scheduler_equivalence.py; bench/scheduler.py).

Modules: ``model`` (rules, nodes, demands, the error), ``nodes`` (a node's state during a plan), ``planner``
(``place``, ``place_application``), ``order`` (dependency order), ``messages`` (why no node could be found).
"""

from __future__ import annotations

from .model import NodeCapacity, PlacementError, Rule, ServiceDemand
from .order import order_services
from .planner import place, place_application

__all__ = [
    "NodeCapacity",
    "PlacementError",
    "Rule",
    "ServiceDemand",
    "order_services",
    "place",
    "place_application",
]
