"""Long work as a row: the status machine shared by releases (applications) and node tasks (clusters).

Status moves only by compare-and-set (``move``); tasks take ids, refuse rows that are not active,
heartbeat as they progress, and a reaper resumes or fails rows whose worker vanished.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
