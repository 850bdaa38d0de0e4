"""A release's results are written and sent in batches (issue 11, deploy speed against Compose): a batch of
container results is one INSERT of events and one channel-layer message, and the socket still gets each message
of a batch, in order. The rows, the runner, the publisher and the consumer are the real code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from apps import releases
from apps.models import Application, Release, ReleaseEvent
from clusters.models import Cluster
from console import live
from tests.security.live_sockets import communicator, drain, memory_layer, session_cookie

__all__ = ["memory_layer"]


def _release(owner: User) -> Release:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="web", created_by=owner)
    return Release.objects.create(application=app, kind=Release.Kind.DEPLOY, actor=owner, status="running")


@pytest.mark.django_db
def test_a_batch_of_container_results_is_one_insert_and_one_live_message(
    owner: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    release = _release(owner)
    run = releases.Run(Release.objects.select_related("application").get(pk=release.pk))
    sent: list[tuple[str, list[dict[str, Any]]]] = []
    monkeypatch.setattr(live.publisher, "send", lambda group, payload: sent.append((group, [payload])))
    monkeypatch.setattr(live.publisher, "send_batch", lambda group, payloads: sent.append((group, payloads)))
    run.set_total(20)
    sent.clear()
    lines = [f"web_s_{i} is running on local." for i in range(1, 17)]
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        run.steps_done(lines)
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "apps_releaseevent"')]
    assert len(inserts) == 1
    events = [(g, p) for g, batch in sent for p in batch if p["type"] == "event"]
    assert [b for _g, b in sent if any(p["type"] == "event" for p in b)] == [[p for _g, p in events]]  # one message
    stored = list(ReleaseEvent.objects.filter(release=release).order_by("id"))
    assert [p["message"] for _g, p in events] == [e.message for e in stored] == lines
    assert [p["id"] for _g, p in events] == [e.pk for e in stored]  # pages replay from these ids
    assert run.row.progress_done == 16  # written with the next batch, or at the end (PROGRESS_SECONDS)


@pytest.mark.django_db
def test_the_publisher_sends_a_batch_as_one_channel_layer_message(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    class Layer:
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict[str, Any]]] = []

        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            self.sent.append((group, message))

    layer = Layer()
    monkeypatch.setattr(live, "get_channel_layer", lambda: layer)
    payloads = [{"type": "container", "name": f"web_s_{i}", "state": "pending"} for i in range(1, 51)]
    with django_capture_on_commit_callbacks(execute=True):
        live.publish_many("application", 7, payloads)
        live.publish("application", 7, {"type": "application", "id": 7, "status": "deploying"})
    live.publisher.flush()
    assert layer.sent == [
        ("application-7", {"type": "live.message", "group": "application-7", "payloads": payloads}),
        (
            "application-7",
            {
                "type": "live.message",
                "group": "application-7",
                "payload": {"type": "application", "id": 7, "status": "deploying"},
            },
        ),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("memory_layer")
def test_a_live_batch_reaches_the_socket_as_its_messages_in_order(owner: User) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="prod")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop", status="running")
    payloads = [{"type": "container", "name": f"shop_s_{i}", "state": "running"} for i in range(1, 6)]

    async def run() -> list[dict[str, Any]]:
        socket = communicator(session_cookie(owner))
        assert (await socket.connect())[0]
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        assert (await drain(socket))[0]["type"] == "subscribed"
        group = f"application-{app.pk}"
        await get_channel_layer().group_send(group, {"type": "live.message", "group": group, "payloads": payloads})
        seen = await drain(socket)
        await socket.disconnect()
        return seen

    assert json.loads(json.dumps(async_to_sync(run)())) == payloads
