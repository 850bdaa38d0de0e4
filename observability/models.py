"""What the engines said about Berth's containers (``EngineEvent``), kept for the events pages."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from console.times import iso_utc


class EngineEvent(models.Model):
    """One event of a Docker engine about a container Berth runs (created, started, died with its exit code,
    OOM-killed, healthy or not) or an image a release pulled. Kept ``BERTH_EVENTS_RETENTION_DAYS`` days; an
    application's go with it."""

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        STARTED = "started", _("started")
        RESTARTED = "restarted", _("restarted")
        DIED = "died", _("died")
        OOM = "oom", _("out of memory")
        KILLED = "killed", _("killed")
        STOPPED = "stopped", _("stopped")
        PAUSED = "paused", _("paused")
        UNPAUSED = "unpaused", _("unpaused")
        REMOVED = "removed", _("removed")
        HEALTHY = "healthy", _("healthy")
        UNHEALTHY = "unhealthy", _("unhealthy")
        PULLED = "pulled", _("image pulled")

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="engine_events")
    node = models.ForeignKey("clusters.Node", on_delete=models.SET_NULL, null=True, related_name="engine_events")
    node_name = models.CharField(max_length=64, blank=True)  # as it was named then (a node removed keeps its name)
    application = models.ForeignKey("apps.Application", on_delete=models.CASCADE, related_name="engine_events")
    service = models.CharField(max_length=64, blank=True)
    container = models.CharField(max_length=200, blank=True)  # its name; an image pull names the image instead
    action = models.CharField(max_length=16, choices=Action.choices)
    exit_code = models.IntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["cluster", "-at"], name="engine_event_cluster_at"),
            models.Index(fields=["application", "-at"], name="engine_event_app_at"),
        ]

    def __str__(self) -> str:
        return f"{self.container} {self.action}"

    def as_live(self) -> dict[str, Any]:
        return {
            "type": "engine_event",
            "id": self.pk,
            "application": self.application_id,
            "service": self.service,
            "container": self.container,
            "node": self.node_name,
            "action": self.action,
            "action_display": str(self.get_action_display()),
            "exit_code": self.exit_code,
            "detail": self.detail,
            "at": iso_utc(self.at),
        }
