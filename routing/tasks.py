"""Celery tasks of the routing service."""

from __future__ import annotations

from console.celery import berth_task


@berth_task("routing.sync_cluster", soft_time_limit=300, time_limit=330)  # sync.SYNC_TASK
def sync_cluster(cluster_id: int) -> dict:
    """Bring the cluster's routers to the database's state (routing.sync.sync)."""
    from routing import sync

    return sync.sync(cluster_id)


@berth_task("routing.sync_all", soft_time_limit=300, time_limit=330)
def sync_all() -> int:
    """Ask for a sync of every cluster whose routing service is on or that still has routers (the beat runs it: a
    router someone removed, or a change whose sync was lost, comes back)."""
    from clusters.models import Cluster
    from routing import sync
    from routing.models import Router

    count = 0
    with_routers = set(Router.objects.values_list("cluster_id", flat=True))
    for cluster in Cluster.objects.all():
        if sync.enabled(cluster) or cluster.pk in with_routers:
            sync.schedule(cluster.pk)
            count += 1
    return count
