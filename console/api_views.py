"""REST API of the operation log (/api/v1/operation-logs)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request

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
class OperationLogListView(generics.ListAPIView):
    """``GET /api/v1/operation-logs``: newest first; ``?action=``, ``?outcome=``, ``?request_id=`` filter."""

    serializer_class = OperationLogSerializer

    def get_queryset(self):  # noqa: ANN201 - a queryset
        request: Request = self.request
        queryset = OperationLog.objects.visible_to(request.user)
        for param in ("action", "outcome", "request_id", "source"):
            value = request.query_params.get(param)
            if value:
                queryset = queryset.filter(**{param: value})
        return queryset
