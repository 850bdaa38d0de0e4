"""Node health: every node checked in parallel with a bounded time each; N failures in a row → unreachable.

An engine that answers but may not be used counts as a failure: another engine than the registered one, or an
engine of this machine after the operator took the tenant's grant back (``clusters.hostaccess``). A node
registered before engine IDs were kept is the only one the check reaches without an ID (``identify``): it adopts its
engine's ID, or is retired (removed, with a log entry) when that engine already is another node or is this
machine without the grant. While a cluster's CA is being rotated, its local-provider nodes (whose engines restart)
are not counted as failed.

Transitions (ready ↔ unreachable) are operation-log entries (source: system) and are pushed to
browsers at once. A node that becomes unreachable starts a failover of the containers whose
services ask for it; a node that answers again first loses its stale copies of moved containers.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from clusters import docker_host as host
from clusters import hostaccess, network
from clusters.models import Node, NodeTask, node_changed
from clusters.workload import workload
from console import audit, live, work

log = logging.getLogger(__name__)
# What a tenant reads of a failed check is the same whatever answered (the detail goes to the server log).
NO_ANSWER = gettext_lazy("the engine did not answer as this node's engine (the server log has the details)")
NOT_USABLE = gettext_lazy(
    "the engine answering at this endpoint may not be used by this cluster (the server log has the details)"
)
WATCHED = (Node.State.READY, Node.State.UNREACHABLE, Node.State.INITIALIZING, Node.State.DRAINING)


def probe(endpoint: host.Endpoint) -> dict[str, Any]:
    """Ping one node's engine with the health timeout; return its inventory."""
    try:
        return host.ping(endpoint)
    except host.HostError:
        host.forget(endpoint)
        raise


def check_all() -> dict[str, int]:
    """Check every live node in parallel; no node waits for another, and none longer than the timeout (+1 s)."""
    nodes = list(Node.objects.filter(state__in=WATCHED).select_related("cluster", "cluster__tenant"))
    if not nodes:
        return {"checked": 0, "changed": 0}
    rotating = set(
        NodeTask.objects.filter(kind=NodeTask.Kind.ROTATE, status__in=NodeTask.ACTIVE).values_list(
            "cluster_id", flat=True
        )
    )
    changed = 0
    endpoints: dict[int, host.Endpoint] = {}
    for node in nodes:  # the door reads each row in this thread (the pool's threads only talk to engines)
        try:
            endpoints[node.pk] = host.Endpoint.of(node, timeout=settings.BERTH_HEALTH_TIMEOUT, identify=True)
        except host.HostRefused as exc:
            changed += refused(node, str(exc))
    checked = [node for node in nodes if node.pk in endpoints]
    if not checked:
        return {"checked": len(nodes), "changed": changed}
    pool = ThreadPoolExecutor(max_workers=min(16, len(checked)), thread_name_prefix="health")
    futures = {pool.submit(probe, endpoints[node.pk]): node for node in checked}
    done, _pending = wait(futures, timeout=settings.BERTH_HEALTH_TIMEOUT + 1.0)
    pool.shutdown(wait=False, cancel_futures=True)
    for future, node in futures.items():
        if future in done and future.exception() is None:
            info = future.result()
            try:
                hostaccess.check_node(node, info)
            except hostaccess.EngineRefused as exc:
                changed += refused(node, str(exc))
                continue
            changed += answered(node, info)
        elif node.cluster_id in rotating and node.provider_on_this_machine:
            continue  # its engine restarts with the new CA: not a failure
        else:
            if future in done:
                log.info("health: node %s did not answer: %s", node.pk, future.exception())
            changed += failed(node, str(NO_ANSWER))
    _keep_networks(nodes)
    return {"checked": len(nodes), "changed": changed}


