"""Pushing live status to browsers through the channel layer, after the transaction commits.

Sync code (tasks, the watcher) hands messages to one background thread that owns an event loop
and the channel layer's Redis connections: a publish costs the caller microseconds, not a new
event loop and connection each time.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

GROUP_KINDS = ("application", "cluster", "logs")


def group_name(kind: str, pk: int) -> str:
    """The channel-layer group for one object, e.g. ``application-42``."""
    if kind not in GROUP_KINDS:
        raise ValueError(f"unknown live group kind {kind!r}")
    return f"{kind}-{int(pk)}"


class _Publisher:
    """One daemon thread with an asyncio loop that sends messages one at a time, in the order given."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._backlog = 0

    def _ensure_loop(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                queue: asyncio.Queue[Any] = asyncio.Queue()
                threading.Thread(target=self._run, args=(loop, queue), name="live-publisher", daemon=True).start()
                self._loop, self._queue = loop, queue
            assert self._queue is not None
            return self._loop, self._queue

    def _run(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._drain(queue))

    async def _drain(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            group, payloads = await queue.get()
            layer = get_channel_layer()
            try:
                if layer is not None:
                    # The group travels along: the consumer checks that subscription again before forwarding.
                    # A batch is one channel-layer message; the consumer forwards its payloads in order.
                    message: dict[str, Any] = {"type": "live.message", "group": group}
                    if len(payloads) == 1:
                        message["payload"] = payloads[0]
                    else:
                        message["payloads"] = payloads
                    await layer.group_send(group, message)
            except Exception:  # a browser missing one update must never fail the work that caused it
                log.warning("live: could not publish to %s", group, exc_info=True)
            finally:
                with self._lock:
                    self._backlog -= 1
                    if self._backlog == 0:
                        self._idle.set()

    def send(self, group: str, payload: dict[str, Any]) -> None:
        self.send_batch(group, [payload])

    def send_batch(self, group: str, payloads: list[dict[str, Any]]) -> None:
        """Hand over messages for one group, sent together as one channel-layer message."""
        loop, queue = self._ensure_loop()
        with self._lock:
            self._backlog += 1
            self._idle.clear()
        loop.call_soon_threadsafe(queue.put_nowait, (group, payloads))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every message handed over so far is sent (used at exit and by tests)."""
        self._idle.wait(timeout)


publisher = _Publisher()
atexit.register(publisher.flush)


def publish(kind: str, pk: int, payload: dict[str, Any]) -> None:
    """Send ``payload`` to everyone watching ``kind`` ``pk``, once the current transaction commits."""
    group = group_name(kind, pk)
    transaction.on_commit(lambda: publisher.send(group, payload))


def cluster_changed(cluster_id: int) -> None:
    """Tell the cluster's pages that what they list changed (applications, shared networks): they fetch themselves
    again, so each viewer sees what it may see (the message carries nothing)."""
    publish("cluster", cluster_id, {"type": "cluster_changed", "id": cluster_id})


def publish_many(kind: str, pk: int, payloads: list[dict[str, Any]]) -> None:
    """Send ``payloads`` to everyone watching ``kind`` ``pk``, in order, once the current transaction commits: one
    channel-layer message for the whole batch (a release's results of the last moments), not one per payload."""
    group = group_name(kind, pk)
    batch = list(payloads)
    if len(batch) == 1:
        transaction.on_commit(lambda: publisher.send(group, batch[0]))
    elif batch:
        transaction.on_commit(lambda: publisher.send_batch(group, batch))
