"""Clusters of Docker hosts and their nodes."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import NAME_VALIDATOR
from accounts.permissions import Resource, TenantQuerySet


def cluster_resource(region: str, tenant_id: int, cluster_id: int) -> str:
    """``acs:cs:<region>:<tenant-id>:cluster/<cluster-id>``."""
    return f"acs:cs:{region}:{tenant_id}:cluster/{cluster_id}"


class ClusterQuerySet(TenantQuerySet):
    """A user can see a cluster when it is in the user's tenant and it may describe clusters."""

    read_action = "cs:DescribeClusters"

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, region, tenant_id in self.values_list("pk", "region", "tenant_id"):
            yield pk, Resource(cluster_resource(region, tenant_id, pk), cluster_id=pk)


class Cluster(models.Model):
    """A set of Docker hosts of one tenant, on which its applications run."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="clusters")
    name = models.CharField(_("name"), max_length=63, validators=[NAME_VALIDATOR])
    region = models.CharField(_("region"), max_length=63, default=settings.BERTH_REGION)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="cluster_name_unique_in_tenant")]
        permissions = [
            ("cluster_admin", "Administrator of the cluster"),
            ("cluster_operator", "Operator of the cluster"),
            ("cluster_developer", "Developer on the cluster"),
            ("cluster_readonly", "Read-only on the cluster"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def resource_name(self) -> str:
        """The RAM resource name: ``acs:cs:<region>:<tenant-id>:cluster/<id>``."""
        return cluster_resource(self.region, self.tenant_id, self.pk)


class NodeQuerySet(TenantQuerySet):
    """A user can see a node when it may describe the nodes of the node's cluster."""

    tenant_path = "cluster__tenant"
    read_action = "cs:DescribeClusterNodes"

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        rows = self.values_list("pk", "name", "cluster_id", "cluster__region", "cluster__tenant_id")
        for pk, name, cluster_id, region, tenant_id in rows:
            parent = cluster_resource(region, tenant_id, cluster_id)
            yield pk, Resource(f"{parent}/node/{name}", (parent,), cluster_id=cluster_id)


class Node(models.Model):
    """One Docker engine of a cluster, reached at ``endpoint`` (``unix://`` or ``tcp://``)."""

    class State(models.TextChoices):
        INITIALIZING = "initializing", _("initializing")
        READY = "ready", _("ready")
        UNREACHABLE = "unreachable", _("unreachable")
        DRAINING = "draining", _("draining")
        REMOVED = "removed", _("removed")

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(_("name"), max_length=100)
    endpoint = models.CharField(_("endpoint"), max_length=255)
    publish_ip = models.GenericIPAddressField(
        _("publish address"), help_text=_("Host address that published ports bind to on this node.")
    )
    zone = models.CharField(_("zone"), max_length=63, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.INITIALIZING)
    info = models.JSONField(default=dict, blank=True, help_text="engine version, OS, CPUs, memory as read")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["cluster_id", "id"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="node_name_unique_in_cluster")]

    def __str__(self) -> str:
        return self.name
