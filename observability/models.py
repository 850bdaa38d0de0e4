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


class LogLine(models.Model):
    """One line a container wrote (standard output or error, or a stream an ``aliyun.logs.<name>`` label names),
    kept after the container is gone, within the tenant's retention (``LogRetention``)."""

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="log_lines")
    application = models.ForeignKey("apps.Application", on_delete=models.CASCADE, related_name="log_lines")
    node_name = models.CharField(max_length=64)
    service = models.CharField(max_length=64)
    container = models.CharField(max_length=200)
    stream = models.CharField(max_length=64)  # stdout, stderr, or the name an aliyun.logs label gives
    ts_ns = models.BigIntegerField()  # the engine's timestamp, in nanoseconds since 1970 (the order of the lines)
    at = models.DateTimeField()  # the same, to the microsecond (time ranges)
    text = models.TextField()

    class Meta:
        ordering = ["ts_ns", "id"]
        indexes = [
            models.Index(fields=["application", "ts_ns"], name="log_line_app_ts"),
            models.Index(fields=["cluster", "ts_ns"], name="log_line_cluster_ts"),
            models.Index(fields=["at"], name="log_line_at"),
        ]

    def __str__(self) -> str:
        return f"{self.container} {self.text[:40]}"

    def as_live(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "container": self.container,
            "service": self.service,
            "node": self.node_name,
            "stream": self.stream,
            "at": iso_utc(self.at),
            "text": self.text,
        }


class LogCursor(models.Model):
    """How far the collector read one container's output: the timestamp of the last line kept, and how many lines
    of that very timestamp were kept (the engine answers ``since`` with them again)."""

    docker_id = models.CharField(max_length=64, unique=True)
    node = models.ForeignKey("clusters.Node", on_delete=models.CASCADE, related_name="log_cursors")
    ts_ns = models.BigIntegerField(default=0)
    at_last = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.docker_id[:12]}@{self.ts_ns}"


class LogRetention(models.Model):
    """How long and how much of its containers' output a tenant keeps (the defaults: ``BERTH_LOG_RETENTION_DAYS``,
    ``BERTH_LOG_RETENTION_MB``)."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="log_retention")
    days = models.PositiveIntegerField()
    megabytes = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.days} d, {self.megabytes} MB"
