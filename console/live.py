"""Pushing live status to browsers through the channel layer, after the transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

GROUP_KINDS = ("application",)


def group_name(kind: str, pk: int) -> str:
    """The channel-layer group for one object, e.g. ``application-42``."""
    if kind not in GROUP_KINDS:
        raise ValueError(f"unknown live group kind {kind!r}")
    return f"{kind}-{int(pk)}"


def _send(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "live.message", "payload": payload})
    except Exception:  # a browser missing one update must never fail the work that caused it
        log.warning("live: could not publish to %s", group, exc_info=True)


def publish(kind: str, pk: int, payload: dict[str, Any]) -> None:
    """Send ``payload`` to everyone watching ``kind`` ``pk``, once the current transaction commits."""
    group = group_name(kind, pk)
    transaction.on_commit(lambda: _send(group, payload))
