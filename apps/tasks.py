"""Celery tasks of applications: thin wrappers around :mod:`apps.releases`."""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.models import Release
from console import work
from console.celery import berth_task


@berth_task("apps.run_release")
def run_release(release_id: int) -> str:
    """Carry out release ``release_id`` (idempotent; a terminal release is skipped)."""
    from apps import releases

    return releases.execute(release_id)


@berth_task("apps.reap_releases", soft_time_limit=120, time_limit=150)
def reap_releases() -> dict[str, int]:
    """Keep releases moving (console.work.reap): resume those whose worker vanished, or fail them after too many
    attempts, and send again the pending ones whose message was lost."""
    from apps import releases

    def fail(release: Release) -> bool:
        reason = _("The worker running this release stopped answering (%(n)s attempts).") % {"n": release.attempts}
        return releases.finish(releases.Run(release), Release.Status.FAILED, reason) == Release.Status.FAILED

    def resumed(release: Release) -> None:
        releases.Run(release).event(_("The worker was lost; resuming."), "warning")

    rows = Release.objects.select_related("application", "application__tenant", "application__cluster", "actor")
    return work.reap(rows, lambda release_id: run_release.delay(release_id), fail, resumed)
