"""REST API of clusters and nodes (/api/v1/clusters, /api/v1/node-tasks, the attach endpoints)."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import NAME_VALIDATOR
from clusters import attach, certificates, registries, rotation
from clusters import operations as ops
from clusters.models import Cluster, Node, NodeTask, RegistryCredential, UserCertificate
from clusters.providers import PROVIDERS
from clusters.security_policy import DEFAULTS as SECURITY_DEFAULTS
from console.api import BerthAPIView, ListEndpoint, RequestBody, refused
from console.api import strict_data as _strict

ZONE_VALIDATOR = RegexValidator(ops.ZONE_RE, _("Lower-case letters, digits and hyphens."))
DOMAIN_VALIDATOR = RegexValidator(ops.DOMAIN_RE.pattern, _("A domain name such as apps.example.com."), flags=re.I)
LABEL_KEYS = f"label name → value; a name matches {ops.LABEL_KEY_RE.pattern}, a value has no '=', ',' or line break"


RESOURCE_NAME = "its RAM resource name, what policies are written against (acs:cs:…)"


class NodeSerializer(serializers.ModelSerializer):
    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)
    containers = serializers.SerializerMethodField()
    tls = serializers.BooleanField(source="uses_tls", read_only=True)
    ca = serializers.SerializerMethodField(
        help_text="current (the cluster's CA), old (an earlier CA: renew it), own (uploaded material) or empty"
    )
    network = serializers.CharField(
        source="network_state",
        read_only=True,
        help_text="in the cluster network: manager or worker (joined), joining, not joined, unreachable, error, left; "
        "empty in a bridge-mode cluster",
    )

    class Meta:
        model = Node
        fields = [
            "id",
            "name",
            "resource_name",
            "endpoint",
            "publish_ip",
            "zone",
            "labels",
            "state",
            "provider",
            "tls",
            "ca",
            "network",
            "info",
            "last_seen_at",
            "last_error",
            "containers",
        ]
        read_only_fields = fields

    def get_ca(self, obj: Node) -> str:
        return obj.ca_standing(obj.cluster)

    def to_representation(self, instance: Node) -> dict[str, Any]:
        shown = super().to_representation(instance)
        # The swarm is Berth's business (ids, manager addresses): ``network`` says the node's part in words.
        shown["info"] = {k: v for k, v in (shown.get("info") or {}).items() if k != "swarm"}
        return shown

    def get_containers(self, obj: Node) -> list[dict[str, Any]]:
        if "containers" in getattr(obj, "_prefetched_objects_cache", {}):  # a list loads them with the page
            found = obj.containers.all()
        else:
            found = obj.containers.select_related("service__application")
        return [{"name": c.name, "state": c.state, "application": c.service.application.name} for c in found]


def with_containers(nodes: Any) -> Any:
    """Nodes with their containers and the containers' applications (what ``NodeSerializer`` shows), in the same
    number of queries for any number of nodes."""
    return nodes.select_related("cluster").prefetch_related("containers__service__application")


class ClusterSerializer(serializers.ModelSerializer):
    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)
    nodes = NodeSerializer(many=True, read_only=True)
    applications = serializers.IntegerField(source="app_count", read_only=True, default=0)
    nodes_ready = serializers.IntegerField(read_only=True, default=0)
    nodes_total = serializers.IntegerField(read_only=True, default=0)
    containers_running = serializers.IntegerField(read_only=True, default=0)
    containers_total = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "resource_name",
            "region",
            "zones",
            "network_mode",
            "network_pool",
            "root_domain",
            "system_services",
            "security_policy",
            "created_at",
            "nodes",
            "applications",
            "nodes_ready",
            "nodes_total",
            "containers_running",
            "containers_total",
        ]
        read_only_fields = fields


SystemServices = type(
    "SystemServices",
    (RequestBody,),
    {
        "__doc__": "Which system services the cluster runs (each on or off).",
        **{name: serializers.BooleanField(required=False) for name in ops.SYSTEM_SERVICES},
    },
)
SecurityPolicy = type(
    "SecurityPolicy",
    (RequestBody,),
    {
        "__doc__": "What sub-accounts may deploy on the cluster (apps.security); only the primary account changes it.",
        **{name: serializers.BooleanField(required=False) for name in SECURITY_DEFAULTS if name != "bind_allow"},
        "bind_allow": serializers.ListField(
            child=serializers.CharField(validators=[RegexValidator(r"^/", _("An absolute path."))]),
            required=False,
            help_text="directories that bind mounts may use (absolute paths)",
        ),
    },
)


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
POOL_FORM = rf"^{_OCTET}(\.{_OCTET}){{3}}/(8|9|1[0-9]|2[0-4])$"
"""An IPv4 range from /8 to /24, as the schema can say it (private and apart from the nodes: ``network.check_pool``)."""


class ClusterWrite(RequestBody):
    """A cluster's settings (``PATCH``: any of them)."""

    name = serializers.CharField(max_length=63, validators=[NAME_VALIDATOR])
    region = serializers.CharField(max_length=63, required=False, validators=[ZONE_VALIDATOR])
    zones = serializers.ListField(
        child=serializers.CharField(max_length=63, validators=[ZONE_VALIDATOR]), required=False, max_length=32
    )
    network_mode = serializers.ChoiceField(choices=Cluster.NetworkMode.choices, required=False)
    network_pool = serializers.RegexField(
        POOL_FORM,
        max_length=18,
        error_messages={"invalid": "An IPv4 range from /8 to /24, such as 10.201.0.0/16."},
        required=False,
        help_text="the cluster network's private IPv4 range, /8 to /24 (each network takes a /24), holding no node's "
        "address; fixed once a node joined",
    )
    root_domain = serializers.CharField(max_length=253, required=False, allow_blank=True, validators=[DOMAIN_VALIDATOR])
    system_services = SystemServices(required=False)
    security_policy = SecurityPolicy(required=False)


class NodeTaskSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="target_name", read_only=True, help_text="what the task works on, by name")
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = NodeTask
        fields = [
            "id",
            "cluster",
            "node",
            "kind",
            "status",
            "progress_done",
            "progress_total",
            "percent",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


def _count(relation: str, condition: Q | None = None) -> Subquery:
    """How many ``relation`` rows (matching ``condition``) a cluster has, counted in a subquery of its own: counts
    of several relations joined in one query would multiply each other's rows."""
    per_cluster = Cluster.objects.filter(pk=OuterRef("pk")).annotate(n=Count(relation, filter=condition))
    return Subquery(per_cluster.values("n"))


def clusters_for(user: Any) -> Any:
    """Clusters with the live summary the list shows (nodes ready/total, applications, containers running/total)
    and their nodes, in the same number of queries for any number of them."""
    return (
        Cluster.objects.visible_to(user)
        .annotate(
            app_count=_count("applications", Q(applications__deleted_at__isnull=True)),
            nodes_total=_count("nodes", ~Q(nodes__state=Node.State.REMOVED)),
            nodes_ready=_count("nodes", Q(nodes__state=Node.State.READY)),
            containers_total=_count("nodes__containers"),
            containers_running=_count("nodes__containers", Q(nodes__containers__state="running")),
        )
        .prefetch_related(Prefetch("nodes", queryset=Node.objects.live().visible_to(user)))
    )


def clusters_shown(user: Any) -> Any:
    """``clusters_for`` with what ``ClusterSerializer`` shows of their nodes (containers and their applications)."""
    return clusters_for(user).prefetch_related("nodes__containers__service__application")


def _cluster(request: Request, cluster_id: int) -> Cluster:
    return get_object_or_404(Cluster.objects.visible_to(request.user), pk=cluster_id)


def _node(request: Request, cluster: Cluster, node: str) -> Node:
    nodes = Node.objects.live().visible_to(request.user).filter(cluster=cluster).select_related("cluster")
    found = nodes.filter(name=node).first() or (nodes.filter(pk=int(node)).first() if node.isdigit() else None)
    if found is None:
        raise Http404
    return found


class ClusterListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/clusters`` (a page: ``limit``, ``offset``); ``POST`` creates one (with its own CA)."""

    action_map = {"GET": "cs:DescribeClusters", "POST": "cs:CreateCluster"}

    @extend_schema(responses=ClusterSerializer(many=True), operation_id="clusters_list")
    def get(self, request: Request) -> Response:
        return self.paginated(clusters_shown(request.user), lambda page: ClusterSerializer(page, many=True).data)

    @extend_schema(
        request=ClusterWrite,
        responses={
            201: ClusterSerializer,
            400: refused("Also: the name is taken; the address pool is not a private range."),
        },
        operation_id="clusters_create",
    )
    def post(self, request: Request) -> Response:
        cluster = ops.create_cluster(request.user, **_strict(ClusterWrite, request.data))
        return Response(
            ClusterSerializer(clusters_shown(request.user).get(pk=cluster.pk)).data, status=status.HTTP_201_CREATED
        )


class ClusterDetailView(BerthAPIView):
    """``GET``; ``PATCH`` renames or changes zones, domain, services; ``DELETE [?force=true]``."""

    action_map = {"GET": "cs:DescribeClusters", "PATCH": "cs:ModifyCluster", "DELETE": "cs:DeleteCluster"}

    @extend_schema(responses=ClusterSerializer, operation_id="clusters_retrieve")
    def get(self, request: Request, cluster_id: int) -> Response:
        return Response(ClusterSerializer(get_object_or_404(clusters_shown(request.user), pk=cluster_id)).data)

    @extend_schema(
        request=ClusterWrite,
        responses={
            200: ClusterSerializer,
            400: refused(
                "Also: the name is taken; the address pool is not a private range, holds a node's address or is fixed "
                "(a node joined); the network mode changes while the cluster has applications."
            ),
        },
        operation_id="clusters_update",
    )
    def patch(self, request: Request, cluster_id: int) -> Response:
        data = _strict(ClusterWrite, request.data, partial=True)
        ops.update_cluster(request.user, _cluster(request, cluster_id), **data)
        return self.get(request, cluster_id)

    @extend_schema(responses={202: NodeTaskSerializer, 204: None}, operation_id="clusters_destroy")
    def delete(self, request: Request, cluster_id: int) -> Response:
        force = request.query_params.get("force") in ("1", "true", "yes")
        task = ops.delete_cluster(request.user, _cluster(request, cluster_id), force=force)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(NodeTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class TlsBody(RequestBody):
    ca = serializers.CharField(max_length=20000)
    cert = serializers.CharField(max_length=20000)
    key = serializers.CharField(max_length=20000)


class NodeCreate(RequestBody):
    """An engine to register (``endpoint``, ``publish_ip``, ``tls`` when it asks for one), or with ``provider`` a
    new host that provider makes."""

    name = serializers.CharField(max_length=63, validators=[NAME_VALIDATOR])
    endpoint = serializers.CharField(
        max_length=255,
        required=False,
        validators=[RegexValidator(ops.ENDPOINT_RE, _("Use unix:///path/to/docker.sock or tcp://host:port."))],
        help_text="a port of 1-65535",
    )
    publish_ip = serializers.IPAddressField(required=False)
    zone = serializers.CharField(
        max_length=63, required=False, allow_blank=True, default="", validators=[ZONE_VALIDATOR]
    )
    labels = serializers.DictField(
        child=serializers.CharField(max_length=128, allow_blank=True),
        required=False,
        default=dict,
        help_text=LABEL_KEYS,
    )
    tls = TlsBody(required=False)
    provider = serializers.ChoiceField(choices=sorted(PROVIDERS), required=False)


class NodeListView(ListEndpoint, BerthAPIView):
    """``GET`` the cluster's nodes (a page); ``POST`` registers an engine by endpoint (201), or with ``"provider"``
    asks a provider for a new host (202 with the task)."""

    action_map = {"GET": "cs:DescribeClusterNodes", "POST": "cs:AddClusterNodes"}

    @extend_schema(responses=NodeSerializer(many=True), operation_id="nodes_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        nodes = (
            Node.objects.live()
            .visible_to(request.user)
            .filter(cluster=_cluster(request, cluster_id))
            .order_by("name", "id")
        )
        return self.paginated(with_containers(nodes), lambda page: NodeSerializer(page, many=True).data)

    @extend_schema(
        request=NodeCreate, responses={201: NodeSerializer, 202: NodeTaskSerializer}, operation_id="nodes_create"
    )
    def post(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        data = _strict(NodeCreate, request.data)
        if data.get("provider"):
            task = ops.provision_node(
                request.user,
                cluster,
                name=data["name"],
                provider=data["provider"],
                zone=data["zone"],
                labels=data["labels"],
            )
            return Response(NodeTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)
        missing = [f for f in ("endpoint", "publish_ip") if not data.get(f)]
        if missing:
            raise ValidationError({f: ["This field is required."] for f in missing})
        tls = data.get("tls") or {}
        node = ops.register_node(
            request.user,
            cluster,
            name=data["name"],
            endpoint=data["endpoint"],
            publish_ip=data["publish_ip"],
            zone=data["zone"],
            labels=data["labels"],
            tls_ca=tls.get("ca", ""),
            tls_cert=tls.get("cert", ""),
            tls_key=tls.get("key", ""),
        )
        return Response(NodeSerializer(node).data, status=status.HTTP_201_CREATED)


class NodeUpdate(RequestBody):
    labels = serializers.DictField(
        child=serializers.CharField(max_length=128, allow_blank=True), required=False, help_text=LABEL_KEYS
    )
    zone = serializers.CharField(
        max_length=63, required=False, allow_blank=True, validators=[ZONE_VALIDATOR], help_text="one of the cluster's"
    )


class NodeDetailView(BerthAPIView):
    """``GET``; ``PATCH {"labels", "zone"}``; ``DELETE [?drain=true]`` (default: drain first) → 202 with the task."""

    action_map = {"GET": "cs:DescribeClusterNodes", "PATCH": "cs:ModifyClusterNode", "DELETE": "cs:RemoveClusterNodes"}

    @extend_schema(responses=NodeSerializer, operation_id="nodes_retrieve")
    def get(self, request: Request, cluster_id: int, node: str) -> Response:
        return Response(NodeSerializer(_node(request, _cluster(request, cluster_id), node)).data)

    @extend_schema(
        request=NodeUpdate,
        responses={
            200: NodeSerializer,
            400: refused("Also: a label's name or value is not one, or the zone is not one of the cluster's."),
        },
        operation_id="nodes_update",
    )
    def patch(self, request: Request, cluster_id: int, node: str) -> Response:
        found = _node(request, _cluster(request, cluster_id), node)
        data = _strict(NodeUpdate, request.data)
        return Response(NodeSerializer(ops.update_node(request.user, found, **data)).data)

    @extend_schema(responses={202: NodeTaskSerializer}, operation_id="nodes_destroy")
    def delete(self, request: Request, cluster_id: int, node: str) -> Response:
        drain = request.query_params.get("drain", "true") not in ("0", "false", "no")
        task = ops.remove_node(request.user, _node(request, _cluster(request, cluster_id), node), drain=drain)
        return Response(NodeTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class NodeResetView(BerthAPIView):
    """``POST .../nodes/{node}/reset``: remove every Berth container from the node (202 with the task)."""

    action_map = {"POST": "cs:ResetClusterNode"}

    @extend_schema(request=None, responses={202: NodeTaskSerializer}, operation_id="nodes_reset")
    def post(self, request: Request, cluster_id: int, node: str) -> Response:
        task = ops.reset_node(request.user, _node(request, _cluster(request, cluster_id), node))
        return Response(NodeTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class NodeTaskDetailView(BerthAPIView):
    """``GET /api/v1/node-tasks/{id}``: poll a node task."""

    action_map = {"GET": "cs:DescribeClusterNodes"}

    @extend_schema(responses=NodeTaskSerializer, operation_id="node_tasks_retrieve")
    def get(self, request: Request, task_id: int) -> Response:
        return Response(
            NodeTaskSerializer(get_object_or_404(NodeTask.objects.visible_to(request.user), pk=task_id)).data
        )


class AttachCommandBody(RequestBody):
    console_url = serializers.CharField(
        required=False,
        max_length=200,
        validators=[RegexValidator(attach.CONSOLE_URL_RE, _("An http:// or https:// address of this console."))],
        help_text="the console's address the node calls (host, port and path only); the request's own by default",
    )


class AttachCommandView(BerthAPIView):
    """``POST /api/v1/clusters/{id}/attach-command``: a one-line command with a one-time token."""

    action_map = {"POST": "cs:AddClusterNodes"}

    @extend_schema(request=AttachCommandBody, responses={201: None}, operation_id="clusters_attach_command")
    def post(self, request: Request, cluster_id: int) -> Response:
        data = _strict(AttachCommandBody, request.data or {})
        made = attach.attach_command(request.user, _cluster(request, cluster_id), console_url=data.get("console_url"))
        return Response({"command": made["command"], "expires_at": made["expires_at"]}, status=status.HTTP_201_CREATED)


class NodeRenewCommandView(BerthAPIView):
    """``POST .../nodes/{node}/renew-command``: after a CA rotation, a one-line command that gives a node Berth did
    not start a server certificate of the cluster's new CA (``clusters.attach.renew_command``)."""

    action_map = {"POST": rotation.ROTATE}

    @extend_schema(request=AttachCommandBody, responses={201: None}, operation_id="nodes_renew_command")
    def post(self, request: Request, cluster_id: int, node: str) -> Response:
        data = _strict(AttachCommandBody, request.data or {})
        found = _node(request, _cluster(request, cluster_id), node)
        made = attach.renew_command(request.user, found, console_url=data.get("console_url"))
        return Response({"command": made["command"], "expires_at": made["expires_at"]}, status=status.HTTP_201_CREATED)


class ClusterRotateView(BerthAPIView):
    """``POST /api/v1/clusters/{id}/rotate-ca``: a new CA for the cluster; its nodes are re-certified by a node task
    (202 with it), so that no certificate of the old CA opens them any more (``clusters.rotation``)."""

    action_map = {"POST": rotation.ROTATE}

    @extend_schema(request=None, responses={202: NodeTaskSerializer}, operation_id="clusters_rotate_ca")
    def post(self, request: Request, cluster_id: int) -> Response:
        task = rotation.rotate_ca(request.user, _cluster(request, cluster_id))
        return Response(NodeTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class CertsView(BerthAPIView):
    """``GET /api/v1/clusters/{id}/certs``: issue a client bundle (zip) to reach the cluster's engines with docker.

    Its own action, outside ``Describe*``: the certificate is full Docker access to the cluster's TLS nodes.
    Short-lived (BERTH_USER_CERT_HOURS) and recorded by serial (``/certificates``).
    """

    action_map = {"GET": certificates.ISSUE}

    @extend_schema(responses={200: None}, operation_id="clusters_certs")
    def get(self, request: Request, cluster_id: int) -> HttpResponse:
        cluster = _cluster(request, cluster_id)
        record, blob = certificates.issue(request.user, cluster)
        response = HttpResponse(blob, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="berth-{cluster.name}-certs.zip"'
        response["X-Berth-Certificate-Serial"] = record.serial
        return response


class UserCertificateSerializer(serializers.ModelSerializer):
    """An issued certificate: who, which serial, until when, and whether it still counts (never its key)."""

    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)
    user = serializers.CharField(source="user_login", read_only=True)
    status = serializers.CharField(read_only=True, help_text="valid, expired or revoked")
    status_reason = serializers.CharField(read_only=True)

    class Meta:
        model = UserCertificate
        fields = [
            "serial",
            "resource_name",
            "user",
            "fingerprint",
            "created_at",
            "not_after",
            "status",
            "status_reason",
            "revoked_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: UserCertificate) -> dict[str, Any]:
        if not hasattr(instance, "status_reason"):  # a list sets them for all rows at once (certificates.statuses)
            instance.status, instance.status_reason = certificates.status(instance)  # type: ignore[attr-defined]
        return super().to_representation(instance)


class UserCertificateListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/clusters/{id}/certificates``: the client certificates issued for the cluster (no keys), newest
    first, a page at a time."""

    action_map = {"GET": "cs:DescribeClusterCertificates"}

    @extend_schema(responses=UserCertificateSerializer(many=True), operation_id="cluster_certificates_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        rows = (
            UserCertificate.objects.visible_to(request.user)
            .filter(cluster=_cluster(request, cluster_id))
            .select_related("user", "cluster")
        )

        def shapes(page: list[UserCertificate]) -> Any:
            for certificate, state, reason in certificates.statuses(page):
                certificate.status, certificate.status_reason = state, reason  # type: ignore[attr-defined]
            return UserCertificateSerializer(page, many=True).data

        return self.paginated(rows, shapes)


class RevokeBody(RequestBody):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class UserCertificateDetailView(BerthAPIView):
    """``DELETE /api/v1/clusters/{id}/certificates/{serial}``: revoke one (recorded and shown; Docker engines
    have no revocation list, so it keeps working until it expires, at most BERTH_USER_CERT_HOURS)."""

    action_map = {"DELETE": certificates.REVOKE}

    @extend_schema(request=RevokeBody, responses=UserCertificateSerializer, operation_id="cluster_certificates_revoke")
    def delete(self, request: Request, cluster_id: int, serial: str) -> Response:
        cluster = _cluster(request, cluster_id)
        found = get_object_or_404(
            UserCertificate.objects.visible_to(request.user).filter(cluster=cluster), serial=serial.lower()
        )
        data = _strict(RevokeBody, request.data or {})
        return Response(UserCertificateSerializer(certificates.revoke(request.user, found, reason=data["reason"])).data)


# --- registry credentials of the tenant ------------------------------------------------------------


class RegistryCredentialSerializer(serializers.ModelSerializer):
    """A credential as anyone sees it: never the password."""

    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)

    class Meta:
        model = RegistryCredential
        fields = ["id", "registry", "resource_name", "username", "created_at", "updated_at"]
        read_only_fields = fields


ONE_LINE = RegexValidator(registries.ONE_LINE_RE, _("One line."))


class RegistryCredentialCreate(RequestBody):
    registry = serializers.CharField(
        max_length=255,
        validators=[
            RegexValidator(registries.REGISTRY_INPUT, _("A registry host name, optionally with a port."), flags=re.I)
        ],
        help_text="host[:port] (a scheme or a path is dropped); Docker Hub's names all mean docker.io",
    )
    username = serializers.CharField(max_length=255, validators=[ONE_LINE])
    password = serializers.CharField(max_length=4096, write_only=True, trim_whitespace=False)


class RegistryCredentialUpdate(RequestBody):
    username = serializers.CharField(max_length=255, required=False, validators=[ONE_LINE])
    password = serializers.CharField(max_length=4096, write_only=True, required=False, trim_whitespace=False)


def _credential(request: Request, credential_id: int) -> RegistryCredential:
    return get_object_or_404(RegistryCredential.objects.visible_to(request.user), pk=credential_id)


class RegistryCredentialListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/registry-credentials`` (a page); ``POST {registry, username, password}`` (the password is
    write-only)."""

    action_map = {"GET": "cs:DescribeRegistryCredentials", "POST": "cs:CreateRegistryCredential"}

    @extend_schema(responses=RegistryCredentialSerializer(many=True), operation_id="registry_credentials_list")
    def get(self, request: Request) -> Response:
        rows = RegistryCredential.objects.visible_to(request.user)
        return self.paginated(rows, lambda page: RegistryCredentialSerializer(page, many=True).data)

    @extend_schema(
        request=RegistryCredentialCreate,
        responses={
            201: RegistryCredentialSerializer,
            400: refused("Also: the tenant has a credential for this registry already (change that one)."),
        },
        operation_id="registry_credentials_create",
    )
    def post(self, request: Request) -> Response:
        data = _strict(RegistryCredentialCreate, request.data)
        made = registries.create_credential(request.user, **data)
        return Response(RegistryCredentialSerializer(made).data, status=status.HTTP_201_CREATED)


class RegistryCredentialDetailView(BerthAPIView):
    """``GET``; ``PATCH {username, password}`` (replaces them; the password is never returned); ``DELETE``."""

    action_map = {
        "GET": "cs:DescribeRegistryCredentials",
        "PATCH": "cs:UpdateRegistryCredential",
        "DELETE": "cs:DeleteRegistryCredential",
    }

    @extend_schema(responses=RegistryCredentialSerializer, operation_id="registry_credentials_retrieve")
    def get(self, request: Request, credential_id: int) -> Response:
        return Response(RegistryCredentialSerializer(_credential(request, credential_id)).data)

    @extend_schema(
        request=RegistryCredentialUpdate,
        responses=RegistryCredentialSerializer,
        operation_id="registry_credentials_update",
    )
    def patch(self, request: Request, credential_id: int) -> Response:
        data = _strict(RegistryCredentialUpdate, request.data)
        found = registries.update_credential(request.user, _credential(request, credential_id), **data)
        return Response(RegistryCredentialSerializer(found).data)

    @extend_schema(responses={204: None}, operation_id="registry_credentials_destroy")
    def delete(self, request: Request, credential_id: int) -> Response:
        registries.delete_credential(request.user, _credential(request, credential_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the attach script's own endpoints (the one-time token is the credential) ----------------------


class AttachCertificatesBody(serializers.Serializer):
    address = serializers.CharField(help_text="the address the node's engine will listen on (its certificate's)")


class AttachRegisterBody(AttachCertificatesBody):
    name = serializers.CharField(help_text="the node's name")


ATTACH_BODIES = ("application/x-www-form-urlencoded", "application/json")


class AttachBase(BerthAPIView):
    """The attach script's calls: the one-time token is the credential, and the script's curl sends a form."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    parser_classes = [FormParser, JSONParser]

    def _error(self, exc: ValidationError) -> HttpResponse:
        return HttpResponse(" ".join(exc.messages) + "\n", status=status.HTTP_403_FORBIDDEN, content_type="text/plain")

    def field(self, name: str) -> str:
        """The form's (or JSON object's) ``name``, as text; empty when missing or when the body is not an object."""
        data = self.request.data
        return str(data.get(name, "")) if isinstance(data, Mapping) else ""


class AttachScriptView(AttachBase):
    """``GET /api/v1/attach/{token}/script``: the shell script of the one-line command."""

    action_map = {"GET": "cs:AttachNode"}

    @extend_schema(responses={200: None}, operation_id="attach_script")
    def get(self, request: Request, token: str) -> HttpResponse:
        try:
            script = attach.attach_script(token, request.build_absolute_uri("/"))
        except ValidationError as exc:
            return self._error(exc)
        return HttpResponse(script, content_type="text/x-shellscript")


class AttachCertificatesView(AttachBase):
    """``POST /api/v1/attach/{token}/certificates`` (``address``): a tar of ca.pem, cert.pem, key.pem.

    The first call binds the token to ``address``; see ``clusters.attach.attach_certificates``.
    """

    action_map = {"POST": "cs:AttachNode"}

    @extend_schema(
        request=dict.fromkeys(ATTACH_BODIES, AttachCertificatesBody),
        responses={200: None, 403: None},
        operation_id="attach_certificates",
    )
    def post(self, request: Request, token: str) -> HttpResponse:
        try:
            found, pair = attach.attach_certificates(token, self.field("address"))
        except ValidationError as exc:
            return self._error(exc)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, text in (
                ("ca.pem", found.cluster.ca_cert),
                ("cert.pem", pair.cert_pem),
                ("key.pem", pair.key_pem),
            ):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o600
                archive.addfile(info, io.BytesIO(data))
        return HttpResponse(buffer.getvalue(), content_type="application/x-tar")


class AttachRegisterView(AttachBase):
    """``POST /api/v1/attach/{token}/register`` (``address``, ``name``): Berth registers the engine; token used."""

    action_map = {"POST": "cs:AttachNode"}

    @extend_schema(
        request=dict.fromkeys(ATTACH_BODIES, AttachRegisterBody),
        responses={201: None, 403: None},
        operation_id="attach_register",
    )
    def post(self, request: Request, token: str) -> HttpResponse:
        try:
            node = attach.attach_register(token, address=self.field("address"), name=self.field("name"))
        except ValidationError as exc:
            return self._error(exc)
        return HttpResponse(
            f"berth: registered node {node.name} in cluster {node.cluster.name}\n",
            status=201,
            content_type="text/plain",
        )
