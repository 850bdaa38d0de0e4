"""The API of the observability layer: the engines' events of a cluster and of an application."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import _application, _applications
from apps.models import Container
from clusters.api import _cluster
from clusters.models import Node
from console.api import BerthAPIView, ListEndpoint, RequestBody, strict_data
from console.errors import OperationConflict
from console.times import iso_utc
from observability import events, logs, metrics, terminal
from observability.models import EngineEvent, LogLine


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
    exit_code = serializers.IntegerField(allow_null=True, help_text="null when it had not ended by the timeout.")
    output = serializers.CharField(help_text="Its standard output and error, cut at 1 MiB.")
    truncated = serializers.BooleanField()
    timed_out = serializers.BooleanField(help_text="It had not ended by the timeout (it goes on in the container).")


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


class LogLineSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node_name", read_only=True)

    class Meta:
        model = LogLine
        fields = ["id", "at", "service", "container", "node", "stream", "text"]
        read_only_fields = fields


LOG_PARAMETERS = [
    OpenApiParameter("q", str, description="Lines holding this text (any case)."),
    OpenApiParameter(
        "regex", str, description="Lines matching this regular expression (no back-references, no nested repeats)."
    ),
    OpenApiParameter("service", str, description="Lines of this service."),
    OpenApiParameter("container", str, description="Lines of this container (its name)."),
    OpenApiParameter("node", str, description="Lines written on this node."),
    OpenApiParameter("stream", str, description="stdout, stderr, or a name an aliyun.logs label gives."),
    OpenApiParameter("since", str, description="From this moment (ISO 8601)."),
    OpenApiParameter("until", str, description="Up to this moment (ISO 8601)."),
]
DOWNLOAD_LINES = 200_000
"""Lines a download holds at most (the newest are cut; narrow the search for more)."""


def searched(request: Request, app: Any) -> Any:
    params = {name: request.query_params.get(name, "") for name in logs.FILTERS}
    try:
        return logs.filtered(LogLine.objects.filter(application=app), params)
    except logs.Refused as exc:
        raise serializers.ValidationError({exc.field: [str(exc)]}) from None


class ApplicationLogsView(ListEndpoint, BerthAPIView):
    """``GET /api/v1/clusters/{id}/applications/{name}/logs``: the application's collected output, oldest first (a
    page), searched by text, regular expression, service, container, node, stream and time range."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses=LogLineSerializer(many=True), parameters=LOG_PARAMETERS, operation_id="application_logs")
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        app = _application(request, cluster_id, name)
        return self.paginated(searched(request, app), lambda page: LogLineSerializer(page, many=True).data)


class ApplicationLogsDownloadView(BerthAPIView):
    """``GET …/applications/{name}/logs/download``: the same search as text, one line each (time, container@node,
    stream, text), at most 200,000 lines."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses={200: None}, parameters=LOG_PARAMETERS, operation_id="application_logs_download")
    def get(self, request: Request, cluster_id: int, name: str) -> Any:
        app = _application(request, cluster_id, name)
        return download(app, searched(request, app))


def download(app: Any, lines: Any) -> StreamingHttpResponse:
    """The lines as a text file (streamed: a large download is not held in memory)."""
    rows = lines.values_list("at", "container", "node_name", "stream", "text")[:DOWNLOAD_LINES]

    def text() -> Any:
        for at, container, node, stream, line in rows.iterator(chunk_size=2000):
            yield f"{iso_utc(at)} {container}@{node} {stream} {line}\n"

    answer = StreamingHttpResponse(text(), content_type="text/plain; charset=utf-8")
    answer["Content-Disposition"] = f'attachment; filename="{app.name}-logs.txt"'
    return answer


class RetentionSerializer(RequestBody):
    days = serializers.IntegerField(min_value=1, max_value=365, help_text="Days a line is kept (1-365).")
    megabytes = serializers.IntegerField(
        min_value=1, max_value=1024 * 1024, help_text="Megabytes of lines the tenant keeps at most."
    )


class LogRetentionView(BerthAPIView):
    """``GET``/``PUT /api/v1/log-retention``: how long and how much of its containers' output the tenant keeps."""

    action_map = {"GET": "cs:DescribeApplications", "PUT": "cs:ModifyLogRetention"}

    @extend_schema(responses=RetentionSerializer, operation_id="log_retention")
    def get(self, request: Request) -> Response:
        days, megabytes = logs.retention_of(request.user.tenant_id)
        return Response({"days": days, "megabytes": megabytes})

    @extend_schema(request=RetentionSerializer, responses=RetentionSerializer, operation_id="log_retention_set")
    def put(self, request: Request) -> Response:
        data = strict_data(RetentionSerializer, request.data)
        logs.set_retention(request.user, data["days"], data["megabytes"])
        return Response({"days": data["days"], "megabytes": data["megabytes"]})


def _charts(request: Request, selector: str, by: str, kinds: tuple[str, ...], node_selector: str = "") -> Response:
    range_name = request.query_params.get("range", "1h")
    if range_name not in metrics.RANGES:
        raise serializers.ValidationError({"range": [f"One of {', '.join(metrics.RANGES)}."]})
    try:
        return Response(metrics.charts(selector, by, range_name, kinds, node_selector))
    except metrics.PrometheusUnavailable as exc:
        return Response({"detail": str(exc)}, status=503)


RANGE = OpenApiParameter("range", str, enum=list(metrics.RANGES), description="The chart's range (1h unless asked).")


class ApplicationMetricsView(BerthAPIView):
    """``GET …/applications/{name}/metrics?range=1h[&container=]``: CPU, memory, network and block I/O of the
    application's containers (or one), one series per container, from Prometheus."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(
        responses={200: None},
        parameters=[RANGE, OpenApiParameter("container", str, description="One container's only.")],
        operation_id="application_metrics",
    )
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        app = _application(request, cluster_id, name)
        selector = f'cluster_id="{app.cluster_id}",application_id="{app.pk}"'
        container = request.query_params.get("container", "")
        if container:
            if not Container.objects.filter(service__application=app, name=container).exists():
                raise serializers.ValidationError({"container": ["Not a container of this application."]})
            selector += f',container="{metrics.escape(container)}"'
        return _charts(request, selector, "container", ("cpu", "memory", "network", "block"))


class ClusterMetricsView(BerthAPIView):
    """``GET /api/v1/clusters/{id}/metrics?range=1h[&node=]``: CPU, memory, network and block I/O the cluster's
    containers use and the disk the engines' data uses, one series per node (or one node's), from Prometheus."""

    action_map = {"GET": "cs:DescribeClusterNodes"}

    @extend_schema(
        responses={200: None},
        parameters=[RANGE, OpenApiParameter("node", str, description="One node's only.")],
        operation_id="cluster_metrics",
    )
    def get(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        selector = f'cluster_id="{cluster.pk}"'
        node = request.query_params.get("node", "")
        if node:
            found = Node.objects.visible_to(request.user).filter(cluster=cluster, name=node).first()
            if found is None:
                raise serializers.ValidationError({"node": ["Not a node of this cluster."]})
            selector += f',node="{metrics.escape(found.name)}"'
        return _charts(request, selector, "node", ("cpu", "memory", "network", "block", "disk"), selector)
