"""Clusters of Docker hosts and their nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from accounts.decisions import ResourceColumns, resource_text
from accounts.models import NAME_VALIDATOR
from accounts.permissions import Resource, TenantQuerySet
from clusters.pki import CertificateProblem, fingerprint
from console.work import LongWork

# Providers whose engines run on the machine Berth runs on (this machine's own engine, and the ``local`` provider's
# engines in network namespaces, which share its mounts and processes): using them is the operator's grant
# (``clusters.hostaccess``). ``clusters.providers`` reads it for ``Provider.on_this_machine``.
PROVIDERS_ON_THIS_MACHINE = frozenset({"builtin", "local"})

NODE_LISTENERS: list[Callable[[Any], None]] = []
"""Told of a node whose state changed (ready, unreachable, draining, removed): the layers above this one follow it
(the routing service runs a router on each ready node). They hand themselves over in their app's ``ready``."""
NODE_LEAVING: list[Callable[[Any], None]] = []
"""Called while a node that is being removed still answers, before it leaves: what the layers above run on it for
the cluster itself goes (the routers)."""


def node_changed(node: Any) -> None:
    """Tell every ``NODE_LISTENERS`` listener that ``node``'s state changed."""
    for listener in NODE_LISTENERS:
        listener(node)


def cluster_resource(region: str, tenant_id: int, cluster_id: int) -> str:
    """``acs:cs:<region>:<tenant-id>:cluster/<cluster-id>``."""
    return f"acs:cs:{region}:{tenant_id}:cluster/{cluster_id}"


def cluster_resource_sql(path: str = "") -> tuple[str | F, ...]:
    """The parts of ``cluster_resource`` in SQL (``accounts.decisions.resource_text``), ``path`` leading from the
    row to its cluster (``"cluster__"``; empty for a cluster)."""
    cluster = f"{path}pk" if not path else f"{path[:-2]}_id"
    return ("acs:cs:", F(f"{path}region"), ":", F(f"{path}tenant_id"), ":cluster/", F(cluster))


class ClusterQuerySet(TenantQuerySet):
    """A user can see a cluster when it is in the user's tenant and it may describe clusters."""

    read_action = "cs:DescribeClusters"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text(*cluster_resource_sql()), cluster="pk")

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, region, tenant_id in self.values_list("pk", "region", "tenant_id"):
            yield pk, Resource(cluster_resource(region, tenant_id, pk), cluster_id=pk)


def default_network_mode() -> str:
    """A new cluster's network mode: BERTH_NETWORK_MODE (``overlay`` unless the operator says ``bridge``)."""
    return settings.BERTH_NETWORK_MODE


class Cluster(models.Model):
    """A set of Docker hosts of one tenant, on which its applications run."""

    class NetworkMode(models.TextChoices):
        OVERLAY = "overlay", _("cluster network (one network per application across the nodes)")
        BRIDGE = "bridge", _("bridge (a network per application per node: no names across nodes)")

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="clusters")
    name = models.CharField(_("name"), max_length=63, validators=[NAME_VALIDATOR])
    region = models.CharField(_("region"), max_length=63, default=settings.BERTH_REGION)
    zones = models.JSONField(_("zones"), default=list, blank=True)
    network_mode = models.CharField(
        _("network mode"), max_length=16, choices=NetworkMode.choices, default=default_network_mode
    )
    network_pool = models.CharField(
        _("address pool"),
        max_length=43,
        default=settings.BERTH_NETWORK_POOL,
        help_text=_("The cluster network's addresses: each network takes a /24 of this range."),
    )
    swarm_id = models.CharField(
        max_length=64, blank=True, default="", help_text="the swarm Berth made for the cluster network (never shown)"
    )
    root_domain = models.CharField(
        _("root domain"), max_length=253, blank=True, help_text=_("Routing gives applications names under this domain.")
    )
    system_services = models.JSONField(
        _("system services"), default=dict, blank=True, help_text=_("routing, logging, monitoring, volumes: on or off")
    )
    ca_cert = models.TextField(blank=True, help_text="the cluster's CA certificate (PEM)")
    ca_key_sealed = models.TextField(blank=True, help_text="the CA key, encrypted at rest")
    client_cert = models.TextField(blank=True, help_text="Berth's client certificate for the nodes (PEM)")
    client_key_sealed = models.TextField(blank=True, help_text="its key, encrypted at rest")
    retired_ca_fingerprints = models.JSONField(
        default=list, blank=True, help_text="SHA-256 fingerprints of the cluster's earlier CAs (before rotations)"
    )
    ca_rotated_at = models.DateTimeField(null=True, blank=True, help_text="when the CA was last rotated")
    security_policy = models.JSONField(
        default=dict,
        blank=True,
        help_text="what sub-accounts may deploy: allow_privileged, allow_host_namespaces, allow_devices, "
        "allow_docker_socket (booleans), bind_allow (host path prefixes)",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
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

    @classmethod
    def service_on(cls, cluster_id: int, name: str) -> bool:
        """Whether the cluster's system service ``name`` (logging, monitoring) is on: it is unless turned off."""
        services = cls.objects.filter(pk=cluster_id).values_list("system_services", flat=True).first() or {}
        return services.get(name, True) is not False

    @property
    def resource_name(self) -> str:
        """The RAM resource name: ``acs:cs:<region>:<tenant-id>:cluster/<id>``."""
        return cluster_resource(self.region, self.tenant_id, self.pk)


class OfClusterQuerySet(TenantQuerySet):
    """Rows that a user sees as their cluster: the resource judged is the cluster's (``read_action`` on it)."""

    tenant_path = "cluster__tenant"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text(*cluster_resource_sql("cluster__")), cluster="cluster_id")

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, cluster_id, region, tenant_id in self.values_list(
            "pk", "cluster_id", "cluster__region", "cluster__tenant_id"
        ):
            yield pk, Resource(cluster_resource(region, tenant_id, cluster_id), cluster_id=cluster_id)


