"""A burst of live messages does not cost database queries per message and socket (review of issue 9, F9): the
socket's user is read again at most once per ``RECHECK_SECONDS``, and a user who lost access still stops receiving
within about that time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.models import Session

from accounts import operations as ram
from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from console import consumers
from tests.conftest import PASSWORD
from tests.security.live_sockets import communicator, drain, memory_layer, publish, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("memory_layer")]
__all__ = ["memory_layer"]


@pytest.fixture
def watched(owner: User) -> tuple[User, Application]:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="prod")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop", status="running")
    ram.create_subaccount(owner, name="watcher", password=PASSWORD)
    ram.grant(owner, "user:watcher", cluster, "read-only")
    return User.objects.get(name="watcher", tenant=owner.tenant), app


@pytest.fixture
def identity_reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When the consumer read the socket's user (the real function, counted)."""
    reads: list[float] = []
    real = consumers.socket_user

    def counted(identity: Any) -> Any:
        reads.append(time.monotonic())
        return real(identity)

    monkeypatch.setattr(consumers, "socket_user", counted)
    return reads


def test_a_burst_of_messages_costs_at_most_one_identity_check(
    watched: tuple[User, Application], identity_reads: list[float]
) -> None:
    user, app = watched

    async def run() -> list[dict[str, Any]]:
        socket = communicator(session_cookie(user))
        assert (await socket.connect())[0]
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        assert (await drain(socket))[0]["type"] == "subscribed"
        identity_reads.clear()  # the subscription's own read
        for number in range(30):
            await publish("application", app.pk, {"type": "container", "name": f"shop_web_{number}"})
        seen = await drain(socket)
        await socket.disconnect()
        return seen

    started = time.monotonic()
    seen = async_to_sync(run)()
    assert [m["name"] for m in seen] == [f"shop_web_{n}" for n in range(30)]
    within_a_second = [t for t in identity_reads if t - started < consumers.RECHECK_SECONDS]
    assert len(within_a_second) <= 1, identity_reads


def test_a_user_signed_out_during_a_burst_stops_receiving_within_the_recheck_time(
    watched: tuple[User, Application], identity_reads: list[float]
) -> None:
    user, app = watched

    async def run() -> tuple[list[dict[str, Any]], float]:
        socket = communicator(session_cookie(user))
        assert (await socket.connect())[0]
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        assert (await drain(socket))[0]["type"] == "subscribed"
        await publish("application", app.pk, {"type": "container", "name": "before"})
        assert await drain(socket, 0.1) == [{"type": "container", "name": "before"}]
        await Session.objects.all().adelete()
        signed_out = time.monotonic()
        seen: list[dict[str, Any]] = []
        for number in range(40):  # a message every 50 ms for 2 s
            await publish("application", app.pk, {"type": "container", "name": f"after_{number}"})
            seen.extend(await drain(socket, 0.05))
            if seen and seen[-1]["type"] == "websocket.close":
                break
            await asyncio.sleep(0)
        return seen, time.monotonic() - signed_out

    seen, took = async_to_sync(run)()
    assert seen and seen[-1] == {"type": "websocket.close", "code": consumers.CLOSE_SIGNED_OUT}
    assert took < consumers.RECHECK_SECONDS + 0.5, took