def _keep_networks(nodes: list[Node]) -> None:
    """Ask for a converge of each cluster network whose nodes' memberships, as just read, are not what they should
    be (a node that joined the cluster or came back, a manager that died)."""
    by_cluster: dict[int, list[Node]] = {}
    for node in nodes:
        by_cluster.setdefault(node.cluster_id, []).append(node)
    for cluster_nodes in by_cluster.values():
        if network.out_of_shape(cluster_nodes[0].cluster, cluster_nodes):
            network.nudge(cluster_nodes[0].cluster_id)


def refused(node: Node, detail: str) -> int:
    """A node Berth may not use: a node never identified is retired for good; another counts a failed check."""
    log.warning("health: node %s (tenant %s) may not be used: %s", node.pk, node.cluster.tenant_id, detail)
    if not node.engine_id:
        return int(hostaccess.retire(node, str(NOT_USABLE)))
    return failed(node, str(NOT_USABLE))


def answered(node: Node, info: dict[str, Any]) -> int:
    """Record a good check; an unreachable or initializing node becomes ready again."""
    now = timezone.now()
    Node.objects.filter(pk=node.pk).update(failures=0, last_seen_at=now, info=info, last_error="")
    if node.state not in (Node.State.UNREACHABLE, Node.State.INITIALIZING):
        if node.stale_copies and node.state == Node.State.READY:  # it died and came back between two checks
            _cleanup_after_return(node)
        return 0
    with transaction.atomic():
        moved = Node.objects.filter(pk=node.pk, state=node.state).update(state=Node.State.READY)
        if not moved:
            return 0
        node.state, node.last_seen_at, node.last_error = Node.State.READY, now, ""
        audit.record(
            "cs:NodeReady",
            tenant=node.cluster.tenant,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            parameters={"engine": info.get("engine_version", "")},
            source="system",
        )
        live.publish("cluster", node.cluster_id, node.as_live())
    node_changed(node)
    _cleanup_after_return(node)
    return 1


def failed(node: Node, reason: str) -> int:
    """Record a failed check; after BERTH_HEALTH_FAILURES in a row a ready node becomes unreachable."""
    Node.objects.filter(pk=node.pk).update(failures=node.failures + 1, last_error=reason[:500])
    if node.failures + 1 < settings.BERTH_HEALTH_FAILURES or node.state in (Node.State.UNREACHABLE,):
        return 0
    with transaction.atomic():
        moved = Node.objects.filter(pk=node.pk, state=node.state).update(state=Node.State.UNREACHABLE)
        if not moved:
            return 0
        node.state, node.last_error = Node.State.UNREACHABLE, reason[:500]
        audit.record(
            "cs:NodeUnreachable",
            tenant=node.cluster.tenant,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=reason,
            source="system",
        )
        live.publish("cluster", node.cluster_id, node.as_live())
        _start_failover(node)
    node_changed(node)
    return 1


def _start_failover(node: Node) -> None:
    from clusters.tasks import run_node_task

    if not workload().wants_failover(node):
        return
    if NodeTask.objects.filter(node=node, status__in=NodeTask.ACTIVE).exists():
        return
    try:
        with transaction.atomic():
            task = NodeTask.objects.create(
                cluster=node.cluster, node=node, kind=NodeTask.Kind.FAILOVER, source="system", target_name=node.name
            )
    except IntegrityError:  # a task a request started since the check holds the node (one active task per node)
        return
    work.enqueue(lambda task_id: run_node_task.delay(task_id), task.pk)  # a broker outage never fails it


def _cleanup_after_return(node: Node) -> None:
    """Remove the copies a drain or failover left on the node; when that has to wait, a later check does it."""
    Node.objects.filter(pk=node.pk).update(stale_copies=False)
    try:
        removed = workload().remove_stale(node)
    except host.HostError as exc:
        log.warning("health: stale containers on %s stay for now: %s", node.name, exc)
        removed = None
    if removed is None:
        Node.objects.filter(pk=node.pk).update(stale_copies=True)
        return
    if removed:
        audit.record(
            "cs:RemoveStaleContainers",
            tenant=node.cluster.tenant,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            parameters={"removed": removed},
            source="system",
        )
