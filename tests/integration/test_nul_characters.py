"""A NUL character in a request is refused at the door (console.middleware.NulCharacterMiddleware): PostgreSQL's
text cannot hold one, and a filter, a name in the URL or a value that reached a query answered 500 there. The test
command runs this layer on PostgreSQL as well as on SQLite."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps.models import ConfigSet
from clusters.models import Cluster
from console.models import OperationLog

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REFUSED = "The request carries a NUL character (\\u0000): no name, filter or value may hold one."


@pytest.fixture
def api(owner: User) -> APIClient:
    key, secret = AccessKey.objects.issue(owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    client.raise_request_exception = False  # a 500 is an answer the test reports, not an exception
    return client


@pytest.fixture
def signed_in(owner: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    return client


def test_a_nul_character_in_an_operation_log_filter_is_a_400(api: APIClient, signed_in: Client) -> None:
    for params in ({"q": "\x00"}, {"action": "cs:\x00"}, {"q": "ok", "resource": "a\x00b"}):
        answer = api.get("/api/v1/operation-logs", params)
        assert (answer.status_code, answer.json()) == (400, {"detail": REFUSED}), params
        page = signed_in.get("/operation-logs/", params)
        assert page.status_code == 400 and REFUSED in page.content.decode(), params
    assert api.get("/api/v1/operation-logs", {"q": "ok"}).status_code == 200  # the filter itself still works


def test_a_nul_character_in_a_name_of_the_url_is_a_404(owner: User, api: APIClient, signed_in: Client) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    ConfigSet.objects.create(tenant=owner.tenant, name="cfg")
    for path in (
        f"/api/v1/clusters/{cluster.pk}/applications/shop%00",
        f"/api/v1/clusters/{cluster.pk}/nodes/n%001",
        "/api/v1/config-sets/cfg%00",
        "/api/v1/templates/%00",
        "/api/v1/ram/users/dev%00",
    ):
        answer = api.get(path)
        assert (answer.status_code, answer.json()) == (404, {"detail": "Not found."}), path
    for path in ("/config-sets/cfg%00/", "/ram/users/dev%00/", "/ram/policies/%00/"):
        assert signed_in.get(path).status_code == 404, path
    assert not OperationLog.objects.filter(outcome="denied").exists()  # nothing was named, so nothing refused


def test_a_nul_character_in_a_body_or_a_header_is_a_400(api: APIClient, signed_in: Client) -> None:
    bodies = [
        ("/api/v1/config-sets", {"name": "cfg", "variables": {"A\x00": {"value": "x", "secret": False}}}),
        ("/api/v1/config-sets", {"name": "cfg", "variables": {"A": {"value": "x\x00", "secret": True}}}),
        ("/api/v1/templates", {"name": "t\x00", "compose": "services: {}\n"}),
    ]
    for url, body in bodies:
        answer = api.post(url, body, format="json")
        assert (answer.status_code, answer.json()) == (400, {"detail": REFUSED}), body
    # An escaped backslash before u0000 is text, not a NUL: the request goes on to the operation.
    text = json.dumps({"name": "cfg", "variables": {"A": {"value": "\\u0000", "secret": False}}})
    assert api.post("/api/v1/config-sets", text, content_type="application/json").status_code == 201
    assert ConfigSet.objects.get(name="cfg").variables["A"]["value"] == "\\u0000"

    for encoded in ({}, {"content_type": "application/x-www-form-urlencoded"}):
        fields = {"name": "other\x00", "variables": "A=1"}
        body = fields if not encoded else "name=other%00&variables=A%3D1"
        form = signed_in.post("/config-sets/", body, **encoded)
        assert form.status_code == 400 and not ConfigSet.objects.filter(name__startswith="other").exists()
    assert api.get("/api/v1/templates", HTTP_USER_AGENT="agent\x00").status_code == 400
