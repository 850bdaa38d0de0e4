"""Every refusal by the permission door is in the operation log: outcome ``denied``, the actor, the action, one
entry per refused request, in the actor's own tenant (issue 9, item 7)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts import permissions
from accounts.models import AccessKey, User
from apps.models import Release
from console.models import OperationLog
from tests.personas import World, build_world
from tests.security.live_sockets import communicator, drain, memory_layer, session_cookie

__all__ = ["memory_layer"]


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def api(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def denied(user: User) -> list[OperationLog]:
    return list(OperationLog.objects.filter(actor=user, outcome="denied").order_by("seq"))


def test_refused_stop_over_the_api_is_on_record(world: World) -> None:
    app = world.apps["a"]
    response = api(world.reader).post(f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}/stop")
    assert response.status_code == 403
    [entry] = denied(world.reader)
    assert (entry.action, entry.actor_name, entry.tenant_id) == ("cs:StopApplication", "reader@acme", app.tenant_id)
    assert (entry.target, entry.resource, entry.cluster_id) == (app.name, app.resource_name, app.cluster_id)
    assert entry.source == "api" and entry.request_id == response["X-Request-Id"]


def test_refused_delete_in_the_console_is_on_record(world: World) -> None:
    app = world.apps["a"]
    response = browser(world.reader).post(f"/applications/{app.pk}/delete/")
    assert response.status_code == 403
    [entry] = denied(world.reader)
    assert (entry.action, entry.target, entry.source) == ("cs:DeleteApplication", app.name, "ui")
    assert not Release.objects.filter(application=app, kind="delete").exists()


def test_an_object_a_sub_account_may_not_see_is_a_refusal_too(world: World) -> None:
    app = world.apps["b"]  # the reader has a role on cluster A only
    assert api(world.reader).get(f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}").status_code == 404
    assert browser(world.reader).post(f"/applications/{app.pk}/stop/").status_code == 404
    first, second = denied(world.reader)
    assert first.action == "cs:DescribeApplications"
    assert first.target == f"GET /api/v1/clusters/{app.cluster_id}/applications/{app.name}"
    assert (second.action, second.target) == ("cs:StopApplication", f"POST /applications/{app.pk}/stop/")
    assert first.parameters == {"status": 404}


def test_another_tenants_object_is_on_record_in_the_callers_log_only(world: World) -> None:
    app = world.apps["a"]
    acme_before = OperationLog.objects.filter(tenant=world.owner.tenant).count()
    path = f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}/stop"
    assert api(world.stranger).post(path).status_code == 404
    [entry] = denied(world.stranger)
    assert entry.tenant_id == world.stranger.tenant_id and entry.action == "cs:StopApplication"
    # Only what the caller asked for: nothing it could learn about acme's object.
    assert (entry.target, entry.resource, entry.cluster_id) == (f"POST {path}", "", None)
    assert OperationLog.objects.filter(tenant=world.owner.tenant).count() == acme_before


def test_a_refusal_inside_a_rolled_back_transaction_stays_on_record(world: World) -> None:
    # Operations authorize again inside their transaction; the refusal aborts it, the entry must survive.
    app = world.apps["a"]
    with permissions.refusals_recorded("POST /applications/stop"):
        with pytest.raises(PermissionDenied), transaction.atomic():
            Release.objects.create(application=app, kind="stop")
            permissions.authorize(world.reader, "cs:StopApplication", app)
    assert not Release.objects.filter(application=app, kind="stop").exists()
    [entry] = denied(world.reader)
    assert entry.action == "cs:StopApplication"


def test_refused_ram_change_is_one_entry(world: World) -> None:
    response = api(world.reader).patch("/api/v1/ram/users/denied", {"active": False}, format="json")
    assert response.status_code == 404  # the reader may not even see RAM users
    response = api(world.denied).post("/api/v1/ram/groups", {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert [e.action for e in denied(world.reader)] == ["ram:UpdateUser"]  # the action asked for (issue 11)
    assert [e.action for e in denied(world.denied)] == ["ram:CreateGroup"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("memory_layer")
def test_refused_websocket_subscription_is_on_record() -> None:
    world = build_world()
    app = world.apps["b"]
    cookie = session_cookie(world.reader)

    async def run() -> list[dict[str, Any]]:
        socket = communicator(cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        seen = await drain(socket)
        await socket.disconnect()
        return seen

    assert async_to_sync(run)()[0]["type"] == "error"
    [entry] = denied(world.reader)
    assert (entry.action, entry.target, entry.source) == (
        "cs:DescribeApplications",
        f"subscribe application {app.pk}",
        "ui",
    )
    assert entry.source_ip == "127.0.0.1"
