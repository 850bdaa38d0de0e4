"""API plumbing shared by every resource: errors in one shape, the tenant-scoped base view, and the OpenAPI
schema's view of it (every routed method of every endpoint, the access-key scheme)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular import generators, openapi
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from console.errors import OperationConflict


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: Django ValidationError → 400 with field errors; conflicts → 409; hosts → 502."""
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


class EndpointEnumerator(generators.EndpointEnumerator):
    """drf-spectacular's enumerator, reading each route's methods from its ``action_map`` as routed: views routed
    with an ``as_view(action_map=…)`` of their own (the application and container actions) answer the methods
    of that map, which an instance made without it (what drf-spectacular makes) does not know."""

    def get_allowed_methods(self, callback: Any) -> list[str]:
        routed = view_actions(callback)
        if not routed:
            return super().get_allowed_methods(callback)
        view_class = callback.view_class
        return [method for method in routed if method != "OPTIONS" and hasattr(view_class, method.lower())]


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus the request body of each route of a view routed several times: the view's
    ``request_bodies`` maps the ``action_name`` its route gives it to the body's serializer (None: no body)."""

    def get_request_serializer(self) -> Any:
        bodies: dict[str, Any] = getattr(self.view, "request_bodies", {})
        name = getattr(self.view, "action_name", None)
        if name is not None and bodies:
            return bodies.get(name)
        return super().get_request_serializer()


class SchemaGenerator(generators.SchemaGenerator):
    """The OpenAPI schema of /api/v1 (``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``)."""

    endpoint_inspector_cls = EndpointEnumerator
