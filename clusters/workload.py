"""What runs on the nodes, as the cluster layer needs it: containers live with applications (``apps``), above
clusters, so this layer never imports them. The applications hand theirs over when Django starts
(``apps.apps`` → :func:`use` with ``apps.nodework.Containers``): the steps of the node tasks that move containers
(drain, failover; carried out by ``clusters.nodework.Task``), the check a drain makes before it is accepted, whether
a failed node has containers to fail over, the cleanup of stale copies, and the rows a reset or a deleted cluster
leaves behind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clusters.models import Cluster, Node, NodeTask


class Workload:
    """What runs on the nodes, as node tasks and the cluster's operations need it: by default nothing (a cluster
    layer alone has no containers); the applications hand theirs over when Django starts (:func:`use`)."""

    runners: dict[str, Callable[[NodeTask, Any], None]] = {}
    """The steps of the task kinds that move containers (drain, failover)."""

    def plan_drain(self, node: Node) -> Any:
        """The moves a drain of ``node`` would make; ``console.errors.Unsatisfiable`` naming the rule when the
        other nodes cannot hold its containers."""
        return {}

    def wants_failover(self, node: Node) -> bool:
        """Whether containers on ``node`` (failed) ask to be recreated elsewhere."""
        return False

    def remove_stale(self, node: Node) -> int | None:
        """Remove the copies on ``node`` of containers that now live elsewhere; how many, None when it must wait."""
        return 0

    def applications_of(self, cluster: Cluster) -> list[str]:
        """The names of the cluster's applications (not deleted)."""
        return []

    def network_users(self, cluster: Cluster) -> dict[str, list[str]]:
        """Shared network name → the names of the cluster's applications that join it."""
        return {}

    def forget_node(self, node: Node) -> None:
        """Delete the rows of the containers on ``node`` (their containers are gone from its host)."""

    def forget_cluster(self, cluster: Cluster) -> None:
        """Delete the rows of the cluster's applications and containers (the cluster is being deleted)."""


_workload = Workload()


def workload() -> Workload:
    """What runs on the nodes (``apps.nodework.Containers`` once Django has started)."""
    return _workload


def use(given: Workload) -> None:
    """Make ``given`` what runs on the nodes (its runners the steps of their kinds of node task)."""
    global _workload
    _workload = given
