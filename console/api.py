"""API plumbing shared by every resource: errors in one shape, the tenant-scoped base view."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: Django ValidationError → 400 with field errors; conflicts → 409; hosts → 502."""
    from apps.operations import OperationConflict
    from apps.scheduler import PlacementError
    from clusters.docker_host import HostError

    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body: dict[str, Any] = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        else:
            body = {"detail": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, OperationConflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, PlacementError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, HostError):
        return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
    return drf_exception_handler(exc, context)


class BerthAPIView(APIView):
    """The base of every Berth API view: each HTTP method maps to one RAM action; unmapped → 405.

    ``action_map`` feeds the action catalogue (docs/ram.md) as well.
    """

    action_map: dict[str, str] = {}

    @property
    def ram_action(self) -> str:
        """The RAM action of the current request, from ``action_map`` (what the catalogue lists for it)."""
        return self.action_map.get(self.request.method, "")

    @property
    def lookup_action(self) -> str:
        """The action the object a URL names is looked up with: the endpoint's ``GET`` action (see before you
        change), else the request's own; the operation then checks the request's action itself."""
        return self.action_map.get("GET") or self.ram_action

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        from rest_framework.exceptions import MethodNotAllowed

        if request.method not in self.action_map and request.method not in ("HEAD", "OPTIONS"):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    @property
    def allowed_methods(self) -> list[str]:
        return [m for m in super().allowed_methods if m in self.action_map or m == "OPTIONS"]


def strict_data(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate a request body with ``serializer_class``; a field it does not know is an error too."""
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    if isinstance(data, dict):
        unknown = set(data) - set(body.fields)
        if unknown:
            raise serializers.ValidationError({k: ["Unknown field."] for k in sorted(unknown)})
    return body.validated_data


def view_actions(callback: Any) -> dict[str, str]:
    """HTTP method → RAM action of an API view as routed (its ``action_map`` and any ``as_view`` override)."""
    view_class = getattr(callback, "view_class", None)
    if view_class is None or not hasattr(view_class, "action_map"):
        return {}
    return {**view_class.action_map, **getattr(callback, "view_initkwargs", {}).get("action_map", {})}
