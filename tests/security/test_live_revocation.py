"""An open socket loses what its user lost: a disabled, deleted or signed-out user's socket is closed before the
next live message reaches it, and a revoked grant ends the subscription (issue 9, item 10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.sessions.models import Session

from accounts import operations as ram
from accounts.models import AccessKey, User
from apps.models import Application
from clusters.models import Cluster
from console import consumers
from tests.conftest import PASSWORD
from tests.security.live_sockets import communicator, drain, memory_layer, publish, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("memory_layer")]
__all__ = ["memory_layer"]

SECRET = {"type": "container", "name": "payroll_db_1", "state": "running", "env": "the live payload"}


@pytest.fixture
def watched(owner: User) -> tuple[User, Application]:
    """A sub-account with a read-only role on the cluster of an application."""
    cluster = Cluster.objects.create(tenant=owner.tenant, name="prod")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="payroll", status="running")
    ram.create_subaccount(owner, name="auditor", password=PASSWORD)
    ram.grant(owner, "user:auditor", cluster, "read-only")
    return User.objects.get(name="auditor", tenant=owner.tenant), app


def watch_then(cookie: str, app: Application, change: Callable[[], Any]) -> list[dict[str, Any]]:
    """Subscribe (and see the snapshot), make ``change``, publish one live message: what the socket gets then."""

    async def run() -> list[dict[str, Any]]:
        socket = communicator(cookie)
        connected, _code = await socket.connect()
        assert connected
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        before = await drain(socket)
        assert before[0]["type"] == "subscribed"
        await sync_to_async(change)()
        await publish("application", app.pk, SECRET)
        after = await drain(socket)
        await socket.disconnect()
        return after

    return async_to_sync(run)()


@pytest.mark.parametrize("how", ["disabled", "deleted", "password-changed", "signed-out"])
def test_socket_of_a_user_who_lost_access_is_closed_before_the_next_message(
    owner: User, watched: tuple[User, Application], how: str
) -> None:
    user, app = watched
    cookie = session_cookie(user)
    changes: dict[str, Callable[[], Any]] = {
        "disabled": lambda: ram.update_subaccount(owner, user, active=False),
        "deleted": lambda: ram.delete_subaccount(owner, user),
        "password-changed": lambda: ram.change_password(owner, user, "Another-Horse-7"),
        "signed-out": lambda: Session.objects.all().delete(),
    }
    after = watch_then(cookie, app, changes[how])
    assert SECRET not in after
    assert after == [{"type": "websocket.close", "code": consumers.CLOSE_SIGNED_OUT}]


def test_socket_of_a_disabled_access_key_is_closed(owner: User, watched: tuple[User, Application]) -> None:
    user, app = watched
    key, secret = AccessKey.objects.issue(user)

    async def run() -> list[dict[str, Any]]:
        socket = communicator()
        socket.scope["headers"].append((b"authorization", f"Bearer {key.key_id}:{secret}".encode()))
        connected, _code = await socket.connect()
        assert connected
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        assert (await drain(socket))[0]["type"] == "subscribed"
        await AccessKey.objects.filter(pk=key.pk).aupdate(is_active=False)
        await publish("application", app.pk, SECRET)
        return await drain(socket)

    after = async_to_sync(run)()
    assert after == [{"type": "websocket.close", "code": consumers.CLOSE_SIGNED_OUT}]


def test_revoked_grant_ends_the_subscription(
    owner: User, watched: tuple[User, Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)  # no waiting for the visibility check to age
    user, app = watched
    after = watch_then(session_cookie(user), app, lambda: ram.revoke(owner, "user:auditor", app.cluster))
    assert SECRET not in after
    assert after == [{"type": "error", "error": "not found", "subscription": {"type": "application", "id": app.pk}}]
