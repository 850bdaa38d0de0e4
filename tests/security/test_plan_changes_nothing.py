"""A request that asks for a plan (``?dry_run=true``) never changes anything (issue 11): no application, service,
release, container, version or accepted operation-log entry, and no work sent to a worker. An image create with
the flag deployed for real; an endpoint that has no plan, or a flag spelled neither true nor false, is a 400 now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps import operations
from apps.models import Application, AppVersion, Container, Release, Service
from console.models import OperationLog
from tests.personas import World, build_world

COMPOSE = "services:\n  web:\n    image: local/busybox:1\n    command: sleep 3600\n"
COMPOSE_2 = "services:\n  web:\n    image: local/busybox:1\n    command: sleep 3600\n    scale: 2\n"


@pytest.fixture
def world(db: None) -> World:
    made = build_world()
    release = operations.deploy_compose(made.owner, made.cluster_a, name="stack", compose=COMPOSE)
    Release.objects.filter(pk=release.pk).update(status="successful")
    app = Application.objects.get(pk=release.application_id)
    operations.update_application(made.owner, app, compose=COMPOSE_2)
    Release.objects.filter(application=app).update(status="successful")
    return made


def state() -> dict[str, Any]:
    """What a change would touch."""
    return {
        "applications": sorted(Application.objects.values_list("name", "deleted_at")),
        "services": sorted(Service.objects.values_list("application__name", "name", "scale", "image")),
        "releases": Release.objects.count(),
        "containers": Container.objects.count(),
        "versions": AppVersion.objects.count(),
        "log": OperationLog.objects.exclude(outcome="denied").count(),
    }


def cluster_url(world: World) -> str:
    return f"/api/v1/clusters/{world.cluster_a.pk}/applications"


PLANNED: dict[str, Callable[[World], tuple[str, str, dict[str, Any]]]] = {
    "image create": lambda w: (
        "post",
        cluster_url(w),
        {"name": "drytest", "image": "local/busybox:1", "command": "sleep 3600", "scale": 1},
    ),
    "compose create": lambda w: ("post", cluster_url(w), {"name": "drycompose", "compose": COMPOSE}),
    "update": lambda w: ("patch", f"{cluster_url(w)}/stack", {"compose": COMPOSE.replace("3600", "60")}),
}
UNPLANNED: dict[str, Callable[[World], tuple[str, str, dict[str, Any]]]] = {
    "scale": lambda w: ("post", f"{cluster_url(w)}/stack/services/web/scale", {"scale": 5}),
    "rollback": lambda w: ("post", f"{cluster_url(w)}/stack/rollback", {}),
    **{
        action: (lambda a: lambda w: ("post", f"{cluster_url(w)}/stack/{a}", {}))(action)
        for action in ("start", "stop", "restart", "kill", "redeploy")
    },
    "delete": lambda w: ("delete", f"{cluster_url(w)}/stack", {}),
    "container restart": lambda w: ("post", f"{cluster_url(w)}/stack/containers/stack_web_1/restart", {}),
    "cluster update": lambda w: ("patch", f"/api/v1/clusters/{w.cluster_a.pk}", {"description": "changed"}),
}


def send(world: World, request: tuple[str, str, dict[str, Any]], query: str) -> Any:
    method, url, body = request
    client = APIClient()
    client.force_authenticate(world.owner)
    return getattr(client, method)(url + query, body, format="json")


@pytest.mark.parametrize("case", sorted(PLANNED))
def test_a_dry_run_answers_the_plan_and_changes_nothing(
    world: World, case: str, django_capture_on_commit_callbacks: Any
) -> None:
    before = state()
    with django_capture_on_commit_callbacks() as sent:
        response = send(world, PLANNED[case](world), "?dry_run=true")
    assert response.status_code == 200, response.content
    assert response.json()["application"] in ("drytest", "drycompose", "stack")
    assert state() == before and not sent
    assert not OperationLog.objects.filter(outcome="accepted", target__in=["drytest", "drycompose"]).exists()


@pytest.mark.parametrize("case", sorted(UNPLANNED))
def test_a_dry_run_of_a_change_that_has_no_plan_is_refused_and_changes_nothing(
    world: World, case: str, django_capture_on_commit_callbacks: Any
) -> None:
    before = state()
    with django_capture_on_commit_callbacks() as sent:
        response = send(world, UNPLANNED[case](world), "?dry_run=true")
    assert response.status_code == 400, (case, response.status_code, response.content)
    assert response.json() == {"dry_run": ["This request has no plan to show: nothing was done."]}
    assert state() == before and not sent


@pytest.mark.parametrize("spelling", ["True", "TRUE", "yes", "1"])
def test_a_dry_run_spelled_another_way_is_still_a_plan(world: World, spelling: str) -> None:
    before = state()
    response = send(world, PLANNED["image create"](world), f"?dry_run={spelling}")
    assert response.status_code == 200 and state() == before


@pytest.mark.parametrize("spelling", ["maybe", "", "on", "tru"])
def test_a_dry_run_flag_that_is_neither_true_nor_false_is_refused(world: World, spelling: str) -> None:
    before = state()
    response = send(world, PLANNED["image create"](world), f"?dry_run={spelling}")
    assert response.status_code == 400 and response.json() == {"dry_run": ["Use true or false."]}
    assert state() == before


@pytest.mark.parametrize("query", ["?dry_run=true&dry_run=false", "?dry_run=false&dry_run=true"])
def test_a_dry_run_flag_given_twice_is_refused_and_changes_nothing(world: World, query: str) -> None:
    before = state()
    response = send(world, PLANNED["image create"](world), query)
    assert response.status_code == 400 and response.json() == {"dry_run": ["Give dry_run once."]}
    assert state() == before
