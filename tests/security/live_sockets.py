"""Helpers of the websocket attack tests: a real Channels communicator against ``console.asgi.application``
(origin check, session or access-key sign-in, the consumer) over an in-memory channel layer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.models import User
from console import context
from console.asgi import application

HOST = "127.0.0.1:8000"
ORIGIN = f"http://{HOST}"


@pytest.fixture
def memory_layer(settings: Any) -> None:
    """An in-memory channel layer (the consumer's groups and ``group_send`` within this process)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def session_cookie(user: User) -> str:
    """A signed-in session of ``user``, as a Cookie header value."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def communicator(
    cookie: str = "", *, origin: str = ORIGIN, host: str = HOST, client: tuple[str, int] | None = ("127.0.0.1", 50000)
) -> WebsocketCommunicator:
    """A socket to ``/ws/live/`` as a browser page of the console would open it (from ``client``)."""
    headers = [(b"host", host.encode()), (b"user-agent", b"attack-test")]
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    socket = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    if client is not None:
        socket.scope["client"] = list(client)
    # A fresh server task has no request context of its own: nothing of the test's requests leaks into it.
    context.begin(src="system")
    return socket


async def drain(socket: WebsocketCommunicator, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every message the socket sends until it is quiet for ``quiet`` seconds (a close is returned as such)."""
    seen: list[dict[str, Any]] = []
    while not await socket.receive_nothing(timeout=quiet):
        output = await socket.receive_output()
        if output["type"] == "websocket.close":
            seen.append({"type": "websocket.close", "code": output.get("code")})
            break
        seen.append(json.loads(output["text"]))
    return seen


async def publish(kind: str, pk: int, payload: dict[str, Any]) -> None:
    """What ``console.live`` sends for an object: a live message to its group."""
    group = f"{kind}-{pk}"
    await get_channel_layer().group_send(group, {"type": "live.message", "group": group, "payload": payload})
