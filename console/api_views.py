"""REST API of the operation log (/api/v1/operation-logs)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request

from console.api import BerthAPIView
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


@extend_schema(operation_id="operation_logs_list")
class OperationLogListView(BerthAPIView, generics.ListAPIView):
    """``GET /api/v1/operation-logs``: newest first. Filters: ``since``, ``until`` (ISO 8601), ``actor``,
    ``action``, ``resource``, ``outcome``, ``q`` (free text), ``request_id``, ``source``;
    ``?export=csv|json`` downloads every matching entry."""

    action_map = {"GET": "cs:DescribeOperationLogs"}

    serializer_class = OperationLogSerializer

    def get_queryset(self):  # noqa: ANN201 - a queryset
        from console.views import filter_entries

        request: Request = self.request
        queryset, _values = filter_entries(OperationLog.objects.visible_to(request.user), request.query_params)
        for param in ("request_id", "source"):
            value = request.query_params.get(param)
            if value:
                queryset = queryset.filter(**{param: value})
        return queryset

    def list(self, request: Request, *args: object, **kwargs: object):  # noqa: ANN201 - a response
        fmt = request.query_params.get("export")
        if fmt in ("csv", "json"):
            from console.views import export

            return export(self.get_queryset(), fmt)
        return super().list(request, *args, **kwargs)
