"""REST API of the routing service: ``/api/v1/clusters/{id}/routing`` (on or off, ports, the routers per node) and
``/api/v1/clusters/{id}/routes`` (each domain and path with its service, weight, backends as the routers see them,
and traffic)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.models import Container
from clusters.api import _cluster
from clusters.models import Cluster
from console.api import BerthAPIView, ListEndpoint, RequestBody, refused
from console.api import strict_data as _strict
from routing import haproxy, operations, sync, traffic
from routing.models import Listener, Route, Router


def address_of(route: Route, port: int) -> str:
    """Where a user opens the route: ``http://web.local.localhost:9080/api`` (no port when it is 80)."""
    where = route.domain if port == 80 else f"{route.domain}:{port}"
    return f"http://{where}{'' if route.path == '/' else route.path}"


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
        return address_of(obj, self.context["port"])

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


def route_context(cluster: Cluster, page: list[Route] | list[Listener]) -> dict[str, Any]:
    """What the serializer needs for a page of routes, in a fixed number of queries (and one read of the routers)."""
    containers: dict[int, list[Container]] = {}
    rows = Container.objects.filter(service_id__in={r.service_id for r in page}).select_related("node")
    for row in rows.order_by("service_id", "index"):
        containers.setdefault(row.service_id, []).append(row)
    views = traffic.snapshot(cluster) if page and sync.enabled(cluster) else {}
    return {"containers": containers, "traffic": views, "port": sync.settings_of(cluster).port}


class ListenerSerializer(serializers.ModelSerializer):
    application = serializers.CharField(source="application.name", read_only=True)
    service = serializers.CharField(source="service.name", read_only=True)
    backends = serializers.SerializerMethodField()
    traffic = serializers.SerializerMethodField()

    class Meta:
        model = Listener
        fields = ["id", "name", "protocol", "front_port", "application", "service", "port", "backends", "traffic"]
        read_only_fields = fields

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
    root_domain = serializers.CharField(help_text="bare prefixes become <prefix>.<root domain>")
    routers = RouterSerializer(many=True)


class RoutingChange(RequestBody):
    enabled = serializers.BooleanField(required=False)
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    http_port = serializers.BooleanField(required=False)


def routing_state(cluster: Cluster) -> dict[str, Any]:
    from routing.routes import root_of

    options = sync.settings_of(cluster)
    return {
        "enabled": bool((cluster.system_services or {}).get("routing")),
        "port": options.port,
        "http_port": options.http_port,
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
            return RouteSerializer(page, many=True, context=route_context(cluster, page)).data

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
            return ListenerSerializer(page, many=True, context=route_context(cluster, page)).data

        return self.paginated(rows, shapes)


class WeightChange(RequestBody):
    weight = serializers.IntegerField(min_value=0, max_value=100, help_text="0-100; 0 takes it out of the traffic")


class RouteDetailView(BerthAPIView):
    """``GET`` one route; ``PATCH`` its weight."""

    action_map = {"GET": "cs:DescribeRoutes", "PATCH": "cs:SetRouteWeight"}

    def _route(self, request: Request, cluster_id: int, route_id: int) -> tuple[Cluster, Route]:
        cluster = _cluster(request, cluster_id)
        rows = Route.objects.visible_to(request.user).filter(cluster=cluster).select_related("application", "service")
        return cluster, get_object_or_404(rows, pk=route_id)

    @extend_schema(responses=RouteSerializer, operation_id="cluster_routes_retrieve")
    def get(self, request: Request, cluster_id: int, route_id: int) -> Response:
        cluster, route = self._route(request, cluster_id, route_id)
        return Response(RouteSerializer(route, context=route_context(cluster, [route])).data)

    @extend_schema(request=WeightChange, responses=RouteSerializer, operation_id="cluster_routes_update")
    def patch(self, request: Request, cluster_id: int, route_id: int) -> Response:
        cluster, route = self._route(request, cluster_id, route_id)
        operations.set_weight(request.user, route, _strict(WeightChange, request.data)["weight"])
        return Response(RouteSerializer(route, context=route_context(cluster, [route])).data)
