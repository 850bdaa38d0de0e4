"""Celery tasks of clusters: node tasks, the health check, and the reaper of node tasks."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clusters import certificates
from clusters.models import NodeTask
from console.celery import berth_task


@berth_task("clusters.run_node_task", soft_time_limit=3600, time_limit=3700)
def run_node_task(task_id: int) -> str:
    """Carry out node task ``task_id`` (idempotent)."""
    from clusters import nodework

    return nodework.execute(task_id)


@berth_task("clusters.check_nodes", soft_time_limit=30, time_limit=40)
def check_nodes() -> dict[str, int]:
    """Check every node's engine (the beat runs it every BERTH_HEALTH_INTERVAL seconds)."""
    from clusters import health

    return health.check_all()


@berth_task("clusters.reap_node_tasks", soft_time_limit=60, time_limit=90)
def reap_node_tasks() -> dict[str, int]:
    """Resume node tasks whose worker vanished, or fail them after too many attempts."""
    from clusters import nodework

    cutoff = timezone.now() - timedelta(seconds=settings.BERTH_REAPER_TIMEOUT)
    stale = NodeTask.objects.filter(
        Q(status=NodeTask.Status.RUNNING, heartbeat_at__lt=cutoff)
        | Q(status=NodeTask.Status.PENDING, created_at__lt=cutoff)
    ).select_related("cluster", "node", "actor")
    resumed = failed = 0
    for task in stale:
        if task.attempts >= settings.BERTH_RELEASE_MAX_ATTEMPTS:
            reason = _("The worker running this task stopped answering (%(n)s attempts).") % {"n": task.attempts}
            failed += nodework.finish(task, NodeTask.Status.FAILED, reason) == NodeTask.Status.FAILED
        elif task.move(task.status, NodeTask.Status.PENDING, heartbeat_at=timezone.now()):
            run_node_task.delay(task.pk)
            resumed += 1
    return {"resumed": resumed, "failed": failed}


@berth_task("clusters.sweep_certificates", soft_time_limit=60, time_limit=90)
def sweep_certificates() -> int:
    """Record as revoked the user certificates whose holder may no longer issue them (see clusters.certificates)."""
    return certificates.sweep()
