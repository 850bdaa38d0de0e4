"""API plumbing shared by every resource: errors in one shape, the tenant-scoped base view, request bodies that
refuse what they do not know, and the OpenAPI schema's view of it (every routed method of every endpoint, the
access-key scheme, closed request bodies, the error answers)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular import generators, openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from console.errors import HostFailure, OperationConflict, Unsatisfiable

FieldT = TypeVar("FieldT", bound=serializers.Field)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: Django ValidationError → 400 with field errors; conflicts → 409; what cannot be placed →
    400; hosts → 502 (``console.errors``: the layers above raise subclasses of these); and every 404 says the same
    ``"Not found."``, whoever raised it (``get_object_or_404``'s "No Application matches the given query." would
    name the model, and differ from the door's answer for what exists but may not be seen)."""
    if isinstance(exc, (Http404, exceptions.NotFound)):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body: dict[str, Any] = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        else:
            body = {"detail": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, OperationConflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Unsatisfiable):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, HostFailure):
        return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
    return drf_exception_handler(exc, context)


PLAN_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
"""How ``?dry_run=`` may be spelled (any case)."""


def asks_for_plan(request: Any, plans: Iterable[str]) -> bool:
    """Whether ``request`` asks for a plan only (``?dry_run=true``). A request that asks for one never changes
    anything: to a method of the endpoint that has no plan (not in ``plans``), or with a value that is neither
    true nor false, the answer is 400 and nothing is done. A read (``GET``) has nothing to plan and ignores it."""
    if "dry_run" not in request.query_params or request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    given = request.query_params.getlist("dry_run")
    if len(given) > 1:  # which one counts would be a guess, and a wrong guess changes things
        raise serializers.ValidationError({"dry_run": ["Give dry_run once."]})
    value = PLAN_WORDS.get(given[0].strip().lower())
    if value is None:
        raise serializers.ValidationError({"dry_run": ["Use true or false."]})
    if value and request.method not in plans:
        raise serializers.ValidationError({"dry_run": ["This request has no plan to show: nothing was done."]})
    return value


class BerthAPIView(APIView):
    """The base of every Berth API view: each HTTP method maps to one RAM action; unmapped → 405.

    ``action_map`` feeds the action catalogue (docs/ram.md) as well.
    """

    action_map: dict[str, str] = {}
    plans: tuple[str, ...] = ()
    """The methods of the endpoint that answer ``?dry_run=true`` with the plan of what they would do, changing
    nothing (:func:`asks_for_plan`); ``dry_run`` says whether the request asked for it."""
    dry_run = False

    @property
    def ram_action(self) -> str:
        """The RAM action of the current request, from ``action_map`` (what the catalogue lists for it)."""
        return self.action_map.get(self.request.method, "")

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        from rest_framework.exceptions import MethodNotAllowed

        if request.method not in self.action_map and request.method not in ("HEAD", "OPTIONS"):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)
        self.dry_run = asks_for_plan(request, self.plans)

    @property
    def allowed_methods(self) -> list[str]:
        return [m for m in super().allowed_methods if m in self.action_map or m == "OPTIONS"]


class ListEndpoint:
    """A list endpoint: its ``GET`` answers one page of rows (the settings' pagination, ``console.paging``), and the
    schema says so (drf-spectacular reads ``pagination_class`` for a response of ``many=True``).

    A view hands :meth:`paginated` the rows (a queryset, cut in SQL, or a sequence) and a function that turns one
    page of them into the API's shapes: what that function costs is per page, so a list whose page is loaded with
    ``select_related``/``prefetch_related`` makes the same number of queries however many rows there are.
    """

    request: Any

    @property
    def pagination_class(self) -> type[pagination.BasePagination]:
        """The settings' ``DEFAULT_PAGINATION_CLASS`` (``console.paging.Pagination``)."""
        return api_settings.DEFAULT_PAGINATION_CLASS

    def paginated(self, rows: Iterable[Any], shapes: Callable[[list[Any]], Any]) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, self.request, view=self)
        return paginator.get_paginated_response(shapes(list(page)))


class Chained(Sequence[Any]):
    """Rows of a queryset followed by a list (a tenant's templates, then the samples), counted and cut without
    loading what the page does not show."""

    def __init__(self, queryset: Any, tail: Sequence[Any]) -> None:
        self.queryset, self.tail = queryset, tail
        self._head: int | None = None

    def head(self) -> int:
        """How many rows the queryset has (counted once)."""
        if self._head is None:
            self._head = self.queryset.count()
        return self._head

    def count(self, *_value: Any) -> int:  # what the paginator asks
        return self.head() + len(self.tail)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        start, stop = index.start or 0, len(self) if index.stop is None else index.stop
        head = self.head()
        rows = list(self.queryset[start:stop]) if start < head else []
        return rows + list(self.tail[max(start - head, 0) : max(stop - head, 0)])


