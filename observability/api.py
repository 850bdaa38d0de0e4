"""The API of the observability layer: the engines' events of a cluster and of an application."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import _application, _applications
from clusters.api import _cluster
from console.api import BerthAPIView, ListEndpoint, RequestBody, strict_data
from console.errors import OperationConflict
from observability import events, terminal
from observability.models import EngineEvent


class EngineEventSerializer(serializers.ModelSerializer):
    application = serializers.CharField(source="application.name", read_only=True)
    node = serializers.CharField(source="node_name", read_only=True)

    class Meta:
        model = EngineEvent
        fields = ["id", "at", "action", "application", "service", "container", "node", "exit_code", "detail"]
        read_only_fields = fields


FILTER_PARAMETERS = [
    OpenApiParameter("action", str, enum=EngineEvent.Action.values, description="Only events of this kind."),
    OpenApiParameter("service", str, description="Services whose name holds this text."),
    OpenApiParameter("container", str, description="Containers (or pulled images) whose name holds this text."),
    OpenApiParameter("node", str, description="Events of this node (its name)."),
    OpenApiParameter("since", str, description="From this moment (ISO 8601, e.g. 2026-12-02T10:00:00Z)."),
    OpenApiParameter("until", str, description="Up to this moment (ISO 8601)."),
]


class _Events(ListEndpoint, BerthAPIView):
    def listed(self, request: Request, rows: Any) -> Response:
        params = {name: request.query_params.get(name, "") for name in events.FILTERS}
        try:
            rows = events.filtered(rows, params)
        except events.Refused as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return self.paginated(
            rows.select_related("application"), lambda page: EngineEventSerializer(page, many=True).data
        )


class ClusterEventListView(_Events):
    """``GET /api/v1/clusters/{id}/events``: the engines' events of the cluster's applications the caller may see,
    newest first (a page; filters ``action``, ``service``, ``container``, ``node``, ``since``, ``until``)."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(
        responses=EngineEventSerializer(many=True), parameters=FILTER_PARAMETERS, operation_id="cluster_events_list"
    )
    def get(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        visible = _applications(request, cluster_id)
        return self.listed(request, EngineEvent.objects.filter(cluster=cluster, application__in=visible))


class ApplicationEventListView(_Events):
    """``GET /api/v1/clusters/{id}/applications/{name}/events``: the engines' events of one application's
    containers, newest first (a page; the same filters)."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(
        responses=EngineEventSerializer(many=True),
        parameters=FILTER_PARAMETERS,
        operation_id="application_events_list",
    )
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        app = _application(request, cluster_id, name)
        return self.listed(request, EngineEvent.objects.filter(application=app))


class ExecRequest(RequestBody):
    command = serializers.ListField(
        child=serializers.CharField(max_length=4096, allow_blank=True, trim_whitespace=False),
        min_length=1,
        max_length=256,
        help_text='The program and its arguments, e.g. ["sh", "-c", "echo hello"] (no shell unless you name one).',
    )
    timeout = serializers.IntegerField(
        min_value=1, max_value=300, default=30, help_text="Seconds to wait for the command (1-300)."
    )


class ExecAnswer(serializers.Serializer):
    exit_code = serializers.IntegerField()
    output = serializers.CharField(help_text="Its standard output and error, cut at 1 MiB.")
    truncated = serializers.BooleanField()


class ContainerExecView(BerthAPIView):
    """``POST .../{name}/containers/{container}/exec {"command": [...], "timeout": 30}``: run one command in the
    running container (``cs:ExecContainer``) and answer its exit code and output. On record, naming the program
    only (its arguments may hold secrets)."""

    action_map = {"POST": "cs:ExecContainer"}

    @extend_schema(request=ExecRequest, responses=ExecAnswer, operation_id="containers_exec")
    def post(self, request: Request, cluster_id: int, name: str, container: str) -> Response:
        app = _application(request, cluster_id, name)
        data = strict_data(ExecRequest, request.data)
        try:
            app, row = terminal.container_of(request.user, app.pk, container)
        except terminal.NotRunning as exc:
            raise OperationConflict(str(exc)) from None
        return Response(terminal.run_once(request.user, app, row, list(data["command"]), float(data["timeout"])))