class NodeQuerySet(TenantQuerySet):
    """A user can see a node when it may describe the nodes of the node's cluster."""

    tenant_path = "cluster__tenant"
    read_action = "cs:DescribeClusterNodes"

    def resource_columns(self) -> ResourceColumns:
        parent = cluster_resource_sql("cluster__")
        return ResourceColumns(
            resource_text(*parent, "/node/", F("name")), (resource_text(*parent),), cluster="cluster_id"
        )

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        rows = self.values_list("pk", "name", "cluster_id", "cluster__region", "cluster__tenant_id")
        for pk, name, cluster_id, region, tenant_id in rows:
            parent = cluster_resource(region, tenant_id, cluster_id)
            yield pk, Resource(f"{parent}/node/{name}", (parent,), cluster_id=cluster_id)

    def live(self) -> NodeQuerySet:
        """Nodes that are still in their cluster (a removed node keeps its row, its tasks and its log; its pages
        and operations are gone)."""
        return self.exclude(state=Node.State.REMOVED)


class Node(models.Model):
    """One Docker engine of a cluster, reached at ``endpoint`` (``unix://`` or ``tcp://``)."""

    class State(models.TextChoices):
        INITIALIZING = "initializing", _("initializing")
        READY = "ready", _("ready")
        UNREACHABLE = "unreachable", _("unreachable")
        DRAINING = "draining", _("draining")
        REMOVED = "removed", _("removed")

    class Provider(models.TextChoices):
        MANUAL = "manual", _("registered by endpoint")
        ATTACH = "attach", _("attach script")
        LOCAL = "local", _("local provider")
        BUILTIN = "builtin", _("this machine's engine")

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(_("name"), max_length=100)
    endpoint = models.CharField(_("endpoint"), max_length=255)
    provider = models.CharField(max_length=10, choices=Provider.choices, default=Provider.MANUAL)
    provider_ref = models.CharField(max_length=100, blank=True, help_text="the provider's id of the host")
    tls_ca = models.TextField(blank=True, help_text="CA that signed the engine's certificate (PEM)")
    tls_cert = models.TextField(blank=True, help_text="client certificate Berth presents (PEM)")
    tls_key_sealed = models.TextField(blank=True, help_text="its key, encrypted at rest")
    failures = models.PositiveIntegerField(default=0, help_text="consecutive failed health checks")
    stale_copies = models.BooleanField(
        default=False, help_text="a drain or failover left copies here while it did not answer: remove them"
    )
    last_error = models.CharField(max_length=500, blank=True)
    publish_ip = models.GenericIPAddressField(
        _("publish address"), help_text=_("Host address that published ports bind to on this node.")
    )
    zone = models.CharField(_("zone"), max_length=63, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.INITIALIZING)
    info = models.JSONField(default=dict, blank=True, help_text="engine version, OS, CPUs, memory as read")
    engine_id = models.CharField(
        max_length=128,
        blank=True,
        help_text='the engine\'s own ID (docker info "ID"): one engine is a node of one cluster only, '
        "whatever endpoint string reaches it",
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["cluster_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="node_name_unique_in_cluster"),
            models.UniqueConstraint(
                fields=["endpoint"], condition=~models.Q(state="removed"), name="node_endpoint_unique_live"
            ),
            models.UniqueConstraint(
                fields=["engine_id"],
                condition=~models.Q(state="removed") & ~models.Q(engine_id=""),
                name="node_engine_unique_live",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_cert)

    INVENTORY_DEFAULTS: ClassVar[dict[str, Any]] = {
        "engine_version": "",
        "api_version": "",
        "os": "",
        "kernel": "",
        "cpus": 0,
        "memory": 0,
        "labels": [],
        "hostname": "",
    }

    @property
    def inventory(self) -> dict[str, Any]:
        """What the engine said of itself (``info``), with every key pages show present (a node that never
        answered has none)."""
        return {**self.INVENTORY_DEFAULTS, **(self.info or {})}

    @property
    def provider_on_this_machine(self) -> bool:
        """Whether the node's provider starts engines on the machine Berth runs on (the operator's grant)."""
        return self.provider in PROVIDERS_ON_THIS_MACHINE

    @property
    def ca_state(self) -> str:
        """:meth:`ca_standing` on its own cluster (select the cluster with the node)."""
        return self.ca_standing(self.cluster)

    def ca_standing(self, cluster: Cluster) -> str:
        """Which CA the node's engine was certified by, as Berth last set it up: ``"current"`` (the cluster's CA),
        ``"old"`` (a CA the cluster rotated away from: the node still accepts its certificates until renewed),
        ``"own"`` (TLS material uploaded with another CA) or ``""`` (no TLS)."""
        if not self.tls_ca:
            return ""
        if self.tls_ca.strip() == cluster.ca_cert.strip():
            return "current"
        try:
            return "old" if fingerprint(self.tls_ca) in (cluster.retired_ca_fingerprints or []) else "own"
        except CertificateProblem:
            return "own"

    @property
    def resource_name(self) -> str:
        return f"{self.cluster.resource_name}/node/{self.name}"

    @property
    def network_state(self) -> str:
        """The node in the cluster network, as the health check last read it: ``manager`` or ``worker`` (joined),
        ``other swarm`` (in a swarm Berth did not make, which Berth never touches), ``joining``, ``not joined``,
        ``unreachable``, ``error``, ``left``; empty in a bridge-mode cluster."""
        if self.cluster.network_mode != Cluster.NetworkMode.OVERLAY:
            return ""
        if self.state == Node.State.REMOVED:
            return "left"
        if self.state == Node.State.UNREACHABLE:
            return "unreachable"
        swarm = (self.info or {}).get("swarm") or {}
        state = swarm.get("state") or "inactive"
        if state == "active" and swarm.get("swarm_id") and swarm.get("swarm_id") != self.cluster.swarm_id:
            return "other swarm"
        if state == "active":
            return "manager" if swarm.get("manager") else "worker"
        if state == "pending":
            return "joining"
        if state in ("error", "locked"):
            return "error"
        return "not joined"

    def as_live(self) -> dict[str, Any]:
        """What the browser shows of a node."""
        return {
            "type": "node",
            "id": self.pk,
            "name": self.name,
            "state": self.state,
            "network": self.network_state,
            "last_seen": self.last_seen_at.isoformat() if self.last_seen_at else "",
            "error": self.last_error,
        }


class NetworkQuerySet(OfClusterQuerySet):
    """A user can see a cluster's shared networks when it may describe the cluster."""

    read_action = "cs:DescribeClusterNetworks"


class Network(models.Model):
    """A network of the cluster that applications share: Compose ``external: true`` names it. Made in the console
    or the API; on the nodes it is an overlay of the cluster network, made when the first application joins it."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="networks")
    name = models.CharField(_("name"), max_length=63)
    subnet = models.CharField(max_length=43, blank=True, help_text="its address range, once made on the nodes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NetworkQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="network_name_unique_in_cluster")]

    def __str__(self) -> str:
        return self.name


class NodeTaskQuerySet(OfClusterQuerySet):
    """A user can see a node task when it may describe the nodes of its cluster."""

    read_action = "cs:DescribeClusterNodes"


class NodeTask(LongWork):
    """Long work on a node: provision, drain and remove, reset, or failover of its containers."""

    class Kind(models.TextChoices):
        PROVISION = "provision", _("provision")
        DRAIN = "drain", _("drain and remove")
        REMOVE = "remove", _("remove")
        RESET = "reset", _("reset")
        FAILOVER = "failover", _("fail over")
        ROTATE = "rotate", _("rotate the CA")

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="node_tasks")
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    target_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="the name of what the task works on (the node, or the cluster), kept after the node is gone",
    )

    objects = NodeTaskQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One active task per node, held by the database: operations lock the node's row before they check
            # (clusters.operations._start_task); a write that still races is refused here (409).
            models.UniqueConstraint(
                fields=["node"],
                condition=models.Q(status__in=sorted(LongWork.ACTIVE)),
                name="node_task_one_active_per_node",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def as_live(self) -> dict[str, Any]:
        return {
            "type": "node_task",
            "id": self.pk,
            "kind": self.kind,
            "node": self.node_id,
            "target": self.target_name,
            "status": self.status,
            "done": self.progress_done,
            "total": self.progress_total,
            "percent": self.percent,
            "error": self.error,
        }


class AttachToken(models.Model):
    """A one-time token of the attach script: expires, single use; only its hash is stored.

    ``attach`` makes a host a new node; ``renew`` gives an existing node (``node``) a server certificate of the
    cluster's current CA after a CA rotation. One server certificate per token (a rerun gets the same one).
    """

    class Purpose(models.TextChoices):
        ATTACH = "attach", _("attach a host")
        RENEW = "renew", _("renew a node's certificates")

    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.ATTACH)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="attach_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    bound_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="the host address its first certificates call bound it to"
    )
    bound_source = models.GenericIPAddressField(
        null=True, blank=True, help_text="the address its first call came from: later calls must come from it too"
    )
    server_cert = models.TextField(blank=True, help_text="the server certificate issued for this token (PEM)")
    server_key_sealed = models.TextField(blank=True, help_text="its key, encrypted at rest")
    certificates_issued = models.PositiveIntegerField(default=0)
    failed_registrations = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"attach token #{self.pk} of {self.cluster_id}"


class HostGrant(models.Model):
    """The operator's grant to a tenant to use the machine Berth runs on: its Docker engine (by ``unix://``
    socket or by engine ID, whatever the endpoint) and the ``local`` provider (engines started on this machine).

    Whoever may run containers on this machine's engine can read every tenant's data and keys, so only the
    operator gives it (``manage.py host_access``); the first tenant receives it with its "local" cluster.
    Not a tenant resource: no API or page changes it.
    """

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="host_grant")
    granted_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)
    automatic = models.BooleanField(
        default=False, help_text="given at setup with the first tenant's local cluster: one tenant at most"
    )

    class Meta:
        ordering = ["tenant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["automatic"], condition=models.Q(automatic=True), name="host_grant_automatic_once"
            )
        ]

    def __str__(self) -> str:
        return f"host grant of tenant {self.tenant_id}"


class UserCertificateQuerySet(OfClusterQuerySet):
    """A user can see the certificates issued for a cluster when it may describe that cluster's certificates."""

    read_action = "cs:DescribeClusterCertificates"


class UserCertificate(models.Model):
    """A client certificate Berth issued to a user for a cluster's engines, recorded by serial.

    Revocation is recorded here and shown; Docker engines have no revocation list, so a revoked certificate
    still opens the engines until ``not_after`` (kept short by BERTH_USER_CERT_HOURS). See
    ``clusters.certificates``.
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="user_certificates")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    user_login = models.CharField(max_length=200, help_text="the holder's login, kept after the user is deleted")
    serial = models.CharField(max_length=64, unique=True, help_text="serial number, lower-case hex")
    fingerprint = models.CharField(max_length=100)
    not_after = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    objects = UserCertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"certificate {self.serial} of {self.user_login}"

    @property
    def resource_name(self) -> str:
        return f"{self.cluster.resource_name}/certificate/{self.serial}"


def registry_resource(tenant_id: int, registry: str) -> str:
    """``acs:cs:*:<tenant-id>:registrycredential/<registry>``."""
    return f"acs:cs:*:{tenant_id}:registrycredential/{registry}"


class RegistryCredentialQuerySet(TenantQuerySet):
    """A user can see a registry credential of its tenant (never its password) when it may describe them."""

    read_action = "cs:DescribeRegistryCredentials"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text("acs:cs:*:", F("tenant_id"), ":registrycredential/", F("registry")))

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, registry, tenant_id in self.values_list("pk", "registry", "tenant_id"):
            yield pk, Resource(registry_resource(tenant_id, registry))


class RegistryCredential(models.Model):
    """A tenant's user name and password for one image registry; used only for pulls on the tenant's own nodes.

    The password is sealed at rest and never shown again, not even to its owner.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="registry_credentials")
    registry = models.CharField(
        _("registry"), max_length=255, help_text=_("Host name and port of the registry, e.g. registry.example.com:5000")
    )
    username = models.CharField(_("user name"), max_length=255)
    password_sealed = models.TextField(help_text="the password, encrypted at rest")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RegistryCredentialQuerySet.as_manager()

    class Meta:
        ordering = ["registry"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "registry"], name="registry_credential_unique_in_tenant")
        ]

    def __str__(self) -> str:
        return self.registry

    @property
    def resource_name(self) -> str:
        return registry_resource(self.tenant_id, self.registry)
