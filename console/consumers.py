"""The live-status websocket: authenticate on connect, authorize every subscription and every message, replay
on reconnect.

Client → server: ``{"action": "subscribe", "type": "application", "id": 42, "since": 0}``.
Server → client: ``{"type": "container"|"release"|"event"|"application"|"subscribed"|"error", ...}``.

Every database call runs with the request context of the socket (its address, whether its session passed MFA,
whether it is TLS), so policy conditions decide over the websocket as they do over HTTP. Before a live message
is forwarded, the socket's user and the subscription's object are checked again when their last check is
``RECHECK_SECONDS`` old: the user is read again (disabled, deleted, signed out, password changed, access key
disabled → the socket is closed) and the object is looked up through ``visible_to`` (a revoked grant or a new Deny
ends the subscription). So a user who lost access stops receiving within about a second, and a burst of messages
costs one check per second, not one per message.
A refused subscription is on record in the operation log like any refused request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.authentication import SocketIdentity, socket_identity, socket_user
from apps.models import Application, Container, Release, ReleaseEvent
from clusters import docker_host as host
from clusters.models import Cluster, Node, NodeTask
from console import context
from console.live import group_name
from console.middleware import socket_address, socket_secure
from observability import terminal
from observability.models import LogLine

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0
"""How long a check of the socket's user, or of a subscription's visibility, is trusted before a live message
needs a new one."""

CLOSE_SIGNED_OUT = 4401


def _snapshot_application(user: Any, app: Application, since: int) -> list[dict[str, Any]]:
    """Current state of an application (containers, latest release, missed events)."""
    messages: list[dict[str, Any]] = [{"type": "application", "id": app.pk, "status": app.status}]
    containers = list(Container.objects.filter(service__application=app).select_related("node"))
    # The full list first: the page drops rows that went away while it was loading.
    messages.append({"type": "containers", "names": [c.name for c in containers]})
    messages.extend(c.as_live() for c in containers)
    # What happened before where it is: the missed events, then the latest release's state (a follower that sees a
    # release end, as the CLI does, has then seen its events too, in the order they were published).
    events = ReleaseEvent.objects.filter(application=app, id__gt=since).order_by("id")[:500]
    messages.extend(e.as_live() for e in events)
    latest = Release.objects.filter(application=app).order_by("-id").first()
    if latest is not None:
        messages.append(latest.as_live())
    return messages


def _snapshot_cluster(user: Any, cluster: Cluster, since: int) -> list[dict[str, Any]]:
    """The nodes of a cluster the user may see, and its latest node tasks."""
    nodes = Node.objects.visible_to(user).filter(cluster=cluster).select_related("cluster")
    messages: list[dict[str, Any]] = [n.as_live() for n in nodes]
    messages.extend(t.as_live() for t in NodeTask.objects.filter(cluster=cluster).order_by("-id")[:5])
    return messages


def _snapshot_logs(user: Any, app: Application, since: int) -> list[dict[str, Any]]:
    """An application's latest output (its last 200 lines, or those after line ``since`` when a tail reconnects)."""
    lines = LogLine.objects.filter(application=app)
    if since:
        shown = list(lines.filter(id__gt=since).order_by("id")[:1000])
    else:
        shown = list(reversed(lines.order_by("-ts_ns", "-id")[:200]))
    return [{"type": "log_lines", "lines": [line.as_live() for line in shown], "snapshot": True}]


@dataclass(frozen=True)
class Kind:
    """A kind of subscription: what it is of, and its snapshot."""

    queryset: Any
    snapshot: Any


KINDS: dict[str, Kind] = {
    "application": Kind(Application.objects.all(), _snapshot_application),
    "cluster": Kind(Cluster.objects.all(), _snapshot_cluster),
    "logs": Kind(Application.objects.all(), _snapshot_logs),
}


def _visible(user: Any, kind: str, pk: int) -> Any:
    """The object of a subscription through the permission door (read action of its kind); Http404 otherwise."""
    return permissions.visible_object(user, KINDS[kind].queryset, target=f"subscribe {kind} {pk}", pk=pk)


def subscribe(identity: SocketIdentity, kind: str, pk: int, since: int) -> list[dict[str, Any]] | None:
    """Authorize a subscription and read its snapshot; None when the socket's user may no longer act.

    A refusal raises Http404 (and is on record once the call ends).
    """
    with permissions.refusals_recorded(f"subscribe {kind} {pk}"):
        user = socket_user(identity)
        if user is None:
            return None
        return KINDS[kind].snapshot(user, _visible(user, kind, pk), since)


def recheck(identity: SocketIdentity, stale: list[tuple[str, int]]) -> tuple[bool, list[tuple[str, int]]]:
    """Whether the socket's user may still act, and which of the ``stale`` subscriptions it may no longer see
    (each refusal on record)."""
    user = socket_user(identity)
    if user is None:
        return False, []
    gone = []
    for kind, pk in stale:
        try:
            with permissions.refusals_recorded(f"subscribe {kind} {pk}"):
                _visible(user, kind, pk)
        except Http404:
            gone.append((kind, pk))
    return True, gone


