"""REST API of clusters and nodes (/api/v1/clusters)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from clusters.models import Cluster, Node
from console.api import BerthAPIView


class NodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Node
        fields = ["id", "name", "endpoint", "publish_ip", "zone", "labels", "state", "info", "last_seen_at"]
        read_only_fields = fields


class ClusterSerializer(serializers.ModelSerializer):
    nodes = NodeSerializer(many=True, read_only=True)
    applications = serializers.IntegerField(source="app_count", read_only=True, default=0)

    class Meta:
        model = Cluster
        fields = ["id", "name", "region", "created_at", "nodes", "applications"]
        read_only_fields = fields


def _clusters(request: Request):  # noqa: ANN202 - a queryset
    return (
        Cluster.objects.visible_to(request.user)
        .annotate(app_count=Count("applications", filter=Q(applications__deleted_at__isnull=True)))
        .prefetch_related(Prefetch("nodes", queryset=Node.objects.visible_to(request.user)))
    )


class ClusterListView(BerthAPIView):
    """``GET /api/v1/clusters``: the clusters the caller may see."""

    action_map = {"GET": "cs:DescribeClusters"}

    @extend_schema(responses=ClusterSerializer(many=True), operation_id="clusters_list")
    def get(self, request: Request) -> Response:
        return Response(ClusterSerializer(_clusters(request), many=True).data)


class ClusterDetailView(BerthAPIView):
    """``GET /api/v1/clusters/{id}``."""

    action_map = {"GET": "cs:DescribeClusters"}

    @extend_schema(responses=ClusterSerializer, operation_id="clusters_retrieve")
    def get(self, request: Request, cluster_id: int) -> Response:
        return Response(ClusterSerializer(get_object_or_404(_clusters(request), pk=cluster_id)).data)
