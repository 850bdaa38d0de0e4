"""Long work as a row, and the one engine that carries it out: releases (applications) and node tasks (clusters).

A row (``LongWork``) is the record of accepted work: its status moves only by compare-and-set (``move``). The
broker message is only the worker's doorbell: ``enqueue`` rings it after commit and never fails the request when
the broker is away (Redis restarting): the row stays pending and ``reap`` sends it again once
BERTH_PENDING_RESEND_SECONDS passed, which also covers messages a broker restarted without persistence forgot.

``execute(Kind, id)`` carries out one row with a ``Runner`` subclass, which brings only its kind's steps and
consequences; the engine does the rest, the same for every kind:

* it starts only a row it ``claim``s (pending → running), so a second copy of a message is skipped, and counts the
  attempt;
* steps report progress (``set_total``, ``step``, or ``steps_done`` for a batch of results: written and sent live at
  most every PROGRESS_SECONDS, and at the end), heartbeat (``heartbeat``), and check for a cancel request at
  checkpoints (``checkpoint`` raises ``Canceled``);
* ``finish`` moves the row to its terminal status and, in the same transaction, applies the kind's consequences,
  writes the operation-log entry and sends the live message (after commit). A step that raises ``WorkFailed`` or
  one of the kind's ``failures`` fails the row with its message; any other exception (a bug, a soft time limit)
  fails it with the exception's name and message; consequences that crash still leave the row failed, with both
  reasons, and its entry written;
* ``reap`` resumes or fails rows whose worker vanished (their heartbeat stopped) and sends again pending rows
  whose message was lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import KombuError

from console import audit, live

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 0.25
"""Progress is written and sent live at most this often (and always when the last step is done)."""


class WorkStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("pending")
    RUNNING = "running", gettext_lazy("running")
    SUCCESSFUL = "successful", gettext_lazy("successful")
    FAILED = "failed", gettext_lazy("failed")
    CANCELED = "canceled", gettext_lazy("canceled")


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


class Canceled(Exception):
    """Someone asked to cancel the work; raised at a checkpoint. The row ends canceled with the message."""


class WorkFailed(Exception):
    """The work cannot complete; the message is for people. The row ends failed with it."""


class Runner:
    """One execution of one row of long work. A kind subclasses it with its steps; the engine is the rest.

    A subclass sets ``model`` and ``live_group`` and defines ``live_id``, ``steps`` and ``log_entry``; it may add
    ``rows`` (the queryset rows are loaded from), ``failures``, ``begin``, ``conclude``, ``event``, ``mask`` and
    ``lost_reason``. Only the thread that runs the steps writes the row.
    """

    model: ClassVar[type[LongWork]]
    live_group: ClassVar[str]
    failures: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions besides WorkFailed that fail the row with their message (a host's refusal, an impossible
    placement); anything else is a crash, recorded with the exception's name."""

    def __init__(self, row: LongWork) -> None:
        self.row = row
        self._written = 0.0  # when progress was last written (monotonic)

    # --- what a kind defines -----------------------------------------------------------------------

    @classmethod
    def rows(cls) -> QuerySet[Any]:
        """The rows this engine loads (with what its steps read, ``select_related``)."""
        return cls.model._default_manager.all()

    def live_id(self) -> int:
        """The id of the live group (``live_group``) that follows this row."""
        raise NotImplementedError

    def steps(self) -> None:
        """The kind's work."""
        raise NotImplementedError

    def log_entry(self) -> dict[str, Any]:
        """``audit.record`` arguments of the row's final entry besides its outcome, error and duration: action,
        actor, tenant, resource, target, cluster_id, parameters, source."""
        raise NotImplementedError

    def begin(self) -> None:
        """Before the first step (after the claim): e.g. the status the object shows while the work runs."""

    def conclude(self, final: str, error: str) -> None:
        """The kind's consequences of the outcome, inside the finishing transaction (after the row moved)."""

    def event(self, message: str, level: str = "info") -> None:
        """A line of progress for people (the server log unless the kind keeps its own)."""
        log.info("%s %s: %s", self.model.__name__, self.row.pk, message)

    def events(self, messages: list[str], level: str = "info") -> None:
        """Several lines of progress at once, in order (a kind that keeps events writes them together)."""
        for message in messages:
            self.event(message, level)

    def mask(self, text: str) -> str:
        """What an error or event may show (a kind hides secrets here)."""
        return text

    def lost_reason(self) -> str:
        """Why the reaper fails a row whose worker kept vanishing."""
        return _("The worker running this work stopped answering (%(n)s attempts).") % {"n": self.row.attempts}

    # --- the engine ------------------------------------------------------------------------------

    @classmethod
    def load(cls, pk: int) -> LongWork | None:
        return cls.rows().filter(pk=pk).first()

    def _manager(self) -> Any:
        return type(self.row)._default_manager.filter(pk=self.row.pk)

    def publish(self) -> None:
        """Send the row's state to its live group (after commit)."""
        live.publish(self.live_group, self.live_id(), self.row.as_live())  # type: ignore[attr-defined]

    def set_total(self, total: int) -> None:
        """The number of steps of the work from here on (progress starts again at 0)."""
        self._manager().update(progress_total=total, progress_done=0, heartbeat_at=timezone.now())
        self.row.progress_total, self.row.progress_done = total, 0
        self._written = time.monotonic()
        self.publish()

    def step(self, message: str | None = None, level: str = "info") -> None:
        """One step done (a heartbeat too); ``message`` is an event. The row is written and sent at most every
        PROGRESS_SECONDS, and when the last step is done."""
        self.row.progress_done += 1
        if message:
            self.event(message, level)
        now = time.monotonic()
        if self.row.progress_done >= self.row.progress_total or now - self._written >= PROGRESS_SECONDS:
            self._write_progress(now)

    def steps_done(self, messages: list[str], level: str = "info") -> None:
        """One step done per message (a batch of results handled together), each message an event (``events``);
        progress is written as ``step`` writes it."""
        if not messages:
            return
        self.row.progress_done += len(messages)
        self.events(messages, level)
        now = time.monotonic()
        if self.row.progress_done >= self.row.progress_total or now - self._written >= PROGRESS_SECONDS:
            self._write_progress(now)

    def _write_progress(self, now: float) -> None:
        self._manager().update(progress_done=self.row.progress_done, heartbeat_at=timezone.now())
        self._written = now
        self.publish()

    def heartbeat(self) -> None:
        """Tell the reaper the worker is alive (and write progress not written yet)."""
        self._manager().update(progress_done=self.row.progress_done, heartbeat_at=timezone.now())

    def checkpoint(self, message: str | None = None) -> None:
        """A heartbeat, then ``Canceled`` (with ``message``, or "Canceled by request.") when a cancel was asked."""
        self.heartbeat()
        if self._manager().filter(cancel_requested=True).exists():
            raise Canceled(message or _("Canceled by request."))

    def finish(self, final: str, error: str = "", *, duration_ms: int | None = None) -> str:
        """Move the row to ``final`` and, in the same transaction, apply the kind's consequences, write the
        operation-log entry and send the live message. Returns the row's status (another finisher's, when the row
        had already ended). Consequences that crash leave the row failed with their reason added."""
        error = self.mask(error)
        with transaction.atomic():
            fields = {"progress_done": self.row.progress_done, "progress_total": self.row.progress_total}
            if not self.row.move(LongWork.ACTIVE, final, error=error[:4000], **fields):
                return self._manager().values_list("status", flat=True).first() or self.row.status
            try:
                with transaction.atomic():
                    self.conclude(final, error)
            except Exception as exc:  # the row still ends, failed, and its entry is written
                log.exception("%s %s: finishing crashed", self.model.__name__, self.row.pk)
                crash = f"{exc.__class__.__name__}: {exc}"
                error = self.mask(f"{error}; {crash}" if error else crash)
                self.row.move(final, WorkStatus.FAILED, error=error[:4000])
                final = WorkStatus.FAILED
            self.publish()
            outcome = audit.OperationLog.Outcome
            audit.record(
                **self.log_entry(),
                outcome=outcome.SUCCESS if final == WorkStatus.SUCCESSFUL else outcome.FAILURE,
                error=error,
                duration_ms=duration_ms,
            )
        return final


