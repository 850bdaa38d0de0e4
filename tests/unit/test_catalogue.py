"""The action catalogue cannot drift from the code: docs/ram.md is generated, every endpoint is mapped."""

from __future__ import annotations

from pathlib import Path

from django.urls import get_resolver
from rest_framework.views import APIView

from accounts.catalogue import ACTIONS, _walk, markdown, unknown_actions

ROOT = Path(__file__).resolve().parents[2]


def test_docs_ram_md_is_current() -> None:
    assert (ROOT / "docs" / "ram.md").read_text() == markdown(), "run: python manage.py ram_catalogue > docs/ram.md"


def test_every_action_in_use_is_catalogued() -> None:
    assert unknown_actions() == []


def test_every_api_endpoint_maps_each_method_to_one_action() -> None:
    for route, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None)
        if view_class is None or not issubclass(view_class, APIView) or route.endswith(("schema", "api/docs")):
            continue
        mapping = {**getattr(view_class, "action_map", {}), **callback.view_initkwargs.get("action_map", {})}
        handlers = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m) and m != "options"}
        assert mapping, f"{route} has no action_map"
        assert handlers - {"HEAD"} <= set(mapping), f"{route}: unmapped {handlers - set(mapping)}"
        assert set(mapping.values()) <= set(ACTIONS), route


def test_every_console_page_names_its_actions() -> None:

    for route, callback in _walk(get_resolver().url_patterns):
        if route.startswith(("api/", "setup/", "login/", "logout/", "healthz", "metrics", "static/")):
            continue
        if getattr(callback, "view_class", None) is not None:
            continue  # redirects and API views
        assert getattr(callback, "berth_actions", None), f"/{route} does not declare its actions"
