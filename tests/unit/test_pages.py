"""Console pages: first run, sign-in, navigation, forms with inline errors."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Tenant, User
from console.models import OperationLog
from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_first_visit_without_tenant_goes_to_setup() -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/setup/"


@pytest.mark.django_db
def test_setup_refuses_bad_input_inline() -> None:
    response = Client().post(
        "/setup/",
        {"tenant_name": "A", "alias": "Bad Alias", "admin": "root", "password": "short", "password2": "other"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="error-alias"' in body and 'data-testid="error-password2"' in body
    assert not Tenant.objects.exists()


def test_setup_page_is_gone_once_a_tenant_exists(owner: User) -> None:
    assert Client().get("/setup/")["Location"] == "/login/"


def test_sign_in_as_name_at_alias_and_failures_are_logged(owner: User, member: User) -> None:
    client = Client()
    assert client.post("/login/", {"login": "admin@acme", "password": "wrong"}).status_code == 200
    assert OperationLog.objects.filter(action="ram:ConsoleSignin", outcome="failure").count() == 1
    response = client.post("/login/", {"login": "admin@acme", "password": PASSWORD})
    assert response.status_code == 302
    assert Client().post("/login/", {"login": "admin", "password": PASSWORD}).status_code == 302
    assert Client().post("/login/", {"login": "dev@acme", "password": PASSWORD}).status_code == 302
    assert OperationLog.objects.filter(action="ram:ConsoleSignin", outcome="success").count() == 3


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/clusters/",
        "/clusters/nodes/",
        "/applications/",
        "/applications/new/",
        "/templates/",
        "/templates/new/",
        "/operation-logs/",
        "/ram/users/",
        "/ram/users/admin/",
        "/ram/groups/",
        "/ram/policies/",
        "/ram/policies/AliyunCSReadOnlyAccess/",
        "/ram/authorizations/",
        "/ram/simulator/",
        "/ram/settings/",
        "/ram/actions/",
        "/account/",
        "/config-sets/",
        "/templates/sample/web-db/deploy/",
        "/api/docs",
        "/api/v1/schema",
    ],
)
def test_console_pages_render_for_owner(owner: User, url: str) -> None:
    client = Client()
    client.force_login(owner)
    response = client.get(url)
    assert response.status_code == 200, url


def test_navigation_lists_every_section(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    body = client.get("/").content.decode()
    for label in ["Clusters", "Applications", "Templates", "Config sets", "Nodes", "Operation logs", "RAM"]:
        assert f">{label}</a>" in body


def test_create_form_shows_inline_errors(owner: User) -> None:
    from clusters.models import Cluster

    cluster = Cluster.objects.create(tenant=owner.tenant, name="local")
    client = Client()
    client.force_login(owner)
    response = client.post(
        "/applications/new/",
        {"cluster": cluster.pk, "name": "Bad Name", "image": "x y", "scale": 1, "environment": "NOPE"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    for field in ("name", "image", "environment"):
        assert f'data-testid="error-{field}"' in body


def test_create_form_offers_only_own_clusters(owner: User, outsider: User) -> None:
    from clusters.models import Cluster

    Cluster.objects.create(tenant=owner.tenant, name="mine")
    theirs = Cluster.objects.create(tenant=outsider.tenant, name="theirs")
    client = Client()
    client.force_login(owner)
    body = client.get("/applications/new/").content.decode()
    assert "mine" in body and "theirs" not in body
    response = client.post("/applications/new/", {"cluster": theirs.pk, "name": "x1", "image": "nginx", "scale": 1})
    assert 'data-testid="error-cluster"' in response.content.decode()


def test_access_key_secret_shown_once(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    first = client.post("/account/access-keys/").content.decode()  # shown in the answer to the POST itself
    assert 'data-testid="new-secret"' in first
    assert 'data-testid="new-secret"' not in client.get("/account/").content.decode()
    client.post("/account/access-keys/")
    client.post("/account/access-keys/")
    assert owner.access_keys.count() == 2


def test_templates_refuse_yaml_bombs_and_non_compose(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)
    )
    for text in [bomb, "- just\n- a list\n", "services: {}\n", "x: [unclosed\n", "a" * (1024 * 1024 + 1)]:
        response = client.post("/templates/new/", {"name": "t1", "compose": text})
        assert 'data-testid="error-compose"' in response.content.decode()
    ok = client.post("/templates/new/", {"name": "t1", "compose": "services:\n  web:\n    image: nginx\n"})
    assert ok.status_code == 302


def test_a_form_target_opened_as_a_page_explains_itself_and_pages_have_an_icon(owner: User) -> None:
    from django.contrib.staticfiles import finders

    client = Client()
    client.force_login(owner)
    response = client.get("/account/access-keys/")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert 'data-testid="method-not-allowed"' in response.content.decode()
    api = client.post("/api/v1/clusters/1/applications/x/start", {})  # the API keeps its own shape
    assert api.status_code in (404, 405) and "method-not-allowed" not in api.content.decode()
    page = client.get("/").content.decode()
    icon = page.split('<link rel="icon" href="', 1)[1].split('"', 1)[0]
    assert finders.find(icon.removeprefix("/static/")), icon
