"""The live-status websocket: authenticate on connect, authorize every subscription, replay on reconnect.

Client → server: ``{"action": "subscribe", "type": "application", "id": 42, "since": 0}``.
Server → client: ``{"type": "container"|"release"|"event"|"application"|"subscribed"|"error", ...}``.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from console.live import GROUP_KINDS, group_name


def _snapshot_application(user: Any, pk: int, since: int) -> list[dict[str, Any]] | None:
    """Current state of an application the user may see (containers, latest release, missed events)."""
    from apps.models import Application, Container, Release, ReleaseEvent

    app = Application.objects.visible_to(user).filter(pk=pk).first()
    if app is None:
        return None
    messages: list[dict[str, Any]] = [{"type": "application", "id": app.pk, "status": app.status}]
    containers = list(Container.objects.filter(service__application=app).select_related("node"))
    # The full list first: the page drops rows that went away while it was loading.
    messages.append({"type": "containers", "names": [c.name for c in containers]})
    messages.extend(c.as_live() for c in containers)
    latest = Release.objects.filter(application=app).order_by("-id").first()
    if latest is not None:
        messages.append(latest.as_live())
    events = ReleaseEvent.objects.filter(application=app, id__gt=since).order_by("id")[:500]
    messages.extend(e.as_live() for e in events)
    return messages


def _snapshot_cluster(user: Any, pk: int, since: int) -> list[dict[str, Any]] | None:
    """The nodes of a cluster the user may see, and its latest node tasks."""
    from clusters.models import Cluster, Node, NodeTask

    cluster = Cluster.objects.visible_to(user).filter(pk=pk).first()
    if cluster is None:
        return None
    nodes = Node.objects.visible_to(user).filter(cluster=cluster).select_related("cluster")
    messages: list[dict[str, Any]] = [n.as_live() for n in nodes]
    messages.extend(t.as_live() for t in NodeTask.objects.filter(cluster=cluster).order_by("-id")[:5])
    return messages


def _cluster_visible(user: Any, pk: int) -> bool:
    from clusters.models import Cluster

    return Cluster.objects.visible_to(user).filter(pk=pk).exists()


def _application_visible(user: Any, pk: int) -> bool:
    from apps.models import Application

    return Application.objects.visible_to(user).filter(pk=pk).exists()


SNAPSHOTS = {"application": _snapshot_application, "cluster": _snapshot_cluster}
VISIBLE = {"application": _application_visible, "cluster": _cluster_visible}


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One socket per page; it may hold several subscriptions, each checked against ``visible_to``."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined: set[str] = set()
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("action") != "subscribe":
            await self.send_json({"type": "error", "error": "unknown message"})
            return
        kind = content.get("type")
        try:
            pk = int(content.get("id"))
            since = int(content.get("since") or 0)
        except (TypeError, ValueError):
            await self.send_json({"type": "error", "error": "id must be a number"})
            return
        if kind not in GROUP_KINDS:
            await self.send_json({"type": "error", "error": "unknown subscription type"})
            return
        # Authorize, join the group, then read the snapshot: nothing published in between is lost
        # (a message seen twice is harmless; every message carries the full state of its object).
        group = group_name(kind, pk)
        allowed = await database_sync_to_async(VISIBLE[kind])(self.scope["user"], pk)
        if not allowed:
            await self.send_json({"type": "error", "error": "not found", "subscription": {"type": kind, "id": pk}})
            return
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)
        snapshot = await database_sync_to_async(SNAPSHOTS[kind])(self.scope["user"], pk, since)
        await self.send_json({"type": "subscribed", "subscription": {"type": kind, "id": pk}})
        for message in snapshot or []:
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def live_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])
