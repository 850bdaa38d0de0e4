"""Creating an application from an image is checked before anything is made, through the page, the API and its
plan alike (issue 11): an image that a node getting a container lacks and no registry gives is refused with 400,
and no application, release or accepted entry is left behind. (The API answered 202, then a failed release.)

The engine's answers are stood in for (no engine in this layer): the node lacks the image, and the registry lookup
says why it cannot be had, as ``tests/unit/test_console_controls.py`` does for the page."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from apps import preflight
from apps.models import Application, Release
from apps.operations import ImageAppSpec, deploy_application
from clusters import docker_host as host
from console.models import OperationLog
from tests.personas import World, build_world

REFUSAL = "local/nope:1 is not on node-a and cannot be pulled: manifest unknown"


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def no_such_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "_lacks", lambda node, image: image == "local/nope:1")
    monkeypatch.setattr(host.Endpoint, "of", classmethod(lambda cls, node, **kw: object()))
    monkeypatch.setattr(host, "registry_lookup", lambda endpoint, image: "manifest unknown")


def api_for(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("query", ["", "?dry_run=true"])
def test_the_api_refuses_an_image_no_node_has_and_no_registry_gives(
    world: World, no_such_image: None, query: str
) -> None:
    releases = Release.objects.count()
    body = {"name": "ghost", "image": "local/nope:1", "scale": 1}
    response = api_for(world.owner).post(f"/api/v1/clusters/{world.cluster_a.pk}/applications{query}", body)
    assert response.status_code == 400, response.content
    assert response.json() == {"image": [REFUSAL]}
    assert not Application.objects.filter(name="ghost").exists() and Release.objects.count() == releases
    assert not OperationLog.objects.filter(action="cs:CreateApplication", target="ghost", outcome="accepted").exists()
    refused = OperationLog.objects.filter(action="cs:CreateApplication", target="ghost", outcome="failure")
    assert refused.count() == (0 if query else 1)  # a plan is not an operation: only the real request is logged


def test_the_api_plans_and_creates_an_image_every_node_has(world: World, no_such_image: None) -> None:
    url = f"/api/v1/clusters/{world.cluster_a.pk}/applications"
    body = {"name": "solo", "image": "local/busybox:1", "scale": 2}
    plan = api_for(world.owner).post(f"{url}?dry_run=true", body)
    assert plan.status_code == 200, plan.content
    assert [row["container"] for row in plan.json()["create"]] == ["solo_solo_1", "solo_solo_2"]
    assert not Application.objects.filter(name="solo").exists()
    created = api_for(world.owner).post(url, body)
    assert created.status_code == 202 and Application.objects.filter(name="solo").exists()


def test_the_operation_refuses_a_missing_image_for_every_caller(world: World, no_such_image: None) -> None:
    with pytest.raises(ValidationError) as refused:
        deploy_application(world.owner, world.cluster_a, ImageAppSpec(name="ghost", image="local/nope:1"))
    assert refused.value.message_dict == {"image": [REFUSAL]}
    assert not Application.objects.filter(name="ghost").exists()