class RequestBody(serializers.Serializer):
    """A JSON object the API reads: a key it does not declare is an error (400), at every level a body nests.

    The schema says so (``additionalProperties: false``, :class:`AutoSchema`), and each field carries the rules its
    operation applies (the same validators and constants), so what the schema allows is what the API accepts.

    A refused body has one message per bad field: unknown keys, the fields' own errors, and the rules left to the
    operation (:func:`checked_by_the_operation`) on the fields that read well, which the operation would not see.
    """

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)
        errors: dict[str, Any] = {
            str(key): ["Unknown field."] for key in sorted(data, key=str) if key not in self.fields
        }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, Mapping):
                raise
            errors = {**exc.detail, **errors}
        if not errors:
            return value
        raise serializers.ValidationError({**errors, **self.left_to_the_operation(data, errors)})

    def left_to_the_operation(self, data: Mapping[str, Any], errors: Mapping[str, Any]) -> dict[str, list[str]]:
        """What the rules left to the operation say of ``data``'s fields that have no error yet (in ``errors``)."""
        found: dict[str, list[str]] = {}
        for name, field in self.fields.items():
            rules = operation_rules(field)
            if not rules or name in errors or field.read_only:
                continue
            try:
                value = field.run_validation(field.get_value(data))
            except (serializers.ValidationError, serializers.SkipField):
                continue
            messages: list[str] = []
            for rule in () if value is None else rules:
                try:
                    rule(value)
                except (DjangoValidationError, serializers.ValidationError) as exc:
                    messages.extend(serializers.as_serializer_error(exc).get(api_settings.NON_FIELD_ERRORS_KEY, []))
            if messages:
                found[name] = messages
        return found


def strict_data(serializer_class: type[RequestBody], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate a request body with ``serializer_class`` (``partial``: every field optional, as ``PATCH`` reads)."""
    if not issubclass(serializer_class, RequestBody):
        raise TypeError(f"{serializer_class.__name__} is not a RequestBody: it would ignore fields it does not know")
    body = serializer_class(data=data, partial=partial)
    body.is_valid(raise_exception=True)
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


TEXT = r"^[^\u0000]*$"
"""Text as a DRF ``CharField`` reads it: anything but NUL."""
FILLED_TEXT = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
"""Text a DRF ``CharField`` that trims and may not be blank reads: not white space alone."""
ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": "What is wrong: field name → messages, or ``detail``.",
    "additionalProperties": {},
}


def error(description: str) -> dict[str, Any]:
    """An error answer in the schema (the body ``exception_handler`` gives)."""
    return {"description": description, "content": {"application/json": {"schema": dict(ERROR_BODY)}}}


def checked_by_the_operation(field: FieldT, *validators: Any) -> FieldT:
    """``field``, with rules its operation checks itself because it records the refusal on the operation log
    (``apps.operations.deploy_application``): the schema shows ``validators``, the serializer leaves them to it."""
    field.operation_validators = validators  # type: ignore[attr-defined]
    return field


def operation_rules(field: Any) -> tuple[Any, ...]:
    """The rules :func:`checked_by_the_operation` gave ``field``: read from the field as its serializer declares it,
    since DRF hands each serializer instance fresh copies of its fields, made from their arguments only."""
    parent = getattr(field, "parent", None)
    declared = getattr(type(parent), "_declared_fields", {}).get(field.field_name) if parent is not None else None
    return getattr(declared if declared is not None else field, "operation_validators", ())


def refused(description: str) -> OpenApiResponse:
    """An error answer a view documents itself, ``description`` saying when: mostly the 400 of an operation that
    also refuses data its schema allows, for a rule JSON schema cannot state (a name already taken, a user that
    does not exist, a document that does not parse)."""
    return OpenApiResponse(response=dict(ERROR_BODY), description=description)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus:

    - the request body of each route of a view routed several times: the view's ``request_bodies`` maps the
      ``action_name`` its route gives it to the body's serializer (None: no body);
    - request bodies are closed (:class:`RequestBody`: ``additionalProperties: false``);
    - the error answers every operation of their kind gives: 400 for a body the operation refuses, 403 when the
      caller may not, 404 for an object a path names that the caller cannot see, 409 when long work (202) is
      refused because other work on the same object is still running. A view documents any other itself.
    """

    def get_request_serializer(self) -> Any:
        bodies: dict[str, Any] = getattr(self.view, "request_bodies", {})
        name = getattr(self.view, "action_name", None)
        if name is not None and bodies:
            return bodies.get(name)
        return super().get_request_serializer()

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if not vars(type(serializer)).get("__doc__"):  # not the docstring of a base class
            schema.pop("description", None)
        if direction == "request" and isinstance(serializer, RequestBody):
            schema["additionalProperties"] = False
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        """drf-spectacular's, plus what every text field of DRF refuses: NUL characters, and (when it trims and may
        not be blank) text of white space alone."""
        shown = operation_rules(field)
        if shown:
            field = copy.copy(field)
            field.validators = [*field.validators, *shown]
        super()._insert_field_validators(field, schema)
        plain = "oneOf" not in schema and schema.get("type") == "string" and not {"format", "enum"} & set(schema)
        if not isinstance(field, serializers.CharField) or field.read_only or not plain:
            return
        rule = FILLED_TEXT if field.trim_whitespace and not field.allow_blank else TEXT
        if "pattern" in schema:
            schema.setdefault("allOf", []).append({"pattern": rule})
        else:
            schema["pattern"] = rule

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        answers = {}
        if self._get_request_body():
            answers["400"] = error("The body is not valid: each field with what is wrong.")
        if self.get_auth():
            answers["403"] = error("The caller may not do this (RAM).")
        if "{" in self.path:
            answers["404"] = error("Not found, or not visible to the caller.")
        if "202" in responses:
            answers["409"] = error("Other work on the same object is still running.")
        for code, answer in answers.items():
            responses.setdefault(code, answer)
        return responses


class SchemaGenerator(generators.SchemaGenerator):
    """The OpenAPI schema of /api/v1 (``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``)."""

    endpoint_inspector_cls = EndpointEnumerator
