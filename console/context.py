"""Who is acting, from where and in which request: ContextVars set by middleware and restored in tasks."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str] = ContextVar("berth_request_id", default="")
source: ContextVar[str] = ContextVar("berth_source", default="system")
source_ip: ContextVar[str] = ContextVar("berth_source_ip", default="")
user_agent: ContextVar[str] = ContextVar("berth_user_agent", default="")
actor_id: ContextVar[int | None] = ContextVar("berth_actor_id", default=None)
mfa_present: ContextVar[bool] = ContextVar("berth_mfa_present", default=False)
secure_transport: ContextVar[bool] = ContextVar("berth_secure_transport", default=False)
# Refusals noted by the permission door during the current request, written when it ends (after its
# transactions); None outside a request. See ``accounts.permissions.refusals_recorded``.
refusals: ContextVar[list[Any] | None] = ContextVar("berth_refusals", default=None)

SOURCES = ("ui", "api", "task", "trigger", "system")


def new_request_id() -> str:
    """A fresh request id (hex uuid4)."""
    return uuid.uuid4().hex


def begin(
    *,
    src: str,
    ip: str = "",
    agent: str = "",
    actor: int | None = None,
    rid: str | None = None,
    mfa: bool = False,
    secure: bool = False,
) -> None:
    """Start a new context (a request, a command, a watcher event)."""
    mfa_present.set(mfa)
    secure_transport.set(secure)
    request_id.set(rid or new_request_id())
    source.set(src)
    source_ip.set(ip)
    user_agent.set(agent[:300])
    actor_id.set(actor)


def export() -> dict[str, Any]:
    """The context as plain data, for task headers."""
    return {
        "request_id": request_id.get(),
        "source_ip": source_ip.get(),
        "user_agent": user_agent.get(),
        "actor_id": actor_id.get(),
        "origin": source.get(),
    }


def restore(data: dict[str, Any], *, source: str) -> None:
    """Restore a context exported by :func:`export` (in a task the source becomes ``task``)."""
    begin(
        src=source,
        ip=data.get("source_ip", ""),
        agent=data.get("user_agent", ""),
        actor=data.get("actor_id"),
        rid=data.get("request_id") or None,
    )
