"""The OpenAPI schema describes the whole API (issue 11): every routed method of every endpoint, and how to
authenticate with an access key, so Swagger UI can sign requests and generated clients know the scheme."""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.validation import validate_schema

from accounts.catalogue import _walk
from console.api import view_actions


@pytest.fixture(scope="module")
def schema() -> dict:
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    found = generator.get_schema(request=None, public=True)
    validate_schema(found)
    return found


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every endpoint under /api/v1 as routed."""
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or route.endswith("schema"):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        routes.extend((method, path) for method in view_actions(callback))
    return sorted(routes)


def test_every_api_endpoint_and_method_is_in_the_schema(schema: dict) -> None:
    routes = api_routes()
    assert len(routes) > 60
    missing = [(m, p) for m, p in routes if m.lower() not in schema["paths"].get(p, {})]
    assert missing == []


def test_the_schema_describes_access_key_authentication(schema: dict) -> None:
    scheme = schema["components"]["securitySchemes"]["accessKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "<AccessKeyId>:<AccessKeySecret>" in scheme["bearerFormat"] and scheme["description"]
    operation = schema["paths"]["/api/v1/clusters"]["get"]
    assert {"accessKey": []} in operation["security"]


def test_each_status_choice_set_has_its_own_name(schema: dict) -> None:
    components = schema["components"]["schemas"]
    assert "WorkStatusEnum" in components and "ApplicationStatusEnum" in components
    assert not [name for name in components if re.fullmatch(r"Status[0-9a-f]{3}Enum", name)]


def test_routes_of_one_view_have_their_own_request_bodies(schema: dict) -> None:
    """The application actions share one view; only rollback takes a body (``{"version": N}``)."""
    base = "/api/v1/clusters/{cluster_id}/applications/{name}"
    rollback = schema["paths"][f"{base}/rollback"]["post"]
    assert rollback["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RollbackRequest")
    assert "requestBody" not in schema["paths"][f"{base}/start"]["post"]
