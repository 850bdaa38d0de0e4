"""The releases API: pause and resume a rolling release (``/api/v1/releases/{id}/pause``, ``/resume``); shift a
blue-green release's traffic (``/weight``), confirm it (``/confirm``) or roll it back (``/rollback``)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.models import Release
from apps.serializers import ReleaseSerializer
from console.api import BerthAPIView, RequestBody, refused
from console.api import strict_data as _strict
from releases import operations


class _Pausing(BerthAPIView):
    action_map = {"POST": "cs:ControlRelease"}
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


def _release(request: Request, release_id: int) -> Release:
    return get_object_or_404(
        Release.objects.visible_to(request.user).select_related("application", "application__cluster"), pk=release_id
    )


class WeightBody(RequestBody):
    weight = serializers.IntegerField(help_text="0-100: the new version's percent of the shared routes' traffic")


class ReleaseWeightView(BerthAPIView):
    """``POST /api/v1/releases/{id}/weight`` ``{"weight": 50}``: a blue-green release's traffic split."""

    action_map = {"POST": "cs:ControlRelease"}

    @extend_schema(
        request=WeightBody,
        responses={200: ReleaseSerializer, 400: refused("Only a blue-green release can do this."), 409: refused("")},
        operation_id="releases_weight",
    )
    def post(self, request: Request, release_id: int) -> Response:
        release = _release(request, release_id)
        weight = _strict(WeightBody, request.data)["weight"]  # its range is the operation's (on the record)
        return Response(ReleaseSerializer(operations.set_weight(request.user, release, weight)).data)


class _Deciding(BerthAPIView):
    action_map = {"POST": "cs:ControlRelease"}
    decision = Release.Decision.CONFIRM

    def post(self, request: Request, release_id: int) -> Response:
        release = operations.decide(request.user, _release(request, release_id), self.decision)
        return Response(ReleaseSerializer(release).data)


class ReleaseConfirmView(_Deciding):
    """``POST /api/v1/releases/{id}/confirm``: a blue-green release's new version takes all the traffic; the old one
    is removed."""

    @extend_schema(
        request=None,
        responses={200: ReleaseSerializer, 400: refused("Only a blue-green release can do this."), 409: refused("")},
        operation_id="releases_confirm",
    )
    def post(self, request: Request, release_id: int) -> Response:
        return super().post(request, release_id)


class ReleaseRollbackView(_Deciding):
    """``POST /api/v1/releases/{id}/rollback``: a blue-green or canary release's new version is removed and the old
    one takes all the traffic back."""

    decision = Release.Decision.ROLLBACK

    @extend_schema(
        request=None,
        responses={200: ReleaseSerializer, 400: refused("Only a blue-green or canary release can do this.")},
        operation_id="releases_rollback",
    )
    def post(self, request: Request, release_id: int) -> Response:
        return super().post(request, release_id)
