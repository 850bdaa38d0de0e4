"""The releases API: pause and resume a rolling release (``/api/v1/releases/{id}/pause`` and ``/resume``)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.models import Release
from apps.serializers import ReleaseSerializer
from console.api import BerthAPIView, refused
from releases import operations


class _Pausing(BerthAPIView):
    action_map = {"POST": "cs:PauseRelease"}
    paused = True

    def post(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(
            Release.objects.visible_to(request.user).select_related("application", "application__cluster"),
            pk=release_id,
        )
        return Response(ReleaseSerializer(operations.set_paused(request.user, release, self.paused)).data)


class ReleasePauseView(_Pausing):
    """``POST /api/v1/releases/{id}/pause``: a rolling release waits before its next batch until resumed."""

    @extend_schema(
        request=None,
        responses={200: ReleaseSerializer, 400: refused("Only a rolling release can be paused.")},
        operation_id="releases_pause",
    )
    def post(self, request: Request, release_id: int) -> Response:
        return super().post(request, release_id)


class ReleaseResumeView(_Pausing):
    """``POST /api/v1/releases/{id}/resume``: a paused rolling release goes on (a failed batch is tried again)."""

    paused = False

    @extend_schema(
        request=None,
        responses={200: ReleaseSerializer, 400: refused("Only a rolling release can be paused.")},
        operation_id="releases_resume",
    )
    def post(self, request: Request, release_id: int) -> Response:
        return super().post(request, release_id)
