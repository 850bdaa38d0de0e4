"""REST API of the routing service: ``/api/v1/clusters/{id}/routing`` (on or off, ports, the routers per node),
``/api/v1/clusters/{id}/routes`` (each domain and path with its service, weight, backends as the routers see them,
and traffic), ``/api/v1/clusters/{id}/listeners`` and the tenant's ``/api/v1/certificates`` (never their keys)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.models import Container
from clusters.api import _cluster
from clusters.models import Cluster
from console.api import BerthAPIView, ListEndpoint, RequestBody, refused
from console.api import strict_data as _strict
from routing import certificates, haproxy, operations, sync, tls, traffic
from routing.models import Certificate, Listener, Route, Router


def address_of(route: Route, port: int, https: bool = False) -> str:
    """Where a user opens the route: ``http://web.local.localhost:9080/api`` (no port when it is 80), or
    ``https://secure.example.com/`` when the routers serve it on 443."""
    path = "" if route.path == "/" else route.path
    if https:
        return f"https://{route.domain}{path}"
    where = route.domain if port == 80 else f"{route.domain}:{port}"
    return f"http://{where}{path}"


def opened_at(route: Route, port: int, https_port: bool, rows: list[Certificate]) -> str:
    """The route's address as users open it: https when it is an https route the routers serve on 443 with a
    certificate that names it, else http on the routing port."""
    return address_of(route, port, route.https and https_port and tls.covers_any(rows, route.domain))


def certificate_of(rows: list[Certificate], domain: str, named: set[int]) -> str:
    """The name of the certificate the routers answer ``domain`` with (when the user may see certificates), or why
    there is none (https only)."""
    found = next((row for row in rows if tls.covers(row.names, domain)), None)
    if found:
        return found.name if found.pk in named else "a certificate of this account"
    return f"none: no valid certificate of this account names {domain}"


class BackendSerializer(serializers.Serializer):
    container = serializers.CharField()
    node = serializers.CharField()
    state = serializers.CharField(help_text="the container's state as Berth knows it")
    address = serializers.CharField(help_text="its address on the cluster network, as the routers have it")
    health = serializers.CharField(help_text="UP, DOWN (with check), MAINT, NOLB (weight 0) or unknown")
    check = serializers.CharField(help_text="the routers' last check: L7OK, L4CON (refused), L7STS (bad status)…")


class TrafficSerializer(serializers.Serializer):
    requests = serializers.IntegerField(help_text="since the routers started, all routers together")
    errors_5xx = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="requests per second")
    rate_5xx = serializers.FloatField(allow_null=True, help_text="5xx answers per second")
    latency_ms = serializers.FloatField(allow_null=True, help_text="average response time (last 1024 requests)")


class RouteSerializer(serializers.ModelSerializer):
    application = serializers.CharField(source="application.name", read_only=True)
    service = serializers.CharField(source="service.name", read_only=True)
    address = serializers.SerializerMethodField(help_text="where users open it")
    certificate = serializers.SerializerMethodField(
        help_text="an https route's certificate (its name), or why it has none; empty for an http route"
    )
    backends = serializers.SerializerMethodField()
    traffic = serializers.SerializerMethodField()

    class Meta:
        model = Route
        fields = [
            "id",
            "domain",
            "path",
            "address",
            "https",
            "redirect_https",
            "certificate",
            "application",
            "service",
            "port",
            "weight",
            "sticky",
            "backends",
            "traffic",
        ]
        read_only_fields = fields

    def get_address(self, obj: Route) -> str:
        return opened_at(obj, self.context["port"], self.context["https"], self.context["certificates"])

    def get_certificate(self, obj: Route) -> str:
        return certificate_of(self.context["certificates"], obj.domain, self.context["named"]) if obj.https else ""

    @extend_schema(responses=BackendSerializer(many=True))
    def get_backends(self, obj: Route) -> list[dict[str, Any]]:
        seen = self.context["traffic"].get(haproxy.backend_name(obj.domain, obj.path))
        return backends_of(self.context["containers"].get(obj.service_id, []), seen)

    @extend_schema(responses=TrafficSerializer)
    def get_traffic(self, obj: Route) -> dict[str, Any]:
        return traffic_of(self.context["traffic"].get(haproxy.backend_name(obj.domain, obj.path)))


