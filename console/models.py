"""The operation log: append-only, chained per tenant so that an edited row is found."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.decisions import ResourceColumns, TenantQuerySet, permitted, resource_text


class OperationLogQuerySet(TenantQuerySet):
    """A user can see an entry of its tenant when it may read the whole log (``cs:DescribeOperationLogs``),
    or, for an entry about a cluster, when it may read that cluster's log (a role on the cluster gives it)."""

    read_action = "cs:DescribeOperationLogs"

    def visible_to(self, user: Any, action: str | None = None) -> OperationLogQuerySet:
        from accounts.permissions import Resource, decide
        from clusters.models import Cluster

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scoped = self.filter(tenant_id=user.tenant_id)
        if user.is_primary:
            return scoped
        wanted = action or self.read_action
        log_name = f"acs:cs:*:{user.tenant_id}:operationlog"
        clusters = Cluster.objects.filter(tenant_id=user.tenant_id)
        cluster = clusters.resource_columns().name
        logs = ResourceColumns(resource_text(cluster, "/operationlog"), (cluster,), "pk")
        visible = models.Q(cluster_id__in=permitted(clusters, user, wanted, logs).values("pk"))
        if decide(user, wanted, Resource(log_name)).allowed:
            visible |= models.Q(cluster_id__isnull=True) | ~models.Q(cluster_id__in=clusters.values("pk"))
        return scoped.filter(visible)

    def update(self, **kwargs: Any) -> int:  # pragma: no cover - guarded path
        raise TypeError("the operation log is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:  # pragma: no cover - guarded path
        raise TypeError("the operation log is append-only")


class OperationLog(models.Model):
    """One thing somebody (or the system) did, with its outcome. Rows are never changed or deleted."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("accepted")
        SUCCESS = "success", _("success")
        FAILURE = "failure", _("failure")
        DENIED = "denied", _("denied")

    tenant = models.ForeignKey("accounts.Tenant", null=True, blank=True, on_delete=models.PROTECT)
    seq = models.PositiveBigIntegerField(help_text="position in the tenant's chain, from 1")
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=130, blank=True)
    actor_kind = models.CharField(max_length=10, blank=True, help_text="primary, sub or system")
    source = models.CharField(max_length=10)
    source_ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=40, blank=True, db_index=True)
    action = models.CharField(max_length=80, db_index=True)
    resource = models.CharField(max_length=300, blank=True)
    target = models.CharField(max_length=200, blank=True)
    cluster_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = OperationLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="operation_log_chain_position")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("the operation log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("the operation log is append-only")

    def chained_fields(self) -> dict[str, Any]:
        """Everything the hash covers, as plain JSON-able data."""
        return {
            "tenant": self.tenant_id,
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "actor_name": self.actor_name,
            "actor_kind": self.actor_kind,
            "source": self.source,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "action": self.action,
            "resource": self.resource,
            "target": self.target,
            "cluster_id": self.cluster_id,
            "parameters": self.parameters,
            "outcome": self.outcome,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }

    def compute_hash(self) -> str:
        """sha256 over the previous entry's hash and this entry's canonical JSON."""
        body = json.dumps(self.chained_fields(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256((self.prev_hash + body).encode()).hexdigest()