class SocketContext:
    """What a Berth socket does around each database call: the request context of the socket (its address, MFA,
    TLS, a new request id each time)."""

    scope: dict[str, Any]

    def begin_context(self) -> None:
        """The request context of this socket, for the next database call (a new request id each time)."""
        headers = dict(self.scope.get("headers") or [])
        identity: SocketIdentity | None = getattr(self, "identity", None)
        context.begin(
            src="api" if self.scope.get("access_key_id") is not None else "ui",
            ip=socket_address(self.scope),
            agent=headers.get(b"user-agent", b"").decode("latin-1"),
            actor=getattr(self.scope.get("user"), "pk", None),
            mfa=bool(identity and identity.mfa),
            secure=socket_secure(self.scope),
        )

    async def database(self, function: Any, *args: Any, slow: bool = False) -> Any:
        """Run a database function in the socket's request context; ``slow``: one that also waits on a node (a
        terminal's engine calls), run in a thread of its own so that no other socket waits behind it."""
        self.begin_context()
        return await database_sync_to_async(function, thread_sensitive=not slow)(*args)


class LiveConsumer(SocketContext, AsyncJsonWebsocketConsumer):
    """One socket per page; it may hold several subscriptions, each checked against ``visible_to``."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        self.subscriptions: dict[str, tuple[str, int]] = {}
        self.checked: dict[str, float] = {}
        self.identity_checked = float("-inf")  # the first live message reads the user again
        self.open = True
        self.identity = await self.database(socket_identity, self.scope)
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not self.open:
            return
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
        if kind not in KINDS:
            await self.send_json({"type": "error", "error": "unknown subscription type"})
            return
        # Join the group, then authorize and read the snapshot: nothing published in between is lost (a message
        # seen twice is harmless; every message carries the full state of its object). A refusal leaves it.
        group = group_name(kind, pk)
        await self.channel_layer.group_add(group, self.channel_name)
        try:
            snapshot = await self.database(subscribe, self.identity, kind, pk, since)
        except Http404:
            self.subscriptions.pop(group, None)
            self.checked.pop(group, None)
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.send_json({"type": "error", "error": "not found", "subscription": {"type": kind, "id": pk}})
            return
        if snapshot is None:
            await self.sign_out()
            return
        self.subscriptions[group] = (kind, pk)
        self.checked[group] = time.monotonic()
        await self.send_json({"type": "subscribed", "subscription": {"type": kind, "id": pk}})
        for message in snapshot:
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        self.open = False
        for group in list(getattr(self, "subscriptions", {})):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def sign_out(self) -> None:
        """The user may no longer act: leave every group and close the socket."""
        self.open = False
        for group in list(self.subscriptions):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.subscriptions.clear()
        await self.close(code=CLOSE_SIGNED_OUT)

    async def live_message(self, event: dict[str, Any]) -> None:
        """Forward a live message (or a batch of them, ``payloads``: one check for all) once its subscriber and its
        subscription are checked again."""
        if not self.open:
            return
        group = event.get("group")
        if group is not None and group not in self.subscriptions:
            return  # a message of a subscription that ended while it was on its way
        groups = [group] if group is not None else list(self.subscriptions)  # (a publisher that names no group)
        now = time.monotonic()
        stale = [g for g in groups if now - self.checked.get(g, 0.0) >= RECHECK_SECONDS]
        gone: list[tuple[str, int]] = []
        if stale or now - self.identity_checked >= RECHECK_SECONDS:
            still, gone = await self.database(recheck, self.identity, [self.subscriptions[g] for g in stale])
            if not still:
                await self.sign_out()
                return
            self.identity_checked = now
        for g in stale:
            self.checked[g] = now
        for kind, pk in gone:
            dropped = group_name(kind, pk)
            self.subscriptions.pop(dropped, None)
            self.checked.pop(dropped, None)
            await self.channel_layer.group_discard(dropped, self.channel_name)
            await self.send_json({"type": "error", "error": "not found", "subscription": {"type": kind, "id": pk}})
        if gone:
            return
        for payload in event["payloads"] if "payloads" in event else [event["payload"]]:  # a batch: in its order
            await self.send_json(payload)


CLOSE_REFUSED, CLOSE_ENDED = 4403, 4000


def _open_terminal(identity: SocketIdentity, app_pk: int, name: str, rows: int, cols: int) -> Any:
    """The terminal the socket asks for, or why not (a refusal is on record once this ends)."""
    with permissions.refusals_recorded(f"terminal {app_pk}/{name}"):
        user = socket_user(identity)
        if user is None:
            raise PermissionDenied
        return terminal.open_session(user, app_pk, name, rows, cols)


def _still_permitted(identity: SocketIdentity, session: Any) -> bool:
    """Whether the terminal's user may still act and exec in its container (a refusal is on record)."""
    with permissions.refusals_recorded(f"terminal {session.app.pk}/{session.container.name}"):
        user = socket_user(identity)
        if user is None:
            return False
        try:
            terminal.container_of(user, session.app.pk, session.container.name)
        except (Http404, PermissionDenied, terminal.NotRunning):
            return False
        return True


