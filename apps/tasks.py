"""Celery tasks of applications: thin wrappers around :mod:`apps.releases`."""

from __future__ import annotations

from apps import releases
from console import work
from console.celery import berth_task


@berth_task("apps.run_release")
def run_release(release_id: int) -> str:
    """Carry out release ``release_id`` (idempotent; a terminal release is skipped)."""
    return releases.execute(release_id)


@berth_task("apps.reap_releases", soft_time_limit=120, time_limit=150)
def reap_releases() -> dict[str, int]:
    """Keep releases moving (console.work.reap): resume those whose worker vanished, or fail them after too many
    attempts, and send again the pending ones whose message was lost."""
    return work.reap(releases.Run, lambda release_id: run_release.delay(release_id))
