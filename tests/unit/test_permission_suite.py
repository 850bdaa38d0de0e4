"""The reusable permission suite: every resource, four personas (see tests/personas.py).

For each resource: what ``visible_to`` lists, what the API lists, which details answer 200 and
which 404, and which changes are 2xx, 403 or 404. A new resource adds rows to the tables below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AccessKey, Policy, RamGroup, User
from apps.models import Application, Container, Release, Template
from clusters.models import Cluster, Node
from console.models import OperationLog
from tests.personas import World, build_world

PERSONAS = ["owner", "reader", "denied", "stranger"]


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def api(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def names(queryset: Any, field: str = "name") -> set[str]:
    return set(queryset.values_list(field, flat=True))


# resource → (queryset of everything, field naming a row, expected names per persona)
VISIBLE: dict[str, tuple[Callable[[], Any], str, dict[str, set[str]]]] = {
    "clusters": (
        lambda: Cluster.objects,
        "name",
        {"owner": {"a", "b"}, "reader": {"a"}, "denied": {"b"}, "stranger": {"c"}},
    ),
    "nodes": (
        lambda: Node.objects,
        "name",
        {"owner": {"node-a", "node-b"}, "reader": {"node-a"}, "denied": {"node-b"}, "stranger": {"node-c"}},
    ),
    "applications": (
        lambda: Application.objects,
        "name",
        {"owner": {"app-a", "app-b"}, "reader": {"app-a"}, "denied": {"app-b"}, "stranger": {"app-c"}},
    ),
    "containers": (
        lambda: Container.objects,
        "name",
        {
            "owner": {"app-a_app-a_1", "app-b_app-b_1"},
            "reader": {"app-a_app-a_1"},
            "denied": {"app-b_app-b_1"},
            "stranger": {"app-c_app-c_1"},
        },
    ),
    "releases": (
        lambda: Release.objects,
        "application__name",
        {"owner": {"app-a", "app-b"}, "reader": {"app-a"}, "denied": {"app-b"}, "stranger": {"app-c"}},
    ),
    "operation logs": (
        lambda: OperationLog.objects.filter(action__in=["cs:CreateApplication", "cs:TenantWide"]),
        "target",
        {
            "owner": {"app-a", "app-b", "no-cluster"},
            "reader": {"app-a"},
            "denied": {"app-b", "no-cluster"},
            "stranger": {"app-c"},
        },
    ),
    "templates": (
        lambda: Template.objects,
        "name",
        {"owner": {"tpl-acme"}, "reader": set(), "denied": {"tpl-acme"}, "stranger": {"tpl-globex"}},
    ),
    "ram users": (
        lambda: User.objects,
        "name",
        {"owner": {"admin", "reader", "denied"}, "reader": set(), "denied": set(), "stranger": {"admin"}},
    ),
    "ram groups": (
        lambda: RamGroup.objects,
        "name",
        {"owner": {"ops"}, "reader": set(), "denied": set(), "stranger": set()},
    ),
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("resource", list(VISIBLE))
def test_visible_to(world: World, resource: str, persona: str) -> None:
    queryset, field, expected = VISIBLE[resource]
    user = world.persona(persona)
    seen = names(queryset().visible_to(user), field)
    assert seen == expected[persona]


def test_policies_visible_to(world: World) -> None:
    system = set(Policy.objects.filter(tenant__isnull=True).values_list("name", flat=True))
    assert {"AdministratorAccess", "AliyunCSFullAccess", "AliyunCSReadOnlyAccess"} <= system
    assert names(Policy.objects.visible_to(world.owner)) == system | {"all-but-a"}
    assert names(Policy.objects.visible_to(world.stranger)) == system
    assert names(Policy.objects.visible_to(world.reader)) == set()


# API lists: (url, how to read names from the JSON) → expected per persona (None: the list is 404)
def _api_lists(world: World) -> dict[str, tuple[str, Callable[[Any], set[str]], dict[str, set[str] | None]]]:
    def by_name(body: Any) -> set[str]:
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        return {row.get("name") or row.get("target") for row in rows}

    return {
        "clusters": (
            "/api/v1/clusters",
            by_name,
            {"owner": {"a", "b"}, "reader": {"a"}, "denied": {"b"}, "stranger": {"c"}},
        ),
        "applications of A": (
            f"/api/v1/clusters/{world.cluster_a.pk}/applications",
            by_name,
            {"owner": {"app-a"}, "reader": {"app-a"}, "denied": None, "stranger": None},
        ),
        "applications of B": (
            f"/api/v1/clusters/{world.cluster_b.pk}/applications",
            by_name,
            {"owner": {"app-b"}, "reader": None, "denied": {"app-b"}, "stranger": None},
        ),
        "operation logs": (
            "/api/v1/operation-logs?action=cs:CreateApplication",
            by_name,
            {"owner": {"app-a", "app-b"}, "reader": {"app-a"}, "denied": {"app-b"}, "stranger": {"app-c"}},
        ),
        "ram users": (
            "/api/v1/ram/users",
            by_name,
            {"owner": {"admin", "reader", "denied"}, "reader": set(), "denied": set(), "stranger": {"admin"}},
        ),
        "ram groups": (
            "/api/v1/ram/groups",
            by_name,
            {"owner": {"ops"}, "reader": set(), "denied": set(), "stranger": set()},
        ),
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_api_lists(world: World, persona: str) -> None:
    client = api(world.persona(persona))
    for label, (url, read, expected) in _api_lists(world).items():
        response = client.get(url)
        want = expected[persona]
        if want is None:
            assert response.status_code == 404, (label, response.status_code)
        else:
            assert response.status_code == 200, (label, response.content)
            assert read(response.json()) == want, label


# Details: (persona, which) → expected status
DETAIL_CASES = [
    ("owner", "a", 200),
    ("owner", "b", 200),
    ("owner", "c", 404),
    ("reader", "a", 200),
    ("reader", "b", 404),
    ("reader", "c", 404),
    ("denied", "a", 404),
    ("denied", "b", 200),
    ("denied", "c", 404),
    ("stranger", "a", 404),
    ("stranger", "b", 404),
    ("stranger", "c", 200),
]


@pytest.mark.parametrize(("persona", "which", "status"), DETAIL_CASES)
def test_details(world: World, persona: str, which: str, status: int) -> None:
    client = api(world.persona(persona))
    cluster = {"a": world.cluster_a, "b": world.cluster_b, "c": world.cluster_c}[which]
    app = world.apps[which]
    assert client.get(f"/api/v1/clusters/{cluster.pk}").status_code == status
    assert client.get(f"/api/v1/clusters/{cluster.pk}/applications/{app.name}").status_code == status
    assert client.get(f"/api/v1/releases/{world.releases[which].pk}").status_code == status
    browser = Client()
    browser.force_login(world.persona(persona))
    assert browser.get(f"/clusters/{cluster.pk}/").status_code == status
    assert browser.get(f"/applications/{app.pk}/").status_code == status


# Changes: stop an application. 202 allowed, 403 visible but not allowed, 404 not visible.
CHANGE_CASES = [
    ("owner", "a", 202),
    ("owner", "c", 404),
    ("reader", "a", 403),
    ("reader", "b", 404),
    ("denied", "a", 404),
    ("denied", "b", 202),
    ("stranger", "a", 404),
    ("stranger", "c", 202),
]


@pytest.mark.parametrize(("persona", "which", "status"), CHANGE_CASES)
def test_changes(world: World, persona: str, which: str, status: int, django_capture_on_commit_callbacks: Any) -> None:
    app = world.apps[which]
    client = api(world.persona(persona))
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}/stop")
    assert response.status_code == status, response.content
    queued = Release.objects.filter(application=app, kind="stop").count()
    assert queued == (1 if status == 202 else 0)


@pytest.mark.parametrize(("persona", "status"), [("owner", 202), ("reader", 403), ("denied", 404), ("stranger", 404)])
def test_deploy_into_cluster_a(
    world: World, persona: str, status: int, django_capture_on_commit_callbacks: Any
) -> None:
    client = api(world.persona(persona))
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            f"/api/v1/clusters/{world.cluster_a.pk}/applications",
            {"name": "newapp", "image": "local/busybox:1"},
            format="json",
        )
    assert response.status_code == status, response.content
    assert Application.objects.filter(name="newapp").exists() == (status == 202)


def test_console_forbids_visible_but_not_allowed_with_a_clear_page(world: World) -> None:
    browser = Client()
    browser.force_login(world.reader)
    response = browser.post(f"/applications/{world.apps['a'].pk}/stop/")
    assert response.status_code == 403
    assert "Not permitted" in response.content.decode()
    assert browser.post(f"/applications/{world.apps['b'].pk}/stop/").status_code == 404


@pytest.mark.parametrize(("persona", "status"), [("owner", 201), ("reader", 403), ("denied", 403), ("stranger", 404)])
def test_ram_changes(world: World, persona: str, status: int) -> None:
    client = api(world.persona(persona))
    if persona == "stranger":
        # Another tenant's group cannot even be named.
        assert client.post("/api/v1/ram/groups/ops/policies", {"policy": "AliyunCSFullAccess"}).status_code == 404
        return
    response = client.post(
        "/api/v1/ram/users", {"name": f"new-{persona}", "password": "Correct-Horse-9"}, format="json"
    )
    assert response.status_code == status
    assert User.objects.filter(name=f"new-{persona}").exists() == (status == 201)
    denied = OperationLog.objects.filter(action="ram:CreateUser", outcome="denied", actor_name__startswith=persona)
    assert denied.exists() == (status == 403)


def test_unmapped_methods_are_405(world: World) -> None:
    client = api(world.owner)
    assert client.put("/api/v1/clusters").status_code == 405
    assert client.patch(f"/api/v1/releases/{world.releases['a'].pk}").status_code == 405
    assert client.delete("/api/v1/ram/simulate").status_code == 405
