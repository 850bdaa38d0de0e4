"""REST API of a cluster's shared networks (/api/v1/clusters/{id}/networks): what Compose's ``external: true``
names. The cluster network itself (mode, address pool, each node's membership) is part of the cluster
(``/api/v1/clusters/{id}``)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clusters import shared_networks
from clusters.api import _cluster
from clusters.models import Network
from console.api import BerthAPIView, ListEndpoint, RequestBody, refused
from console.api import strict_data as _strict


class NetworkSerializer(serializers.ModelSerializer):
    applications = serializers.SerializerMethodField(help_text="the cluster's applications that join it")

    class Meta:
        model = Network
        fields = ["id", "name", "subnet", "applications", "created_at"]
        read_only_fields = fields

    def get_applications(self, obj: Network) -> list[str]:
        return (self.context.get("users") or {}).get(obj.name, [])


class NetworkCreate(RequestBody):
    name = serializers.RegexField(
        shared_networks.SHARED_NAME.pattern,
        max_length=63,
        error_messages={"invalid": shared_networks.NAME_RULE},
        help_text='lower-case letters, digits, "." and "-" (no "_": application networks are <app>_<network>); not '
        "one of Docker's own (bridge, host, none, ingress, default)",
    )


class NetworkListView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/clusters/{id}/networks`` (a page: ``limit``, ``offset``); ``POST`` makes one."""

    action_map = {"GET": "cs:DescribeClusterNetworks", "POST": "cs:CreateClusterNetwork"}

    @extend_schema(responses=NetworkSerializer(many=True), operation_id="cluster_networks_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        rows = Network.objects.visible_to(request.user).filter(cluster=cluster)
        users = shared_networks.users(cluster)

        def shapes(page: list[Network]) -> Any:
            return NetworkSerializer(page, many=True, context={"users": users}).data

        return self.paginated(rows, shapes)

    @extend_schema(
        request=NetworkCreate,
        responses={
            201: NetworkSerializer,
            400: refused("Also: the name is taken or one of Docker's own, or the cluster is in bridge mode."),
        },
        operation_id="cluster_networks_create",
    )
    def post(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        made = shared_networks.create_network(request.user, cluster, _strict(NetworkCreate, request.data)["name"])
        return Response(NetworkSerializer(made).data, status=status.HTTP_201_CREATED)


class NetworkDetailView(BerthAPIView):
    """``GET`` one shared network; ``DELETE`` it (409 while applications join it)."""

    action_map = {"GET": "cs:DescribeClusterNetworks", "DELETE": "cs:DeleteClusterNetwork"}

    def _network(self, request: Request, cluster_id: int, name: str) -> Network:
        cluster = _cluster(request, cluster_id)
        return get_object_or_404(Network.objects.visible_to(request.user).filter(cluster=cluster), name=name)

    @extend_schema(responses=NetworkSerializer, operation_id="cluster_networks_retrieve")
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        found = self._network(request, cluster_id, name)
        return Response(NetworkSerializer(found, context={"users": shared_networks.users(found.cluster)}).data)

    @extend_schema(
        responses={204: None, 409: refused("Applications join it (named in the message); or the nodes failed.")},
        operation_id="cluster_networks_destroy",
    )
    def delete(self, request: Request, cluster_id: int, name: str) -> Response:
        shared_networks.delete_network(request.user, self._network(request, cluster_id, name))
        return Response(status=status.HTTP_204_NO_CONTENT)
