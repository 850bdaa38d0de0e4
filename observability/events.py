"""The engines' events about Berth's containers, kept and read back (``EngineEvent``).

The watcher (``apps.watcher``) follows one event stream per node and hands every event to ``record`` through
``apps.watcher.EVENT_LISTENERS``; a release hands each image it pulled to ``pulled`` (``apps.releases.PULLED``).
Pages are told that something new happened (the message carries nothing: each viewer fetches what it may see).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.models import Application
from clusters.models import Node
from console import live
from observability import filters
from observability.models import EngineEvent

log = logging.getLogger(__name__)

ACTIONS = {
    "create": EngineEvent.Action.CREATED,
    "start": EngineEvent.Action.STARTED,
    "restart": EngineEvent.Action.RESTARTED,
    "die": EngineEvent.Action.DIED,
    "oom": EngineEvent.Action.OOM,
    "kill": EngineEvent.Action.KILLED,
    "stop": EngineEvent.Action.STOPPED,
    "pause": EngineEvent.Action.PAUSED,
    "unpause": EngineEvent.Action.UNPAUSED,
    "destroy": EngineEvent.Action.REMOVED,
    "health_status: healthy": EngineEvent.Action.HEALTHY,
    "health_status: unhealthy": EngineEvent.Action.UNHEALTHY,
}
"""Docker's container actions that are kept (exec, attach, resize, top and the like are not)."""


@dataclass(frozen=True)
class Seen:
    """One event as the engine told it, in the terms an events page shows."""

    application_id: int
    service: str
    container: str
    action: str
    exit_code: int | None
    detail: str
    at: datetime


def read(event: dict[str, Any]) -> Seen | None:
    """What an engine's container event says, or None when it is not one that is kept or not of a Berth
    application's container (pure)."""
    if event.get("Type", "container") != "container":
        return None
    action = ACTIONS.get(str(event.get("Action") or event.get("status") or ""))
    attrs = (event.get("Actor") or {}).get("Attributes") or {}
    app_id = str(attrs.get("berth.application", ""))
    if action is None or not app_id.isdigit():
        return None
    exit_code, detail = None, ""
    if action == EngineEvent.Action.DIED:
        code = str(attrs.get("exitCode", ""))
        exit_code = int(code) if code.lstrip("-").isdigit() else None
    elif action == EngineEvent.Action.KILLED:
        detail = _("signal %(signal)s") % {"signal": str(attrs.get("signal", "?"))[:20]}
    nanos = event.get("timeNano")
    seconds = int(nanos) / 1e9 if isinstance(nanos, int) else float(event.get("time") or 0)
    at = datetime.fromtimestamp(seconds, tz=UTC) if seconds else timezone.now()
    return Seen(
        application_id=int(app_id),
        service=str(attrs.get("berth.service", ""))[:64],
        container=str(attrs.get("name", ""))[:200],
        action=str(action),
        exit_code=exit_code,
        detail=detail,
        at=at,
    )


def record(node_id: int, event: dict[str, Any]) -> EngineEvent | None:
    """Keep one engine event of a node (``apps.watcher.EVENT_LISTENERS``); the pages that follow its cluster and its
    application are told."""
    seen = read(event)
    if seen is None:
        return None
    node = Node.objects.filter(pk=node_id).only("pk", "name", "cluster_id").first()
    if node is None:
        return None
    if not Application.objects.filter(pk=seen.application_id, cluster_id=node.cluster_id).exists():
        return None  # an application deleted (its events went with it), or labels of another cluster's
    if EngineEvent.objects.filter(node=node, container=seen.container, action=seen.action, at=seen.at).exists():
        return None  # replayed after a reconnect (``replay_from``), and kept already
    row = EngineEvent.objects.create(
        cluster_id=node.cluster_id,
        node=node,
        node_name=node.name,
        application_id=seen.application_id,
        service=seen.service,
        container=seen.container,
        action=seen.action,
        exit_code=seen.exit_code,
        detail=seen.detail,
        at=seen.at,
    )
    told(row)
    return row


def replay_from(node_id: int) -> float | None:
    """From when the watcher replays a node's events at a (re)connect (``apps.watcher.REPLAY_FROM``): the last one
    kept of that node, else the node's first moment in Berth; what the engine still holds since then is kept, each
    event once."""
    last = EngineEvent.objects.filter(node_id=node_id).order_by("-at").values_list("at", flat=True).first()
    if last is None:
        last = Node.objects.filter(pk=node_id).values_list("created_at", flat=True).first()
    return last.timestamp() if last is not None else None


def pulled(app: Application, node: Node, image: str, detail: str = "") -> None:
    """A release pulled ``image`` on ``node`` for ``app`` (``apps.releases.PULLED``)."""
    row = EngineEvent.objects.create(
        cluster_id=app.cluster_id,
        node=node,
        node_name=node.name,
        application=app,
        container=image[:200],
        action=EngineEvent.Action.PULLED,
        detail=detail[:300],
        at=timezone.now(),
    )
    told(row)


def told(row: EngineEvent) -> None:
    """The events pages of the row's cluster and application fetch themselves again (nothing else travels)."""
    message = {"type": "engine_events", "id": row.pk}
    live.publish("cluster", row.cluster_id, message)
    live.publish("application", row.application_id, message)


Refused = filters.Refused


FILTERS = ("action", "service", "container", "node", "since", "until")


def filtered(events: QuerySet[EngineEvent], params: dict[str, str]) -> QuerySet[EngineEvent]:
    """``events`` narrowed by the list's filters (``FILTERS``; empty ones ignored); ``Refused`` for a bad one."""
    action = params.get("action", "").strip()
    if action:
        if action not in EngineEvent.Action.values:
            raise Refused(
                "action", _("Not an event: one of %(names)s.") % {"names": ", ".join(EngineEvent.Action.values)}
            )
        events = events.filter(action=action)
    for field in ("service", "container", "node"):
        value = params.get(field, "").strip()
        if len(value) > 200:
            raise Refused(field, _("At most 200 characters."))
        if value:
            events = events.filter(**({"node_name": value} if field == "node" else {f"{field}__icontains": value}))
    events = filters.time_range(events, params)
    return events


def prune(now: datetime | None = None) -> int:
    """Remove the events older than ``BERTH_EVENTS_RETENTION_DAYS``; how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=float(settings.BERTH_EVENTS_RETENTION_DAYS))
    removed, _kinds = EngineEvent.objects.filter(at__lt=cutoff).delete()
    return removed
