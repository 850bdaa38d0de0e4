"""The live-status websocket on the real ASGI server: authentication, per-object authorization, live events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from django.conf import settings
from django.test import Client

from accounts.models import User
from apps.models import Application, Release
from apps.operations import ImageAppSpec, delete_application, deploy_application
from clusters.models import Cluster
from tests import harness
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def collect(
    url: str, cookie: str | None, subscribe: dict[str, Any], until: Any, timeout: float = 30, bearer: str = ""
) -> list:
    headers = {"Cookie": cookie} if cookie else {}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    seen: list[dict[str, Any]] = []
    origin = "http://" + url.split("/")[2]  # the console's own origin, port included
    async with websockets.connect(url, origin=origin, additional_headers=headers) as ws:
        await ws.send(json.dumps(subscribe))
        async with asyncio.timeout(timeout):
            while not until(seen):
                seen.append(json.loads(await ws.recv()))
    return seen


def ws_url(stack: harness.Stack) -> str:
    return f"ws://127.0.0.1:{stack.port}/ws/live/"


def test_anonymous_socket_is_refused(stack: harness.Stack) -> None:
    async def attempt() -> int:
        try:
            async with websockets.connect(ws_url(stack), origin=stack.url):
                return 101
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(attempt()) == 403


def test_foreign_origin_is_refused(stack: harness.Stack, owner: User) -> None:
    async def attempt() -> int:
        try:
            async with websockets.connect(
                ws_url(stack), origin="http://evil.example", additional_headers={"Cookie": session_cookie(owner)}
            ):
                return 101
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(attempt()) == 403


def test_other_tenants_application_cannot_be_subscribed(stack: harness.Stack, owner: User, outsider: User) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="secret")
    for bad in (
        {"action": "subscribe", "type": "application", "id": app.pk},
        {"action": "subscribe", "type": "node", "id": 1},
        {"action": "subscribe", "type": "application", "id": "x"},
    ):
        seen = asyncio.run(collect(ws_url(stack), session_cookie(outsider), bad, lambda s: len(s) >= 1, 10))
        assert seen[0]["type"] == "error"
        assert "secret" not in json.dumps(seen)


def test_deploy_is_seen_live_container_by_container(stack: harness.Stack, owner: User) -> None:
    from clusters.operations import ensure_local_cluster

    cluster = ensure_local_cluster(owner.tenant)
    release = deploy_application(
        owner, cluster, ImageAppSpec(name="livewire", image="local/busybox:1", command="sleep 3600", scale=2)
    )

    def both_running(seen: list[dict[str, Any]]) -> bool:
        running = {m["name"] for m in seen if m.get("type") == "container" and m.get("state") == "running"}
        finished = any(m.get("type") == "release" and m["status"] == "successful" for m in seen)
        return running == {"livewire_livewire_1", "livewire_livewire_2"} and finished

    subscribe = {"action": "subscribe", "type": "application", "id": release.application_id}
    seen = asyncio.run(collect(ws_url(stack), session_cookie(owner), subscribe, both_running))
    assert seen[0]["type"] == "subscribed"
    progress = [m for m in seen if m["type"] == "release"]
    assert progress[-1]["percent"] == 100

    # Reconnecting with the last seen event id replays only what came after it.
    last_event = max(m["id"] for m in seen if m["type"] == "event")
    app = Application.objects.get(pk=release.application_id)
    deletion = delete_application(owner, app)
    wait_release(deletion.pk)
    replay = asyncio.run(
        collect(
            ws_url(stack),
            session_cookie(owner),
            {**subscribe, "since": last_event},
            lambda s: (
                any(m.get("type") == "release" for m in s)
                and any(m.get("type") == "event" and "finished" in m["message"] for m in s)
            ),
        )
    )
    replayed_events = [m for m in replay if m["type"] == "event"]
    assert replayed_events and all(m["id"] > last_event for m in replayed_events)
    assert Release.objects.get(pk=deletion.pk).status == "successful"


def test_sub_account_subscribes_only_where_it_is_granted(stack: harness.Stack, owner: User) -> None:
    from accounts import operations as ram
    from tests.conftest import PASSWORD

    granted = Cluster.objects.create(tenant=owner.tenant, name="granted")
    other = Cluster.objects.create(tenant=owner.tenant, name="other")
    app_ok = Application.objects.create(tenant=owner.tenant, cluster=granted, name="visible")
    app_no = Application.objects.create(tenant=owner.tenant, cluster=other, name="hidden")
    reader = ram.create_subaccount(owner, name="reader", password=PASSWORD)
    ram.grant(owner, "user:reader", granted, "read-only")
    cookie = session_cookie(User.objects.get(pk=reader.pk))
    ok = asyncio.run(
        collect(
            ws_url(stack),
            cookie,
            {"action": "subscribe", "type": "application", "id": app_ok.pk},
            lambda s: len(s) >= 1,
            10,
        )
    )
    assert ok[0]["type"] == "subscribed"
    refused = asyncio.run(
        collect(
            ws_url(stack),
            cookie,
            {"action": "subscribe", "type": "application", "id": app_no.pk},
            lambda s: len(s) >= 1,
            10,
        )
    )
    assert refused[0] == {
        "type": "error",
        "error": "not found",
        "subscription": {"type": "application", "id": app_no.pk},
    }


def test_scripts_sign_sockets_in_with_an_access_key(stack: harness.Stack, owner: User, outsider: User) -> None:
    from accounts import operations as ram

    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="scripted")
    subscribe = {"action": "subscribe", "type": "application", "id": app.pk}
    key, secret = ram.create_access_key(owner, owner)
    seen = asyncio.run(
        collect(ws_url(stack), None, subscribe, lambda s: len(s) >= 2, 10, bearer=f"{key.key_id}:{secret}")
    )
    assert seen[0]["type"] == "subscribed" and {"type": "application", "id": app.pk, "status": app.status} in seen

    # Another tenant's key sees nothing of it; a wrong secret does not open the socket.
    other_key, other_secret = ram.create_access_key(outsider, outsider)
    bearer = f"{other_key.key_id}:{other_secret}"
    refused = asyncio.run(collect(ws_url(stack), None, subscribe, lambda s: len(s) >= 1, 10, bearer=bearer))
    assert refused[0]["type"] == "error" and "scripted" not in json.dumps(refused)

    async def wrong_secret() -> int:
        headers = {"Authorization": f"Bearer {key.key_id}:{'x' * len(secret)}"}
        try:
            async with websockets.connect(ws_url(stack), origin=stack.url, additional_headers=headers) as ws:
                await ws.recv()
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else 0

    assert asyncio.run(wrong_secret()) in (403, 4401)


def test_a_cluster_page_hears_that_its_shared_networks_and_applications_changed(
    stack: harness.Stack, owner: User
) -> None:
    """The cluster page fetches itself again on ``cluster_changed``: a shared network made or deleted, an
    application's status (its list and who joins which network)."""
    import threading

    from django.db import connection

    from clusters import shared_networks

    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1", network_mode=Cluster.NetworkMode.OVERLAY)
    started: list[threading.Thread] = []

    def make() -> None:
        try:
            made = shared_networks.create_network(owner, cluster, "common")
            shared_networks.delete_network(owner, made)
        finally:
            connection.close()

    def heard(seen: list[dict[str, Any]]) -> bool:
        if any(m.get("type") == "subscribed" for m in seen) and not started:
            started.append(threading.Thread(target=make))
            started[0].start()
        return sum(1 for m in seen if m.get("type") == "cluster_changed" and m["id"] == cluster.pk) >= 2

    subscribe = {"action": "subscribe", "type": "cluster", "id": cluster.pk}
    seen = asyncio.run(collect(ws_url(stack), session_cookie(owner), subscribe, heard, 20))
    started[0].join()
    changed = [m for m in seen if m.get("type") == "cluster_changed"]
    assert changed == [{"type": "cluster_changed", "id": cluster.pk}] * 2