def backends_of(rows: list[Container], seen: traffic.BackendView | None) -> list[dict[str, Any]]:
    """A service's containers with what the routers see of them."""
    found = []
    for row in rows:
        server = seen.servers.get(row.name) if seen else None
        found.append(
            {
                "container": row.name,
                "node": row.node.name,
                "state": row.state,
                "address": server.address if server else "",
                "health": server.status if server else "unknown",
                "check": server.check if server else "",
            }
        )
    return found


def traffic_of(seen: traffic.BackendView | None) -> dict[str, Any]:
    if seen is None:
        return {"requests": 0, "errors_5xx": 0, "rate": None, "rate_5xx": None, "latency_ms": None}
    return {
        "requests": seen.requests,
        "errors_5xx": seen.errors_5xx,
        "rate": seen.rate,
        "rate_5xx": seen.rate_5xx,
        "latency_ms": seen.latency_ms,
    }


def route_context(cluster: Cluster, page: list[Route | Listener], user: Any) -> dict[str, Any]:
    """What the serializers need for a page of routes and listeners, in a fixed number of queries (and one read of
    the routers)."""
    containers: dict[int, list[Container]] = {}
    rows = Container.objects.filter(service_id__in={r.service_id for r in page}).select_related("node")
    for row in rows.order_by("service_id", "index"):
        containers.setdefault(row.service_id, []).append(row)
    views = traffic.snapshot(cluster) if page and sync.enabled(cluster) else {}
    options = sync.settings_of(cluster)
    served = tls.served_by(cluster)
    visible = Certificate.objects.visible_to(user).filter(pk__in=[row.pk for row in served])
    named = set(visible.values_list("pk", flat=True)) if served else set()
    return {
        "containers": containers,
        "traffic": views,
        "port": options.port,
        "https": options.https_port,
        "certificates": served,
        "named": named,  # the certificates the user may see the names of (cs:DescribeCertificates)
    }


class ListenerSerializer(serializers.ModelSerializer):
    application = serializers.CharField(source="application.name", read_only=True)
    service = serializers.CharField(source="service.name", read_only=True)
    backends = serializers.SerializerMethodField()
    traffic = serializers.SerializerMethodField()

    class Meta:
        model = Listener
        fields = [
            "id",
            "name",
            "protocol",
            "front_port",
            "application",
            "service",
            "port",
            "certificate",
            "backends",
            "traffic",
        ]
        read_only_fields = fields

    certificate = serializers.SerializerMethodField(
        help_text="an https listener's certificates (the account's valid ones, by SNI), or why it has none"
    )

    def get_certificate(self, obj: Listener) -> str:
        if obj.protocol != Listener.Protocol.HTTPS:
            return ""
        rows = self.context["certificates"]
        names = [row.name if row.pk in self.context["named"] else "a certificate of this account" for row in rows]
        return (
            ", ".join(sorted(set(names)))
            if names
            else "none: the account has no valid certificate (not served until it has)"
        )

    def _seen(self, obj: Listener) -> Any:
        return self.context["traffic"].get(sync.listener_backend(obj.front_port))

    @extend_schema(responses=BackendSerializer(many=True))
    def get_backends(self, obj: Listener) -> list[dict[str, Any]]:
        return backends_of(self.context["containers"].get(obj.service_id, []), self._seen(obj))

    @extend_schema(responses=TrafficSerializer)
    def get_traffic(self, obj: Listener) -> dict[str, Any]:
        return traffic_of(self._seen(obj))


class RouterSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.name", read_only=True)

    class Meta:
        model = Router
        fields = ["node", "state", "error", "reloads", "updated_at"]
        read_only_fields = fields


class RoutingSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="the routing service runs (a router on every ready node)")
    port = serializers.IntegerField(help_text="the routing port on each node's publish address")
    http_port = serializers.BooleanField(help_text="the routers also listen on port 80")
    https_port = serializers.BooleanField(
        help_text="the routers also listen on port 443 (TLS, the account's certificates by SNI; once it has one)"
    )
    root_domain = serializers.CharField(help_text="bare prefixes become <prefix>.<root domain>")
    routers = RouterSerializer(many=True)


class RoutingChange(RequestBody):
    enabled = serializers.BooleanField(required=False)
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    http_port = serializers.BooleanField(required=False)
    https_port = serializers.BooleanField(required=False)


def routing_state(cluster: Cluster) -> dict[str, Any]:
    from routing.routes import root_of

    options = sync.settings_of(cluster)
    return {
        "enabled": bool((cluster.system_services or {}).get("routing")),
        "port": options.port,
        "http_port": options.http_port,
        "https_port": options.https_port,
        "root_domain": root_of(cluster),
        "routers": RouterSerializer(Router.objects.filter(cluster=cluster).select_related("node"), many=True).data,
    }


class RoutingView(BerthAPIView):
    """``GET /api/v1/clusters/{id}/routing``; ``PATCH`` turns it on or off and sets its ports."""

    action_map = {"GET": "cs:DescribeRoutes", "PATCH": "cs:ModifyRouting"}

    @extend_schema(responses=RoutingSerializer, operation_id="cluster_routing_retrieve")
    def get(self, request: Request, cluster_id: int) -> Response:
        return Response(routing_state(_cluster(request, cluster_id)))

    @extend_schema(
        request=RoutingChange,
        responses={200: RoutingSerializer, 400: refused("Also: routing needs the cluster network (overlay).")},
        operation_id="cluster_routing_update",
    )
    def patch(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        operations.configure(request.user, cluster, dict(_strict(RoutingChange, request.data)))
        cluster.refresh_from_db()
        return Response(routing_state(cluster))


class RouteListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/clusters/{id}/routes`` (a page: ``limit``, ``offset``; ``?application=`` one application's)."""

    action_map = {"GET": "cs:DescribeRoutes"}

    @extend_schema(responses=RouteSerializer(many=True), operation_id="cluster_routes_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        rows = Route.objects.visible_to(request.user).filter(cluster=cluster, application__deleted_at__isnull=True)
        if request.query_params.get("application"):
            rows = rows.filter(application__name=request.query_params["application"])
        rows = rows.select_related("application", "service")

        def shapes(page: list[Route]) -> Any:
            return RouteSerializer(page, many=True, context=route_context(cluster, page, request.user)).data

        return self.paginated(rows, shapes)


class ListenerListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/clusters/{id}/listeners``: the cluster's listeners (``aliyun.lb.port_N``; a page)."""

    action_map = {"GET": "cs:DescribeRoutes"}

    @extend_schema(responses=ListenerSerializer(many=True), operation_id="cluster_listeners_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        rows = Listener.objects.visible_to(request.user).filter(cluster=cluster, application__deleted_at__isnull=True)
        rows = rows.select_related("application", "service")

        def shapes(page: list[Listener]) -> Any:
            return ListenerSerializer(page, many=True, context=route_context(cluster, page, request.user)).data

        return self.paginated(rows, shapes)


class RouteChange(RequestBody):
    weight = serializers.IntegerField(
        required=False, min_value=0, max_value=100, help_text="0-100; 0 takes it out of the traffic"
    )
    redirect_https = serializers.BooleanField(
        required=False, help_text="send plain http requests to https (an https route only)"
    )


class RouteDetailView(BerthAPIView):
    """``GET`` one route; ``PATCH`` its weight or its redirect to https."""

    action_map = {"GET": "cs:DescribeRoutes", "PATCH": "cs:ModifyRoute"}

    def _route(self, request: Request, cluster_id: int, route_id: int) -> tuple[Cluster, Route]:
        cluster = _cluster(request, cluster_id)
        rows = Route.objects.visible_to(request.user).filter(cluster=cluster).select_related("application", "service")
        return cluster, get_object_or_404(rows, pk=route_id)

    @extend_schema(responses=RouteSerializer, operation_id="cluster_routes_retrieve")
    def get(self, request: Request, cluster_id: int, route_id: int) -> Response:
        cluster, route = self._route(request, cluster_id, route_id)
        return Response(RouteSerializer(route, context=route_context(cluster, [route], request.user)).data)

    @extend_schema(request=RouteChange, responses=RouteSerializer, operation_id="cluster_routes_update")
    def patch(self, request: Request, cluster_id: int, route_id: int) -> Response:
        cluster, route = self._route(request, cluster_id, route_id)
        operations.modify_route(request.user, route, dict(_strict(RouteChange, request.data)))
        return Response(RouteSerializer(route, context=route_context(cluster, [route], request.user)).data)


class CertificateSerializer(serializers.ModelSerializer):
    """A certificate as anyone sees it: never its key (nor its chain)."""

    resource_name = serializers.CharField(read_only=True)
    expiring = serializers.SerializerMethodField(help_text="it ends within 30 days (or has ended)")

    class Meta:
        model = Certificate
        fields = [
            "id",
            "name",
            "resource_name",
            "subject",
            "issuer",
            "names",
            "not_before",
            "not_after",
            "expiring",
            "fingerprint",
            "created_at",
        ]
        read_only_fields = fields

    def get_expiring(self, obj: Certificate) -> bool:
        return tls.expiring(obj)


class CertificateUpload(RequestBody):
    name = serializers.CharField(
        max_length=63,
        validators=[RegexValidator(certificates.NAME_RE.pattern, "1 to 63 lower-case letters, digits, '.', '_', '-'.")],
        help_text="lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
    )
    certificate = serializers.CharField(
        max_length=tls.MAX_PEM, trim_whitespace=False, help_text="PEM: the server's certificate, then its issuers"
    )
    key = serializers.CharField(
        max_length=tls.MAX_PEM, write_only=True, trim_whitespace=False, help_text="PEM, unencrypted; never returned"
    )


def _certificate(request: Request, certificate_id: int) -> Certificate:
    return get_object_or_404(Certificate.objects.visible_to(request.user), pk=certificate_id)


class CertificateListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/certificates`` (a page); ``POST {name, certificate, key}`` (the key is write-only)."""

    action_map = {"GET": "cs:DescribeCertificates", "POST": "cs:UploadCertificate"}

    @extend_schema(responses=CertificateSerializer(many=True), operation_id="certificates_list")
    def get(self, request: Request) -> Response:
        rows = Certificate.objects.visible_to(request.user)
        return self.paginated(rows, lambda page: CertificateSerializer(page, many=True).data)

    @extend_schema(
        request=CertificateUpload,
        responses={
            201: CertificateSerializer,
            400: refused("Also: the key does not match, the chain is out of order, it has expired, the name is taken."),
        },
        operation_id="certificates_create",
    )
    def post(self, request: Request) -> Response:
        made = certificates.upload(request.user, **_strict(CertificateUpload, request.data))
        return Response(CertificateSerializer(made).data, status=status.HTTP_201_CREATED)


class CertificateDetailView(BerthAPIView):
    """``GET`` one certificate (never its key); ``DELETE`` it."""

    action_map = {"GET": "cs:DescribeCertificates", "DELETE": "cs:DeleteCertificate"}

    @extend_schema(responses=CertificateSerializer, operation_id="certificates_retrieve")
    def get(self, request: Request, certificate_id: int) -> Response:
        return Response(CertificateSerializer(_certificate(request, certificate_id)).data)

    @extend_schema(responses={204: None}, operation_id="certificates_destroy")
    def delete(self, request: Request, certificate_id: int) -> Response:
        certificates.delete(request.user, _certificate(request, certificate_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
