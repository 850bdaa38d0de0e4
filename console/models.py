"""The operation log: append-only, chained per tenant so that an edited row is found."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

SubAccountRule = Callable[[models.QuerySet, Any, str], models.QuerySet]


class OperationLogQuerySet(models.QuerySet):
    """A user can see an entry of its tenant when it may read the whole log (``cs:DescribeOperationLogs``),
    or, for an entry about a cluster, when it may read that cluster's log (a role on the cluster gives it).

    The log is the ground every layer writes to, so what a sub-account may read of it is decided by the layer that
    knows the clusters and the permission core: it hands its rule over when Django starts (:meth:`install`, from
    ``clusters.apps``); until then a sub-account sees nothing."""

    tenant_path = "tenant"
    read_action = "cs:DescribeOperationLogs"
    sub_account_rule: ClassVar[SubAccountRule | None] = None

    @classmethod
    def install(cls, rule: SubAccountRule) -> None:
        """Decide what a sub-account sees with ``rule(entries of its tenant, user, action)``."""
        cls.sub_account_rule = rule

    def visible_to(self, user: Any, action: str | None = None) -> OperationLogQuerySet:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scoped = self.filter(**{self.tenant_path: user.tenant_id})
        if user.is_primary:
            return scoped
        rule = type(self).sub_account_rule
        if rule is None:
            return self.none()
        return rule(scoped, user, action or self.read_action)

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
