"""REST API of the operation log (/api/v1/operation-logs)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request

from console.api import BerthAPIView, refused
from console.context import SOURCES
from console.log_filters import EXPORT_FORMATS, filter_entries, problems
from console.models import OperationLog


class OperationLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = OperationLog
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_name",
            "actor_kind",
            "source",
            "source_ip",
            "request_id",
            "action",
            "resource",
            "target",
            "cluster_id",
            "parameters",
            "outcome",
            "error",
            "duration_ms",
        ]
        read_only_fields = fields


FILTER_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Entries at or after this time (ISO 8601)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Entries at or before this time (ISO 8601)."),
    OpenApiParameter("actor", str, description="Part of the actor's name."),
    OpenApiParameter("action", str, description="Part of the action (e.g. DeleteApplication)."),
    OpenApiParameter("resource", str, description="Part of the resource name."),
    OpenApiParameter("outcome", str, enum=[value for value, _label in OperationLog.Outcome.choices]),
    OpenApiParameter("q", str, description="Free text: target, resource, actor, error, action, address."),
    OpenApiParameter("request_id", str, description="One request's entries."),
    OpenApiParameter("source", str, enum=list(SOURCES), description="Where the request came from."),
    OpenApiParameter("export", str, enum=list(EXPORT_FORMATS), description="Download every matching entry."),
]
BAD_FILTER = refused(
    "A filter's value cannot be applied (a time that is not one, an outcome, source or export format not in its list): "
    "one message per bad parameter, under its name."
)


@extend_schema_view(
    get=extend_schema(
        operation_id="operation_logs_list",
        parameters=FILTER_PARAMETERS,
        responses={200: OperationLogSerializer(many=True), 400: BAD_FILTER},
    )
)
class OperationLogListView(BerthAPIView, generics.ListAPIView):
    """``GET /api/v1/operation-logs``: newest first. Filters: ``since``, ``until`` (ISO 8601), ``actor``,
    ``action``, ``resource``, ``outcome``, ``q`` (free text), ``request_id``, ``source``;
    ``?export=csv|json`` downloads every matching entry. A filter whose value cannot be applied is a 400 naming it
    (``console.log_filters.problems``): never the whole log in place of what was asked."""

    action_map = {"GET": "cs:DescribeOperationLogs"}

    serializer_class = OperationLogSerializer

    def get_queryset(self):  # noqa: ANN201 - a queryset
        request: Request = self.request
        queryset, _values = filter_entries(OperationLog.objects.visible_to(request.user), request.query_params)
        for param in ("request_id", "source"):
            value = request.query_params.get(param)
            if value:
                queryset = queryset.filter(**{param: value})
        return queryset

    def list(self, request: Request, *args: object, **kwargs: object):  # noqa: ANN201 - a response
        bad = problems(request.query_params)
        if bad:
            raise serializers.ValidationError({name: [reason + "."] for name, reason in bad.items()})
        fmt = request.query_params.get("export")
        if fmt in ("csv", "json"):
            from console.views import export

            return export(self.get_queryset(), fmt)
        return super().list(request, *args, **kwargs)
