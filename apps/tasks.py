"""Celery tasks of applications: thin wrappers around :mod:`apps.releases`."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.models import Release
from console.celery import berth_task

log = logging.getLogger(__name__)


@berth_task("apps.run_release")
def run_release(release_id: int) -> str:
    """Carry out release ``release_id`` (idempotent; a terminal release is skipped)."""
    from apps import releases

    return releases.execute(release_id)


@berth_task("apps.reap_releases", soft_time_limit=120, time_limit=150)
def reap_releases() -> dict[str, int]:
    """Find releases whose worker vanished (no heartbeat): resume them, or fail them after too many attempts."""
    from apps import releases

    cutoff = timezone.now() - timedelta(seconds=settings.BERTH_REAPER_TIMEOUT)
    stale = Release.objects.filter(
        Q(status=Release.Status.RUNNING, heartbeat_at__lt=cutoff)
        | Q(status=Release.Status.PENDING, created_at__lt=cutoff)
    ).select_related("application", "application__tenant", "application__cluster", "actor")
    resumed = failed = 0
    for release in stale:
        if release.attempts >= settings.BERTH_RELEASE_MAX_ATTEMPTS:
            run = releases.Run(release)
            reason = _("The worker running this release stopped answering (%(n)s attempts).") % {"n": release.attempts}
            if releases.finish(run, Release.Status.FAILED, reason) == Release.Status.FAILED:
                failed += 1
            continue
        # Back to pending (compare-and-set, so two reapers never both resume it) and enqueue again.
        if release.move(release.status, Release.Status.PENDING, heartbeat_at=timezone.now()):
            releases.Run(release).event(_("The worker was lost; resuming."), "warning")
            run_release.delay(release.pk)
            resumed += 1
    if resumed or failed:
        log.warning("reaper: resumed %s, failed %s release(s)", resumed, failed)
    return {"resumed": resumed, "failed": failed}
