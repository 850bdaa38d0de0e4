"""A live socket that stays idle keeps working: Redis reads must not time out under the consumer."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from console import live
from tests import harness
from tests.integration.test_live import session_cookie, ws_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

IDLE_SECONDS = 16  # longer than redis-py 8's 5 s default read timeout, three times over


def test_idle_subscribed_socket_still_receives_a_change_on_the_same_connection(
    stack: harness.Stack, owner: User
) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="idle")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="quiet", status="running")
    asgi_log = stack.procs["asgi"].log
    log_start = asgi_log.stat().st_size  # the log file is shared by earlier runs: read only what this test adds

    async def watch() -> list[dict]:
        seen: list[dict] = []
        headers = {"Cookie": session_cookie(owner)}
        async with websockets.connect(
            ws_url(stack), origin=stack.url, additional_headers=headers, ping_interval=None
        ) as ws:
            await ws.send(json.dumps({"action": "subscribe", "type": "application", "id": app.pk}))
            async with asyncio.timeout(10):
                while not any(m.get("type") == "containers" for m in seen):  # the snapshot ends with the list
                    seen.append(json.loads(await ws.recv()))
            started = time.monotonic()
            # Nothing at all on the wire for IDLE_SECONDS: a consumer that died meanwhile closes the socket.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(IDLE_SECONDS):
                    seen.append(json.loads(await ws.recv()))
            assert time.monotonic() - started >= IDLE_SECONDS
            await asyncio.to_thread(change)
            async with asyncio.timeout(10):
                while not any(m.get("status") == "stopped" for m in seen):
                    seen.append(json.loads(await ws.recv()))
        return seen

    def change() -> None:
        Application.objects.filter(pk=app.pk).update(status="stopped")
        live.publish("application", app.pk, {"type": "application", "id": app.pk, "status": "stopped"})
        live.publisher.flush()

    seen = asyncio.run(watch())
    assert seen[0]["type"] == "subscribed"
    assert seen[-1] == {"type": "application", "id": app.pk, "status": "stopped"}
    with asgi_log.open("rb") as handle:
        handle.seek(log_start)
        written = handle.read().decode(errors="replace")
    assert "Timeout reading from" not in written and "Exception inside application" not in written
