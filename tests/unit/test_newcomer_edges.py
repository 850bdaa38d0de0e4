"""A newcomer's first hour, the small edges (issue 11): the icon browsers ask for, a missing static file, every
/api/ answer JSON, one text for every API 404, pagination values that cannot be read, export links that download
what the page shows, line endings of what the editor saves, and the resource names (with Copy) of every page."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.contrib.staticfiles import finders
from django.core.asgi import get_asgi_application
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import ConfigSet, Template
from clusters.models import Cluster
from console import audit
from console.static import StaticFiles
from tests.personas import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- 1. /favicon.ico ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "head"])
def test_favicon_leads_to_the_console_icon_not_the_404_page(owner: User, method: str) -> None:
    for client in (Client(), browser(owner)):
        response = getattr(client, method)("/favicon.ico")
        assert response.status_code == 302, response.status_code
        assert response["Location"] == "/static/img/berth.svg"
        assert finders.find("img/berth.svg")  # the file it leads to is there


# --- 2. a static miss -----------------------------------------------------------------------------------------------


def asgi_get(path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from the ASGI application as served (``console.static.StaticFiles`` in front of Django)."""

    async def run() -> tuple[int, dict[str, str], bytes]:
        app = StaticFiles(get_asgi_application())
        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [], "scheme": "http"}
        scope |= {"server": ("testserver", 80), "client": ("127.0.0.1", 1), "asgi": {"version": "3.0"}}
        communicator = ApplicationCommunicator(app, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        body = b""
        while True:
            message = await communicator.receive_output(5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return start["status"], headers, body

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/static/nope.css", "/static/img/", "/static/vendor/../../var/secret_key"])
def test_a_missing_static_file_is_a_plain_short_404_not_the_console_page(path: str) -> None:
    status, headers, body = asgi_get(path)
    assert status == 404
    assert headers["content-type"].startswith("text/plain")
    assert body == b"Not found.\n"  # no layout: no "Sign in", no sidebar
    found, _, _ = asgi_get("/static/img/berth.svg")
    assert found == 200


# --- 3. every /api/ answer is JSON; the health endpoint reads only --------------------------------------------------


@pytest.mark.parametrize(("path", "accept"), [("/api/v1/schema", "text/html"), ("/api/v1/schema", "image/png")])
def test_a_refusal_under_api_that_was_not_json_is_json(owner: User, path: str, accept: str) -> None:
    response = browser(owner).get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Could not satisfy the request Accept header."}


def test_the_docs_and_schema_answer_json_to_a_post_of_any_body(owner: User) -> None:
    for path in ("/api/docs", "/api/v1/schema", "/api/schema"):
        for content_type in ("application/xml", "application/x-www-form-urlencoded", "application/json"):
            response = browser(owner).post(path, "a=b", content_type=content_type, HTTP_ACCEPT="text/html")
            assert 400 <= response.status_code < 500
            assert response["Content-Type"] == "application/json", (path, content_type, response.status_code)
            assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_health_endpoint_answers_get_and_head_only(db: None, method: str) -> None:
    response = getattr(Client(), method)("/healthz")
    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert Client().get("/healthz").json() == {"status": "ok"}
    assert Client().head("/healthz").status_code == 200


# --- 4. one text for every API 404 ----------------------------------------------------------------------------------


def test_every_api_404_says_not_found_whoever_raised_it(world: World) -> None:
    cluster = world.cluster_a
    api = api_for(world.owner)
    for method, path, body in [
        ("post", f"/api/v1/clusters/{cluster.pk}/applications/nosuch/services/web/scale", {"scale": 1}),
        ("get", f"/api/v1/clusters/{cluster.pk}/applications/nosuch", None),
        ("get", "/api/v1/clusters/999999", None),
        ("get", "/api/v1/templates/nosuch", None),
        ("get", "/api/v1/config-sets/nosuch", None),
        ("get", "/api/v1/releases/999999", None),
        ("get", "/api/v1/ram/users/nosuch", None),
        ("get", "/api/v1/ram/policies/nosuch", None),
    ]:
        response = getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)
        assert response.status_code == 404, (path, response.status_code)
        assert response.json() == {"detail": "Not found."}, (path, response.json())


# --- 5. pagination values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-5", "offset"),
        ("offset=abc", "offset"),
        ("offset=", "offset"),
    ],
)
def test_a_limit_or_offset_that_cannot_be_read_is_a_400_naming_it(owner: User, query: str, name: str) -> None:
    for path in ("/api/v1/clusters", "/api/v1/templates", "/api/v1/ram/users"):
        response = api_for(owner).get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.status_code)
        assert list(response.json()) == [name]


