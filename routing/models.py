"""The routing service's rows: a cluster's routing settings, the routes services claim, and each node's router."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

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
