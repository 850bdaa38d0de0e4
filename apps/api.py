"""REST API of applications and releases (/api/v1)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps import operations
from apps.models import Application, Release
from apps.serializers import ApplicationSerializer, ImageApplicationCreateSerializer, ReleaseSerializer
from clusters.models import Cluster
from console.api import BerthAPIView


def _cluster(request: Request, cluster_id: int) -> Cluster:
    return get_object_or_404(Cluster.objects.visible_to(request.user), pk=cluster_id)


def _application(request: Request, cluster_id: int, name: str) -> Application:
    cluster = _cluster(request, cluster_id)
    queryset = Application.objects.visible_to(request.user).filter(cluster=cluster, deleted_at__isnull=True)
    return get_object_or_404(queryset.select_related("cluster", "tenant"), name=name)


class ApplicationListView(BerthAPIView):
    """``GET`` lists the cluster's applications; ``POST`` deploys one from an image (202 with the release)."""

    action_map = {"GET": "cs:DescribeApplications", "POST": "cs:CreateApplication"}

    @extend_schema(responses=ApplicationSerializer(many=True), operation_id="applications_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        apps = (
            Application.objects.visible_to(request.user)
            .filter(cluster=cluster, deleted_at__isnull=True)
            .prefetch_related("services__containers__node", "releases")
        )
        return Response(ApplicationSerializer(apps, many=True).data)

    @extend_schema(
        request=ImageApplicationCreateSerializer, responses={202: ReleaseSerializer}, operation_id="applications_create"
    )
    def post(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        body = ImageApplicationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = operations.deploy_application(request.user, cluster, operations.ImageAppSpec(**body.validated_data))
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class ApplicationDetailView(BerthAPIView):
    """``GET`` an application with services and containers; ``DELETE`` removes it (202 with the release)."""

    action_map = {"GET": "cs:DescribeApplications", "DELETE": "cs:DeleteApplication"}

    @extend_schema(responses=ApplicationSerializer, operation_id="applications_retrieve")
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        return Response(ApplicationSerializer(_application(request, cluster_id, name)).data)

    @extend_schema(responses={202: ReleaseSerializer}, operation_id="applications_destroy")
    def delete(self, request: Request, cluster_id: int, name: str) -> Response:
        release = operations.delete_application(request.user, _application(request, cluster_id, name))
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class ApplicationActionView(BerthAPIView):
    """``POST .../start|stop|restart``: 202 with the release to poll."""

    action_name = ""
    ACTIONS: dict[str, Any] = {
        "start": operations.start_application,
        "stop": operations.stop_application,
        "restart": operations.restart_application,
    }

    @extend_schema(request=None, responses={202: ReleaseSerializer})
    def post(self, request: Request, cluster_id: int, name: str) -> Response:
        release = self.ACTIONS[self.action_name](request.user, _application(request, cluster_id, name))
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class ReleaseDetailView(BerthAPIView):
    """``GET /api/v1/releases/{id}``: poll a release's status and progress."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses=ReleaseSerializer, operation_id="releases_retrieve")
    def get(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(
            Release.objects.visible_to(request.user).select_related("application"), pk=release_id
        )
        return Response(ReleaseSerializer(release).data)


class ReleaseCancelView(BerthAPIView):
    """``POST /api/v1/releases/{id}/cancel``: ask an active release to stop at its next checkpoint."""

    action_map = {"POST": "cs:CancelRelease"}

    @extend_schema(request=None, responses=ReleaseSerializer, operation_id="releases_cancel")
    def post(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(
            Release.objects.visible_to(request.user).select_related("application"), pk=release_id
        )
        if not operations.request_cancel(request.user, release):
            return Response({"detail": "The release has already finished."}, status=status.HTTP_409_CONFLICT)
        release.refresh_from_db()
        return Response(ReleaseSerializer(release).data)
