"""Applications (desired state), their containers (actual state as last seen) and releases (long work)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.decisions import ResourceColumns, resource_text
from accounts.models import NAME_VALIDATOR
from accounts.permissions import Resource, TenantQuerySet
from clusters.models import cluster_resource
from console.work import LongWork

MAX_SCALE = 100
CONTAINER_LISTENERS: list[Callable[[int], None]] = []
"""Told, with the application's id, that some of its containers were made, changed state, moved or went away: the
layers above this one follow them (the routing service's routers). They hand themselves over in their app's
``ready``."""


def containers_changed(app_id: int) -> None:
    """Tell every ``CONTAINER_LISTENERS`` listener that containers of application ``app_id`` changed."""
    for listener in CONTAINER_LISTENERS:
        listener(app_id)


"""The most containers one service may have."""


def application_resource(region: str, tenant_id: int, cluster_id: int, name: str) -> str:
    """``acs:cs:<region>:<tenant>:cluster/<cluster>/application/<name>``."""
    return f"{cluster_resource(region, tenant_id, cluster_id)}/application/{name}"


def _application_rows(queryset: models.QuerySet, prefix: str = "") -> Iterable[tuple[int, Resource]]:
    fields = [
        "pk",
        f"{prefix}name",
        f"{prefix}cluster_id",
        f"{prefix}cluster__region",
        f"{prefix}tenant_id",
        f"{prefix}created_by_id",
    ]
    for pk, name, cluster_id, region, tenant_id, owner in queryset.values_list(*fields):
        parent = cluster_resource(region, tenant_id, cluster_id)
        yield pk, Resource(f"{parent}/application/{name}", (parent,), cluster_id=cluster_id, owner_id=owner)


def _application_columns(prefix: str = "") -> ResourceColumns:
    """``_application_rows`` in SQL."""
    parent = (
        "acs:cs:",
        F(f"{prefix}cluster__region"),
        ":",
        F(f"{prefix}tenant_id"),
        ":cluster/",
        F(f"{prefix}cluster_id"),
    )
    return ResourceColumns(
        resource_text(*parent, "/application/", F(f"{prefix}name")),
        (resource_text(*parent),),
        cluster=f"{prefix}cluster_id",
        owner=f"{prefix}created_by_id",
    )


class ApplicationQuerySet(TenantQuerySet):
    """A user can see an application when it is in the user's tenant and it may describe it (or its cluster)."""

    read_action = "cs:DescribeApplications"

    def resource_columns(self) -> ResourceColumns:
        return _application_columns()

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        return _application_rows(self)

    def live(self) -> ApplicationQuerySet:
        """Applications that are not deleted (a deleted one keeps its row, releases and log; its pages are gone)."""
        return self.filter(deleted_at__isnull=True)


class Application(models.Model):
    """An application of a cluster: its services, the desired scale, and its current status."""

    class Status(models.TextChoices):
        DEPLOYING = "deploying", _("deploying")
        RUNNING = "running", _("running")
        STOPPING = "stopping", _("stopping")
        STOPPED = "stopped", _("stopped")
        STARTING = "starting", _("starting")
        RESTARTING = "restarting", _("restarting")
        FAILED = "failed", _("failed")
        DELETING = "deleting", _("deleting")
        DELETED = "deleted", _("deleted")

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="applications")
    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.PROTECT, related_name="applications")
    name = models.CharField(_("name"), max_length=63, validators=[NAME_VALIDATOR])
    description = models.CharField(_("description"), max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DEPLOYING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    template = models.ForeignKey(
        "apps.Template", null=True, blank=True, on_delete=models.SET_NULL, related_name="applications"
    )
    config_set = models.ForeignKey(
        "apps.ConfigSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="applications"
    )
    version = models.PositiveIntegerField(default=0, help_text="the version in force (AppVersion.number)")

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"], condition=models.Q(deleted_at__isnull=True), name="app_name_unique_live"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def resource_name(self) -> str:
        """``acs:cs:<region>:<tenant>:cluster/<cluster>/application/<name>``."""
        return application_resource(self.cluster.region, self.tenant_id, self.cluster_id, self.name)

    @property
    def network_name(self) -> str:
        """The per-application network on every node (Compose's ``<project>_default``)."""
        return f"{self.name}_default"


class Service(models.Model):
    """A set of identical containers of an application."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    image = models.CharField(max_length=255)
    pinned_image = models.CharField(
        max_length=400, blank=True, default="", help_text="repo@digest a rollback restored; empty: the image's tag"
    )
    command = models.JSONField(null=True, blank=True, help_text="argv list, or null for the image's default")
    environment = models.JSONField(default=dict, blank=True)
    scale = models.PositiveIntegerField(default=1)
    container_port = models.PositiveIntegerField(null=True, blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True, help_text="null: chosen by the engine")
    protocol = models.CharField(max_length=3, default="tcp")
    reschedule_on_node_failure = models.BooleanField(
        default=False, help_text="recreate its containers on healthy nodes when their node becomes unreachable"
    )
    spec = models.JSONField(default=dict, blank=True, help_text="the service as the Compose loader normalized it")
    rules = models.JSONField(default=list, blank=True, help_text="scheduling rules (constraints, affinities)")
    depends_on = models.JSONField(default=list, blank=True)
    is_global = models.BooleanField(default=False)
    latest_image = models.BooleanField(default=False, help_text="pull the image again at every deploy")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["application", "name"], name="service_name_unique_in_app")]

    def __str__(self) -> str:
        return self.name

    @property
    def pinned_short(self) -> str:
        """``sha256:`` and the first 12 hex digits of the pinned digest, as Docker shows ids."""
        digest = self.pinned_image.partition("@")[2]
        return digest[:19] if digest else ""


class ContainerQuerySet(TenantQuerySet):
    """A user can see a container when it may describe its application."""

    tenant_path = "service__application__tenant"
    read_action = "cs:DescribeApplications"

    def resource_columns(self) -> ResourceColumns:
        return _application_columns("service__application__")

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        return _application_rows(self, "service__application__")


class Container(models.Model):
    """One replica of a service on a node, as Berth last saw it."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="containers")
    node = models.ForeignKey("clusters.Node", on_delete=models.PROTECT, related_name="containers")
    index = models.PositiveIntegerField()
    generation = models.PositiveIntegerField(
        default=0,
        help_text="0 for the first container of a replica; one more for each that replaced it in a rolling release",
    )
    name = models.CharField(max_length=200)
    candidate = models.BooleanField(
        default=False, help_text="the new version's, beside the old one, in a blue-green or canary release"
    )
    traffic_weight = models.PositiveSmallIntegerField(
        default=100, help_text="0-100: its share of its routes' traffic (a blue-green or canary release splits it)"
    )
    docker_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=20, default="pending")
    published_port = models.PositiveIntegerField(null=True, blank=True)
    spec_hash = models.CharField(max_length=40, blank=True, help_text="hash of the service spec it was made from")
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContainerQuerySet.as_manager()

    class Meta:
        ordering = ["service_id", "index", "generation"]
        constraints = [
            # Two generations of a replica run side by side while a rolling release replaces it (start-first).
            models.UniqueConstraint(fields=["service", "index", "generation"], name="container_generation_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def resource_name(self) -> str:
        """Its application's (``ContainerQuerySet``: a container is authorized as its application)."""
        return self.service.application.resource_name

    @property
    def address(self) -> str:
        """Where the container answers (its node's publish address and its host port) while it runs; "" otherwise:
        a stopped container answers nowhere (its pinned port comes back with it)."""
        if self.published_port and self.state == "running":
            return f"{self.node.publish_ip}:{self.published_port}"
        return ""

    @property
    def share(self) -> str:
        """Its version and share of its routes' traffic while a blue-green or canary release runs two versions side
        by side ("new · 25%", "old · 75%"); "" otherwise."""
        if self.candidate:
            return gettext("new · %(w)s%%") % {"w": self.traffic_weight}
        if self.traffic_weight != 100:
            return gettext("old · %(w)s%%") % {"w": self.traffic_weight}
        return ""

    def as_live(self) -> dict[str, Any]:
        """What the browser shows of a container."""
        return {
            "type": "container",
            "id": self.pk,
            "name": self.name,
            "state": self.state,
            "node": self.node.name,
            "address": self.address,
            "share": self.share,
        }


class ReleaseQuerySet(TenantQuerySet):
    """A user can see a release when it may describe its application."""

    tenant_path = "application__tenant"
    read_action = "cs:DescribeApplications"

    def resource_columns(self) -> ResourceColumns:
        return _application_columns("application__")

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        return _application_rows(self, "application__")


class Release(LongWork):
    """One change of an application (deploy, start, stop, restart, delete): long work with a status machine."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy", _("deploy")
        START = "start", _("start")
        STOP = "stop", _("stop")
        RESTART = "restart", _("restart")
        DELETE = "delete", _("delete")
        UPDATE = "update", _("update")
        SCALE = "scale", _("scale")
        KILL = "kill", _("kill")
        REDEPLOY = "redeploy", _("redeploy")
        CONTAINER = "container", _("container action")
        ROLLBACK = "rollback", _("rollback")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="releases")
    params = models.JSONField(default=dict, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)

    class Decision(models.TextChoices):
        CONFIRM = "confirm", _("confirm")
        ROLLBACK = "rollback", _("roll back")

    paused = models.BooleanField(
        default=False, help_text="a rolling release waits before its next batch until resumed (or canceled)"
    )
    decision = models.CharField(
        max_length=8, choices=Decision.choices, blank=True, help_text="a blue-green release's end, as the user asked"
    )
    weight = models.PositiveSmallIntegerField(
        default=0, help_text="0-100: a blue-green or canary release's share of the traffic to its new version"
    )

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One active release per application, held by the database: operations lock the application's row
            # before they check (apps.operations._start_release); a write that still races is refused here (409).
            models.UniqueConstraint(
                fields=["application"],
                condition=models.Q(status__in=sorted(LongWork.ACTIVE)),
                name="release_one_active_per_app",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def as_live(self) -> dict[str, Any]:
        """What the browser shows of a release."""
        return {
            "type": "release",
            "id": self.pk,
            "kind": self.kind,
            "status": self.status,
            "done": self.progress_done,
            "total": self.progress_total,
            "percent": self.percent,
            "error": self.error,
            "paused": self.paused,
            **self.side_by_side(),
        }

    def side_by_side(self) -> dict[str, Any]:
        """A blue-green or canary release's state as pages show it: its strategy, the new version's share of the
        traffic, whether the new version runs yet, and a canary's steps with their verdicts."""
        params = self.params or {}
        return side_by_side_of(params, self.decision, self.weight)


def side_by_side_of(params: dict[str, Any], decision: str = "", weight: int = 0) -> dict[str, Any]:
    """``Release.side_by_side`` of a release's ``params`` (every key, for a rolling release too)."""
    strategy = params.get("strategy") or "rolling"
    return {
        "strategy": strategy,
        "weight": weight,
        "ready": bool(params.get("candidates_ready")),
        "previews": params.get("previews", []),
        "decision": decision,
        "steps": (params.get("canary") or {}).get("steps", []),
        "verdicts": params.get("verdicts", []),
    }


class ReleaseEvent(models.Model):
    """An append-only progress line of a release; a reconnecting browser replays from its last seen id."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="events")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    message = models.CharField(max_length=500)
    level = models.CharField(max_length=8, default="info")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message

    def as_live(self) -> dict[str, Any]:
        return {
            "type": "event",
            "id": self.pk,
            "release": self.release_id,
            "at": self.created_at.isoformat(),
            "level": self.level,
            "message": self.message,
        }


class TemplateQuerySet(TenantQuerySet):
    """A user can see a template when it is in the user's tenant and it may describe templates."""

    read_action = "cs:DescribeTemplates"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text("acs:cs:*:", F("tenant_id"), ":template/", F("name")))

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, name, tenant_id in self.values_list("pk", "name", "tenant_id"):
            yield pk, Resource(f"acs:cs:*:{tenant_id}:template/{name}")


class Template(models.Model):
    """An orchestration template of a tenant: Docker Compose text with aliyun.* labels."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(_("name"), max_length=63, validators=[NAME_VALIDATOR])
    description = models.CharField(_("description"), max_length=300, blank=True)
    compose = models.TextField(_("Compose file"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="template_name_unique_in_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def resource_name(self) -> str:
        """``acs:cs:*:<tenant-id>:template/<name>``."""
        return f"acs:cs:*:{self.tenant_id}:template/{self.name}"


class ConfigSetQuerySet(TenantQuerySet):
    """A user can see a config set of its tenant when it may describe config sets."""

    read_action = "cs:DescribeConfigSets"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text("acs:cs:*:", F("tenant_id"), ":configset/", F("name")))

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, name, tenant_id in self.values_list("pk", "name", "tenant_id"):
            yield pk, Resource(f"acs:cs:*:{tenant_id}:configset/{name}")


class ConfigSet(models.Model):
    """Named variables of a tenant substituted into templates; secret values are sealed and never shown back."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="config_sets")
    name = models.CharField(_("name"), max_length=63, validators=[NAME_VALIDATOR])
    description = models.CharField(_("description"), max_length=300, blank=True)
    variables = models.JSONField(
        default=dict, blank=True, help_text='{"NAME": {"value": "...", "secret": false}}; secret values sealed'
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConfigSetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="config_set_name_unique_in_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def resource_name(self) -> str:
        """``acs:cs:*:<tenant-id>:configset/<name>``."""
        return f"acs:cs:*:{self.tenant_id}:configset/{self.name}"


class AppVersion(models.Model):
    """One version of a Compose application: the template text, the variables (sealed) and the image digests."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    compose = models.TextField()
    variables_sealed = models.TextField(blank=True, help_text="the variables used, as sealed JSON")
    digests = models.JSONField(default=dict, blank=True, help_text="service → image digest, as deployed")
    note = models.CharField(max_length=200, blank=True)
    release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["application", "number"], name="app_version_unique")]

    def __str__(self) -> str:
        return f"{self.application.name} v{self.number}"