def execute(kind: type[Runner], pk: int) -> str:
    """Carry out row ``pk`` with the runner ``kind``; return its final status, or "skipped" when the row is gone,
    already ended, or claimed by another copy of the message. Running it twice is harmless."""
    row = kind.load(pk)
    if row is None or row.status in LongWork.TERMINAL or not row.claim():
        return "skipped"
    type(row)._default_manager.filter(pk=pk).update(attempts=F("attempts") + 1)
    row.attempts += 1
    runner = kind(row)
    started = time.monotonic()
    error = ""
    try:
        runner.begin()
        runner.checkpoint()
        runner.steps()
    except Canceled as exc:
        final, error = WorkStatus.CANCELED, str(exc)
    except (WorkFailed, *kind.failures) as exc:
        final, error = WorkStatus.FAILED, str(exc)
    except Exception as exc:  # a bug or a time limit still ends the row, with the reason kept
        log.exception("%s %s crashed", kind.model.__name__, pk)
        final, error = WorkStatus.FAILED, f"{exc.__class__.__name__}: {exc}"
    else:
        final = WorkStatus.SUCCESSFUL
    return runner.finish(final, error, duration_ms=int((time.monotonic() - started) * 1000))


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


def reap(kind: type[Runner], publish: Send) -> dict[str, int]:
    """Keep accepted work moving: the one reaper of releases and node tasks (each passes its runner and task).

    * A running row whose heartbeat is older than BERTH_REAPER_TIMEOUT lost its worker: it goes back to pending
      and is sent again (with an event saying so), or after BERTH_RELEASE_MAX_ATTEMPTS attempts it is finished
      failed (``Runner.lost_reason``).
    * A pending row no worker claimed for BERTH_PENDING_RESEND_SECONDS (since it was made or last sent) lost its
      message: a publish during a broker outage, or a broker that restarted without persistence. It is sent
      again; ``claim`` makes a second copy of a message harmless.

    Both moves are compare-and-set, so two reapers never both send a row.
    """
    rows = kind.rows()
    now = timezone.now()
    counts = {"resumed": 0, "failed": 0, "resent": 0}
    lost = now - timedelta(seconds=settings.BERTH_REAPER_TIMEOUT)
    for row in rows.filter(status=WorkStatus.RUNNING, heartbeat_at__lt=lost):
        runner = kind(row)
        if row.attempts >= settings.BERTH_RELEASE_MAX_ATTEMPTS:
            counts["failed"] += runner.finish(WorkStatus.FAILED, runner.lost_reason()) == WorkStatus.FAILED
        elif row.move(WorkStatus.RUNNING, WorkStatus.PENDING, heartbeat_at=now):
            runner.event(_("The worker was lost; resuming."), "warning")
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