def test_a_limit_past_500_is_cut_to_500_and_good_values_page(owner: User) -> None:
    for n in range(3):
        Cluster.objects.create(tenant=owner.tenant, name=f"c{n}")
    api = api_for(owner)
    big = api.get("/api/v1/clusters?limit=9999")
    assert big.status_code == 200 and big.json()["count"] == 3 and len(big.json()["results"]) == 3
    page = api.get("/api/v1/clusters?limit=1&offset=1").json()
    assert len(page["results"]) == 1 and "limit=1" in page["next"] and "offset=2" in page["next"]
    assert api.get("/api/v1/clusters?offset=0").status_code == 200


def test_the_schema_states_the_bounds_of_limit_and_offset(owner: User) -> None:
    schema = api_for(owner).get("/api/v1/schema?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/clusters"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert parameters["offset"]["schema"]["minimum"] == 0
    assert "cut to 500" in parameters["limit"]["description"]


# --- 6. operation-log export links ----------------------------------------------------------------------------------


def test_the_export_links_carry_only_the_filters_the_page_applied(owner: User) -> None:
    for n in range(3):
        audit.record("cs:CreateApplication", actor=owner, target=f"app{n}", outcome="failure" if n else "success")
    client = browser(owner)
    response = client.get("/operation-logs/", {"since": "notadate", "outcome": "failure"})
    page = response.content.decode()
    assert "notadate" in page  # still in its box, said not applied
    assert 'href="?outcome=failure&amp;export=csv"' in page
    assert 'href="?outcome=failure&amp;export=json"' in page
    assert "since=notadate&amp;export" not in page
    shown = response.context["page"].paginator.count
    exported = client.get("/operation-logs/", {"outcome": "failure", "export": "csv"})
    assert len(list(csv.DictReader(io.StringIO(exported.content.decode())))) == shown == 2


# --- 7. line endings ------------------------------------------------------------------------------------------------

CRLF = "services:\r\n  web:\r\n    image: local/busybox:1\r\n"
LF = "services:\n  web:\n    image: local/busybox:1\n"


def test_a_template_saved_from_the_editor_keeps_unix_line_endings(owner: User) -> None:
    response = browser(owner).post("/templates/new/", {"name": "shop", "compose": CRLF, "description": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Template.objects.get(name="shop").compose == LF
    assert api_for(owner).get("/api/v1/templates/shop").json()["compose"] == LF


def test_a_template_or_config_value_sent_to_the_api_keeps_unix_line_endings(owner: User) -> None:
    api = api_for(owner)
    assert api.post("/api/v1/templates", {"name": "shop", "compose": CRLF}, format="json").status_code == 201
    assert api.get("/api/v1/templates/shop").json()["compose"] == LF
    assert api.put("/api/v1/templates/shop", {"name": "shop", "compose": CRLF + "\r"}, format="json").status_code == 200
    assert Template.objects.get(name="shop").compose == LF + "\n"
    body: dict[str, Any] = {"name": "certs", "variables": {"CERT": {"value": "a\r\nb\rc", "secret": False}}}
    assert api.post("/api/v1/config-sets", body, format="json").status_code == 201
    assert ConfigSet.objects.get(name="certs").variables["CERT"]["value"] == "a\nb\nc"


# --- 8. resource names and Copy buttons -----------------------------------------------------------------------------


def copy_button_for(page: str, name: str) -> bool:
    return f'data-testid="resource-name">{name}</code>' in page and f'data-copy="{name}"' in page


def test_config_set_container_and_policy_pages_show_their_resource_name_with_copy(world: World) -> None:
    owner = world.owner
    client = browser(owner)
    ConfigSet.objects.create(tenant=owner.tenant, name="certs")
    page = client.get("/config-sets/certs/").content.decode()
    assert copy_button_for(page, f"acs:cs:*:{owner.tenant_id}:configset/certs")
    app = world.apps["a"]
    page = client.get(f"/applications/{app.pk}/containers/{app.name}_{app.name}_1/").content.decode()
    assert copy_button_for(page, app.resource_name)
    for policy in ("all-but-a", "AdministratorAccess"):
        page = client.get(f"/ram/policies/{policy}/").content.decode()
        assert copy_button_for(page, f"acs:ram:*:{owner.tenant_id}:policy/{policy}"), policy


def test_the_new_access_key_secret_has_a_copy_button(world: World) -> None:
    response = browser(world.owner).post("/account/access-keys/")
    assert response.status_code == 200
    page = response.content.decode()
    key = world.owner.access_keys.get()
    assert f'data-copy="{key.key_id}:' in page and 'data-testid="copy-secret"' in page and "js/copy.js" in page


def test_a_policy_shared_by_tenants_is_named_from_inside_each(world: World) -> None:
    page = browser(world.stranger).get("/ram/policies/AdministratorAccess/").content.decode()
    assert copy_button_for(page, f"acs:ram:*:{world.stranger.tenant_id}:policy/AdministratorAccess")
