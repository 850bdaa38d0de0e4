"""How lists are cut into pages: the API's (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``) and the console's.

A module of its own: DRF reads its setting while its generic views are imported, before ``console.api`` is.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from rest_framework import pagination, serializers
from rest_framework.settings import api_settings

PAGE_SIZE = 50
"""Rows on a page of a console list (the API's ``PAGE_SIZE`` is in the settings; both are 50)."""


class Pagination(pagination.LimitOffsetPagination):
    """The API's: ``?limit=`` rows (``PAGE_SIZE`` by default; a larger limit than ``max_limit`` is cut to it) from
    ``?offset=``; the body is ``{"count", "next", "previous", "results"}``. A limit that is not a whole number of 1
    or more, or an offset that is not one of 0 or more, is a 400 naming the parameter, as every other bad query
    value is (DRF's own pagination would ignore it and answer the first page)."""

    max_limit = 500

    def get_limit(self, request: Any) -> int | None:
        if self.limit_query_param not in request.query_params:
            return self.default_limit
        return min(self.whole(request, self.limit_query_param, 1), self.max_limit)

    def get_offset(self, request: Any) -> int:
        if self.offset_query_param not in request.query_params:
            return 0
        return self.whole(request, self.offset_query_param, 0)

    @staticmethod
    def whole(request: Any, name: str, least: int) -> int:
        """``?name=`` as a whole number of ``least`` or more; anything else is a 400 naming it."""
        raw = request.query_params[name].strip()
        if not (raw.isascii() and raw.isdigit()) or int(raw) < least:
            raise serializers.ValidationError({name: [f"A whole number of {least} or more."]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """DRF's two parameters, with their bounds (``limit`` from 1, ``offset`` from 0) and what a larger limit
        does."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Rows on the page ({api_settings.PAGE_SIZE} unless asked; a larger limit than {self.max_limit} "
                    f"is cut to {self.max_limit} rows)."
                )
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
                parameter["description"] = "The row the page starts at (0, the first, unless asked)."
        return parameters


def page_of(request: HttpRequest, rows: Any, size: int | None = None) -> Page:
    """One page of a console list (``?page=N``; a page that does not exist shows the nearest), ``PAGE_SIZE`` rows
    unless ``size`` says. The view gives the template ``page.object_list`` and ``page`` (``_pager.html``); what it
    loads per row is loaded for this page only."""
    return Paginator(rows, size or PAGE_SIZE).get_page(request.GET.get("page"))
