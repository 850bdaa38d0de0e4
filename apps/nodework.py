"""The container side of node tasks: drain (every container moved off a node before it leaves its cluster) and
failover (the containers of a failed node whose services ask for it recreated on healthy nodes), the check a
drain makes before it starts, and the cleanup of the stale copies a node that answers again still runs.

Containers live with applications, above clusters: the node task engine (``clusters.nodework``: the runner, the
other kinds, the host teardown) knows them only as the ``Workload`` this module hands it when Django starts
(``apps.apps``, ``clusters.workload``). Like releases, each step is safe to run twice: a container already moved
is skipped, a replacement that an earlier attempt created is adopted, and never more copies run than the desired
scale.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps import converge, stacks
from apps.models import Application, Container, Release, Service, containers_changed
from apps.scheduler import PlacementError
from clusters import docker_host as host
from clusters import nodework, workload
from clusters.models import Cluster, Node, NodeTask
from console import audit, live

# --- placement of moved containers -----------------------------------------------------------------


def plan_moves(containers: list[Container], cluster: Cluster, leaving: set[int]) -> dict[int, int]:
    """container id → new node id for ``containers`` leaving the nodes in ``leaving``; PlacementError if impossible.

    The scheduler is asked exactly as for a deploy (``stacks.moves``): the service's constraints, affinities,
    zones, reservations and fixed host port hold for moved containers too."""
    plan: dict[int, int] = {}
    by_service: dict[int, list[Container]] = {}
    for c in containers:
        by_service.setdefault(c.service_id, []).append(c)
    for service_id, moving in by_service.items():
        service = Service.objects.select_related("application").get(pk=service_id)
        staying = Container.objects.filter(service_id=service_id).exclude(node_id__in=leaving)
        try:
            assignment = stacks.moves(
                cluster,
                service.application,
                service,
                [c.index for c in moving],
                {c.index: c.node_id for c in staying},
                leaving,
            )
        except PlacementError as exc:
            raise PlacementError(
                _("The other nodes cannot hold %(service)s: %(reason)s") % {"service": service.name, "reason": exc}
            ) from exc
        for c in moving:
            plan[c.pk] = assignment[c.index]
    return plan


def plan_drain(node: Node) -> dict[int, int]:
    """The moves a drain of ``node`` would make (raises PlacementError with the reason when impossible)."""
    containers = list(Container.objects.filter(node=node).select_related("service"))
    return plan_moves(containers, node.cluster, {node.pk})


def move_container(container: Container, target: Node, *, remove_old: bool = True) -> str:
    """Recreate ``container`` on ``target`` (same name and index), point its row there, then remove the old copy.

    Returns a warning when the old copy could not be removed (its node did not answer); it is removed
    when that node answers again (``remove_stale``).
    """
    old_node, old_id = container.node, container.docker_id
    app = container.service.application
    converge.prepare_networks(app, [container.service])
    converge.prepare_node(target, app, [container.service], pull=False)
    container.node = target
    state, _created = converge.ensure_running(host.Endpoint.of(target), converge.spec_for(container))
    port = next(iter(state.ports.values()), None)
    with transaction.atomic():
        Container.objects.filter(pk=container.pk).update(
            node=target, docker_id=state.id, state=state.state, published_port=port
        )
    container.docker_id, container.state, container.published_port = state.id, state.state, port
    live.publish("application", app.pk, container.as_live())
    containers_changed(app.pk)
    if remove_old and old_id:
        try:
            host.remove_container(host.Endpoint.of(old_node, timeout=10), old_id)
        except host.HostError as exc:
            Node.objects.filter(pk=old_node.pk).update(stale_copies=True)
            return _("%(name)s: the old copy on %(node)s stays until that node answers (%(reason)s)") % {
                "name": container.name,
                "node": old_node.name,
                "reason": exc,
            }
    return ""


def remove_stale(node: Node) -> int | None:
    """Remove Berth containers on ``node`` whose replica now lives on another node (after a failover or a
    drain that lost the node midway). Returns how many were removed; None when it must wait (containers
    of the cluster are being moved)."""
    endpoint = host.Endpoint.of(node, timeout=10)
    if NodeTask.objects.filter(cluster_id=node.cluster_id, status__in=NodeTask.ACTIVE).exists():
        return None  # a drain or failover is moving containers: a copy made a moment ago is not stale
    busy = {
        str(pk)
        for pk in Release.objects.filter(
            application__cluster_id=node.cluster_id, status__in=Release.ACTIVE
        ).values_list("application_id", flat=True)
    }
    removed = 0
    for state in host.list_containers(endpoint, {**host.managed(), "berth.cluster": str(node.cluster_id)}):
        labels = state.labels
        if labels.get("berth.application") in busy:
            continue
        row = Container.objects.filter(
            service__application_id=labels.get("berth.application"),
            service__name=labels.get("berth.service"),
            index=labels.get("berth.replica"),
            generation=converge.generation_of(labels),
        ).first()
        if row is None or row.node_id != node.pk:
            host.remove_container(endpoint, state.id)
            removed += 1
    return removed


# --- the task kinds --------------------------------------------------------------------------------


def drain(task: NodeTask, run: nodework.Task) -> None:
    """Move every container off the node, then take the node out of the cluster."""
    node = task.node
    assert node is not None
    containers = list(Container.objects.filter(node=node).select_related("service__application", "node"))
    run.set_total(len(containers) + 1)
    plan = plan_moves(containers, node.cluster, {node.pk})
    targets = {n.pk: n for n in Node.objects.filter(pk__in=set(plan.values()))}
    warnings: list[str] = []
    for container in containers:
        run.checkpoint(_("Canceled by request; %(n)s container(s) were already moved.") % {"n": task.progress_done})
        target = targets[plan[container.pk]]
        warning = move_container(container, target)
        if warning:
            warnings.append(warning)
        app = container.service.application
        audit.record(
            "cs:MigrateContainer",
            actor=task.actor,
            tenant=task.cluster.tenant,
            resource=app.resource_name,
            target=container.name,
            cluster_id=task.cluster_id,
            source="task",
            parameters={"from": node.name, "to": target.name, "task": task.pk},
            outcome=audit.OperationLog.Outcome.FAILURE if warning else audit.OperationLog.Outcome.SUCCESS,
            error=warning,
        )
        run.step(_("%(name)s moved to %(node)s") % {"name": container.name, "node": targets[plan[container.pk]]})
    if warnings:
        raise nodework.TaskFailed(
            _("Every container was moved, but the node stopped answering: %(w)s") % {"w": "; ".join(warnings)}
        )
    nodework.leave(node)
    run.step(_("%(node)s left the cluster") % {"node": node.name})


def failover(task: NodeTask, run: nodework.Task) -> None:
    """Recreate, on healthy nodes, the containers of the failed node whose services ask for it."""
    node = task.node
    assert node is not None
    wanted = list(
        Container.objects.filter(node=node, service__reschedule_on_node_failure=True).select_related(
            "service__application", "node"
        )
    )
    run.set_total(len(wanted))
    if not wanted:
        return
    plan = plan_moves(wanted, node.cluster, {node.pk})
    targets = {n.pk: n for n in Node.objects.filter(pk__in=set(plan.values()))}
    for container in wanted:
        if Node.objects.filter(pk=node.pk, state=Node.State.READY).exists():
            break  # the node came back: its containers stay where they are
        Node.objects.filter(pk=node.pk).update(stale_copies=True)  # the copy there goes when it answers
        move_container(container, targets[plan[container.pk]], remove_old=False)
        run.step(
            _("%(name)s recreated on %(node)s") % {"name": container.name, "node": targets[plan[container.pk]].name}
        )


class Containers(workload.Workload):
    """The applications' containers, as node tasks and the cluster's operations need them."""

    runners = {NodeTask.Kind.DRAIN: drain, NodeTask.Kind.FAILOVER: failover}

    def plan_drain(self, node: Node) -> Any:
        return plan_drain(node)

    def wants_failover(self, node: Node) -> bool:
        return Container.objects.filter(node=node, service__reschedule_on_node_failure=True).exists()

    def remove_stale(self, node: Node) -> int | None:
        return remove_stale(node)

    def applications_of(self, cluster: Cluster) -> list[str]:
        return list(Application.objects.filter(cluster=cluster, deleted_at__isnull=True).values_list("name", flat=True))

    def network_users(self, cluster: Cluster) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        rows = Service.objects.filter(application__cluster=cluster, application__deleted_at__isnull=True)
        for app_name, spec in rows.order_by("application__name").values_list("application__name", "spec"):
            for entry in ((spec or {}).get(converge.NETWORKS_KEY) or {}).values():
                if entry.get("external") and app_name not in found.setdefault(entry["name"], []):
                    found[entry["name"]].append(app_name)
        return found

    def forget_node(self, node: Node) -> None:
        Container.objects.filter(node=node).delete()

    def forget_cluster(self, cluster: Cluster) -> None:
        Container.objects.filter(node__cluster=cluster).delete()
        Application.objects.filter(cluster=cluster).delete()
