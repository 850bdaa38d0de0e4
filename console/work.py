"""Long work as a row: the status machine shared by releases (applications) and node tasks (clusters).

Status moves only by compare-and-set (``move``); tasks take ids, start only rows they ``claim`` (pending →
running, so a message delivered twice runs the work once), heartbeat as they progress, and one reaper (``reap``)
resumes or fails rows whose worker vanished and sends again pending rows whose message was lost.

The row, written in the request's transaction, is the record of accepted work; the broker message is only the
worker's doorbell. ``enqueue`` rings it after commit and never fails the request when the broker is away (Redis
restarting): the row stays pending and ``reap`` sends it again once BERTH_PENDING_RESEND_SECONDS passed, which
also covers messages a broker restarted without persistence forgot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import KombuError

log = logging.getLogger(__name__)


class WorkStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    RUNNING = "running", _("running")
    SUCCESSFUL = "successful", _("successful")
    FAILED = "failed", _("failed")
    CANCELED = "canceled", _("canceled")


class LongWork(models.Model):
    """Fields and status machine of one piece of long work."""

    Status = WorkStatus
    TERMINAL = frozenset({WorkStatus.SUCCESSFUL, WorkStatus.FAILED, WorkStatus.CANCELED})
    ACTIVE = frozenset({WorkStatus.PENDING, WorkStatus.RUNNING})

    status = models.CharField(max_length=12, choices=WorkStatus.choices, default=WorkStatus.PENDING)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    request_id = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=10, default="ui")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def percent(self) -> int:
        """Progress as a whole percentage (100 when there was nothing to do and it finished)."""
        if self.progress_total == 0:
            return 100 if self.status in self.TERMINAL else 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    def move(self, old: str | set[str] | frozenset[str], new: str, **fields: Any) -> bool:
        """Compare-and-set the status; True when this call made the change."""
        olds = {old} if isinstance(old, str) else set(old)
        if new in self.TERMINAL:
            fields.setdefault("finished_at", timezone.now())
        changed = type(self)._default_manager.filter(pk=self.pk, status__in=olds).update(status=new, **fields)
        if changed:
            self.status = new
            for key, value in fields.items():
                setattr(self, key, value)
        return bool(changed)

    def claim(self) -> bool:
        """Start the work: pending → running (compare-and-set); True for the one caller that got it.

        Only pending work is claimed: a message sent again (``reap``) or delivered twice finds the work running
        and leaves it alone. Work whose worker vanished goes back to pending through ``reap``.
        """
        now = timezone.now()
        return self.move(WorkStatus.PENDING, WorkStatus.RUNNING, started_at=self.started_at or now, heartbeat_at=now)


Send = Callable[[int], Any]
"""Publishes the task of one row, by id (``task.delay``)."""


def send(publish: Send, row_id: int) -> bool:
    """Ask a worker to carry out row ``row_id``; False, with a warning in the log, when the broker cannot be reached.

    A broker outage is not the request's failure: the row is pending and ``reap`` sends it again.
    """
    try:
        publish(row_id)
    except (KombuError, OSError) as exc:  # kombu wraps the transport's connection errors in OperationalError
        log.warning("work: could not send %s to the broker (%s); the reaper sends it again", row_id, exc)
        return False
    return True


def enqueue(publish: Send, row_id: int) -> None:
    """Send the work once the current transaction commits (``send``: never raises for a broker outage)."""
    transaction.on_commit(lambda: send(publish, row_id))


def reap(
    rows: QuerySet[Any],
    publish: Send,
    fail: Callable[[Any], bool],
    resumed: Callable[[Any], None] | None = None,
) -> dict[str, int]:
    """Keep accepted work moving: the one reaper of releases and node tasks (each passes its rows and task).

    * A running row whose heartbeat is older than BERTH_REAPER_TIMEOUT lost its worker: it goes back to pending
      and is sent again (``resumed`` is told), or after BERTH_RELEASE_MAX_ATTEMPTS attempts ``fail`` ends it
      (True when that call failed it).
    * A pending row no worker claimed for BERTH_PENDING_RESEND_SECONDS (since it was made or last sent) lost its
      message: a publish during a broker outage, or a broker that restarted without persistence. It is sent
      again; ``claim`` makes a second copy of a message harmless.

    Both moves are compare-and-set, so two reapers never both send a row.
    """
    now = timezone.now()
    counts = {"resumed": 0, "failed": 0, "resent": 0}
    lost = now - timedelta(seconds=settings.BERTH_REAPER_TIMEOUT)
    for row in rows.filter(status=WorkStatus.RUNNING, heartbeat_at__lt=lost):
        if row.attempts >= settings.BERTH_RELEASE_MAX_ATTEMPTS:
            counts["failed"] += bool(fail(row))
        elif row.move(WorkStatus.RUNNING, WorkStatus.PENDING, heartbeat_at=now):
            if resumed is not None:
                resumed(row)
            send(publish, row.pk)
            counts["resumed"] += 1
    unsent = now - timedelta(seconds=settings.BERTH_PENDING_RESEND_SECONDS)
    waiting = rows.filter(status=WorkStatus.PENDING).alias(since=Coalesce("heartbeat_at", "created_at"))
    for row in waiting.filter(since__lt=unsent):
        manager = type(row)._default_manager
        if manager.filter(pk=row.pk, status=WorkStatus.PENDING, heartbeat_at=row.heartbeat_at).update(heartbeat_at=now):
            send(publish, row.pk)
            counts["resent"] += 1
    if any(counts.values()):
        log.warning("reaper: %s", ", ".join(f"{key} {value}" for key, value in counts.items()))
    return counts
