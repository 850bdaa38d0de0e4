"""How lists are cut into pages: the API's (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``) and the console's.

A module of its own: DRF reads its setting while its generic views are imported, before ``console.api`` is.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from rest_framework import pagination

PAGE_SIZE = 50
"""Rows on a page of a console list (the API's ``PAGE_SIZE`` is in the settings; both are 50)."""


class Pagination(pagination.LimitOffsetPagination):
    """The API's: ``?limit=`` rows (``PAGE_SIZE`` by default, at most ``max_limit``) from ``?offset=``; the body is
    ``{"count", "next", "previous", "results"}``."""

    max_limit = 500


def page_of(request: HttpRequest, rows: Any, size: int | None = None) -> Page:
    """One page of a console list (``?page=N``; a page that does not exist shows the nearest), ``PAGE_SIZE`` rows
    unless ``size`` says. The view gives the template ``page.object_list`` and ``page`` (``_pager.html``); what it
    loads per row is loaded for this page only."""
    return Paginator(rows, size or PAGE_SIZE).get_page(request.GET.get("page"))
