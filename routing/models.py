"""The routing service's rows: a cluster's routing settings, the routes services claim, and each node's router."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F

from accounts.decisions import ResourceColumns, resource_text
from accounts.permissions import Resource, TenantQuerySet
from clusters.models import OfClusterQuerySet

DEFAULT_PORT = 9080


class RoutingSettings(models.Model):
    """Where a cluster's routers listen. Whether they run is the cluster's ``system_services["routing"]``."""

    cluster = models.OneToOneField("clusters.Cluster", on_delete=models.CASCADE, related_name="routing")
    port = models.PositiveIntegerField(
        default=DEFAULT_PORT,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="the routing port on each node's publish address",
    )
    http_port = models.BooleanField(default=False, help_text="also listen on port 80")
    https_port = models.BooleanField(default=False, help_text="also listen on port 443 (TLS, by SNI)")
    cookie_key = models.CharField(max_length=64, blank=True, help_text="the key of sticky cookies (never shown)")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"routing of cluster {self.cluster_id} on port {self.port}"


class RouteQuerySet(OfClusterQuerySet):
    """A user sees a cluster's routes when it may describe them on the cluster."""

    read_action = "cs:DescribeRoutes"


class Route(models.Model):
    """A domain and path prefix that one service's container port answers for (its ``aliyun.routing.port_N``)."""

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="routes")
    application = models.ForeignKey("apps.Application", on_delete=models.CASCADE, related_name="routes")
    service = models.ForeignKey("apps.Service", on_delete=models.CASCADE, related_name="routes")
    domain = models.CharField(max_length=253)
    path = models.CharField(max_length=200, default="/")
    port = models.PositiveIntegerField(help_text="the container port")
    https = models.BooleanField(default=False)
    redirect_https = models.BooleanField(default=False, help_text="plain http requests are sent to https")
    sticky = models.BooleanField(default=False)
    weight = models.PositiveSmallIntegerField(
        default=100,
        validators=[MaxValueValidator(100)],
        help_text="0-100: this service's share when several services of the application claim the route",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RouteQuerySet.as_manager()

    class Meta:
        ordering = ["domain", "path", "service_id"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "domain", "path", "service"], name="route_once_per_service")
        ]
        indexes = [models.Index(fields=["cluster", "domain", "path"])]

    def __str__(self) -> str:
        return f"{self.domain}{'' if self.path == '/' else self.path}"


class ListenerQuerySet(OfClusterQuerySet):
    """A user sees a cluster's listeners when it may describe its routes."""

    read_action = "cs:DescribeRoutes"


class Listener(models.Model):
    """A named front port of the cluster (Alibaba's SLB listener, ``aliyun.lb.port_N``) that every node's routers
    forward to one service's container port: TCP (L4) or HTTP."""

    class Protocol(models.TextChoices):
        TCP = "tcp"
        HTTP = "http"
        HTTPS = "https"

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="listeners")
    application = models.ForeignKey("apps.Application", on_delete=models.CASCADE, related_name="listeners")
    service = models.ForeignKey("apps.Service", on_delete=models.CASCADE, related_name="listeners")
    name = models.CharField(max_length=63, help_text="the listener's (SLB instance's) name")
    protocol = models.CharField(max_length=5, choices=Protocol.choices, default=Protocol.TCP)
    front_port = models.PositiveIntegerField(help_text="the port it listens on, on every node's publish address")
    port = models.PositiveIntegerField(help_text="the container port it forwards to")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ListenerQuerySet.as_manager()

    class Meta:
        ordering = ["front_port"]
        constraints = [models.UniqueConstraint(fields=["cluster", "front_port"], name="listener_port_once")]

    def __str__(self) -> str:
        return f"{self.protocol}://{self.name}:{self.front_port}"


class RouterQuerySet(OfClusterQuerySet):
    """A user sees a cluster's routers when it may describe its routes."""

    read_action = "cs:DescribeRoutes"


class Router(models.Model):
    """The router of one node: what Berth last did with it."""

    class State(models.TextChoices):
        RUNNING = "running"
        STARTING = "starting"
        FAILED = "failed"

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="routers")
    node = models.OneToOneField("clusters.Node", on_delete=models.CASCADE, related_name="router")
    state = models.CharField(max_length=10, choices=State.choices, default=State.STARTING)
    error = models.CharField(max_length=500, blank=True)
    reloads = models.PositiveIntegerField(default=0, help_text="seamless reloads since the router was made")
    updated_at = models.DateTimeField(auto_now=True)

    objects = RouterQuerySet.as_manager()

    class Meta:
        ordering = ["node__name"]

    def __str__(self) -> str:
        return f"router on node {self.node_id}: {self.state}"


def certificate_resource(tenant_id: int, name: str) -> str:
    """``acs:cs:*:<tenant-id>:certificate/<name>``."""
    return f"acs:cs:*:{tenant_id}:certificate/{name}"


class CertificateQuerySet(TenantQuerySet):
    """A user sees a certificate of its tenant (never its key) when it may describe certificates."""

    read_action = "cs:DescribeCertificates"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text("acs:cs:*:", F("tenant_id"), ":certificate/", F("name")))

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, name, tenant_id in self.values_list("pk", "name", "tenant_id"):
            yield pk, Resource(certificate_resource(tenant_id, name))


class Certificate(models.Model):
    """A tenant's web certificate (chain and key) that its clusters' routers serve by SNI on https routes. Both are
    sealed at rest; what is shown is the subject, the names and the validity, never the key."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="certificates")
    name = models.CharField(max_length=63)
    subject = models.CharField(max_length=500)
    issuer = models.CharField(max_length=500)
    names = models.JSONField(default=list, help_text="the DNS names it is for")
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    fingerprint = models.CharField(max_length=95, help_text="SHA-256 of the certificate")
    chain_sealed = models.TextField(help_text="the PEM chain, encrypted at rest")
    key_sealed = models.TextField(help_text="the PEM key, encrypted at rest; never shown")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="certificate_name_once_in_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def resource_name(self) -> str:
        return certificate_resource(self.tenant_id, self.name)
