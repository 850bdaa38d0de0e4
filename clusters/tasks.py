"""Celery tasks of clusters: node tasks, the health check, and the reaper of node tasks."""

from __future__ import annotations

from clusters import certificates, nodework
from console import work
from console.celery import berth_task


@berth_task("clusters.run_node_task", soft_time_limit=3600, time_limit=3700)
def run_node_task(task_id: int) -> str:
    """Carry out node task ``task_id`` (idempotent)."""
    return nodework.execute(task_id)


@berth_task("clusters.check_nodes", soft_time_limit=30, time_limit=40)
def check_nodes() -> dict[str, int]:
    """Check every node's engine (the beat runs it every BERTH_HEALTH_INTERVAL seconds)."""
    from clusters import health

    return health.check_all()


@berth_task("clusters.converge_network", soft_time_limit=300, time_limit=330)  # network.CONVERGE_TASK
def converge_network(cluster_id: int) -> dict:
    """Bring the cluster's ready nodes into its network (clusters.network.converge); the health check asks."""
    from clusters import network
    from clusters.models import Cluster

    cluster = Cluster.objects.select_related("tenant").filter(pk=cluster_id).first()
    return network.converge(cluster) if cluster is not None else {}


@berth_task("clusters.reap_node_tasks", soft_time_limit=60, time_limit=90)
def reap_node_tasks() -> dict[str, int]:
    """Keep node tasks moving (console.work.reap): resume those whose worker vanished, or fail them after too many
    attempts, and send again the pending ones whose message was lost."""
    return work.reap(nodework.Task, lambda task_id: run_node_task.delay(task_id))


@berth_task("clusters.sweep_certificates", soft_time_limit=60, time_limit=90)
def sweep_certificates() -> int:
    """Record as revoked the user certificates whose holder may no longer issue them (see clusters.certificates)."""
    return certificates.sweep()