class TerminalConsumer(SocketContext, AsyncWebsocketConsumer):
    """``/ws/terminal/<application>/<container>/?rows=&cols=``: a shell in a running container (``cs:ExecContainer``).

    Binary frames carry the terminal's bytes both ways; a text frame ``{"resize": [cols, rows]}`` resizes it. A
    refusal is said in the terminal and the socket closes (4403). The shell's output is read by a thread of its
    own; a session without input or output for ``BERTH_TERMINAL_IDLE_SECONDS`` is closed."""

    async def connect(self) -> None:
        self.session: Any = None
        self.ended = False
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        query = parse_qs((self.scope.get("query_string") or b"").decode("latin-1"))
        rows = terminal.clamp((query.get("rows") or ["24"])[0], terminal.ROWS, 24)
        cols = terminal.clamp((query.get("cols") or ["80"])[0], terminal.COLS, 80)
        await self.accept()
        self.identity = await self.database(socket_identity, self.scope)
        try:
            self.session = await self.database(
                _open_terminal, self.identity, kwargs["app"], kwargs["container"], rows, cols, slow=True
            )
        except (Http404, PermissionDenied):
            await self.refuse(_("Refused: you may not open a terminal in this container (it needs cs:ExecContainer)."))
            return
        except terminal.NotRunning as exc:
            await self.refuse(str(exc))
            return
        except host.HostError as exc:
            await self.refuse(_("The node did not open a terminal: %(e)s") % {"e": exc})
            return
        self.last = time.monotonic()
        loop = asyncio.get_running_loop()
        threading.Thread(target=self.pump, args=(loop,), name="terminal-pump", daemon=True).start()
        self.idle_task = asyncio.create_task(self.watch_idle())

    async def refuse(self, message: str) -> None:
        self.ended = True
        await self.send(bytes_data=f"\r\n{message}\r\n".encode())
        await self.close(code=CLOSE_REFUSED)

    def pump(self, loop: asyncio.AbstractEventLoop) -> None:
        """The shell's output to the browser, until it ends (its own thread: a blocking read per session)."""
        try:
            while not self.ended:
                data = self.session.shell.read()
                if not data or self.ended:
                    break
                self.last = time.monotonic()
                asyncio.run_coroutine_threadsafe(self.send(bytes_data=data), loop).result()
            if not self.ended:
                asyncio.run_coroutine_threadsafe(self.end("the shell exited", _("[the shell exited]")), loop)
        except Exception:  # noqa: BLE001 - the socket or its loop went first (the session was ended there)
            log.debug("terminal: the output stopped", exc_info=True)

    async def watch_idle(self) -> None:
        """Close the session when it idles too long, or as soon as (within ``RECHECK_SECONDS`` of a tick) its user
        may no longer act or no longer exec in the container, as the live socket rechecks its subscriptions."""
        limit = terminal.idle_seconds()
        while not self.ended:
            await asyncio.sleep(min(RECHECK_SECONDS * 2, max(limit / 4, 0.2)))
            if self.ended:
                return
            if time.monotonic() - self.last >= limit:
                notice = _("[closed after %(s)s s without input or output]") % {"s": int(limit)}
                await self.end("idle", notice)
            elif not await self.database(_still_permitted, self.identity, self.session):
                await self.end("refused", _("[closed: you may no longer open a terminal in this container]"))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ended or self.session is None:
            return
        self.last = time.monotonic()
        shell = self.session.shell
        if bytes_data is not None:
            await asyncio.get_running_loop().run_in_executor(None, shell.write, bytes_data)
            return
        try:
            message = json.loads(text_data or "")
            cols, rows = (int(v) for v in message["resize"])
        except (ValueError, TypeError, KeyError):
            return
        rows, cols = terminal.clamp(rows, terminal.ROWS, 24), terminal.clamp(cols, terminal.COLS, 80)
        try:
            await asyncio.get_running_loop().run_in_executor(None, shell.resize, rows, cols)
        except host.HostError:
            pass

    async def end(self, reason: str, notice: str = "") -> None:
        """Close the shell and the socket once; the end is on record."""
        if self.ended:
            return
        self.ended = True
        if notice:
            try:
                await self.send(bytes_data=f"\r\n{notice}\r\n".encode())
            except Exception:  # noqa: BLE001 - the browser may have gone already
                pass
        if self.session is not None:
            await self.database(terminal.close_session, self.session, reason, slow=True)
        try:
            await self.close(code=CLOSE_ENDED)
        except Exception:  # noqa: BLE001
            pass

    async def disconnect(self, code: int) -> None:
        await self.end("closed by the user")
