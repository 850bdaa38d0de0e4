"""The web terminal and one-off commands in a container (``cs:ExecContainer``; not the read-only role's).

A terminal session is two entries in the operation log: its start and its end (who, which container, how long, why
it ended). An idle session ends after ``BERTH_TERMINAL_IDLE_SECONDS``. A one-off command is one entry naming the
program only: its arguments may hold secrets, and the log is read by auditors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _

from accounts import permissions
from apps.models import Application, Container
from clusters import docker_host as host
from clusters import inside
from console import audit

ACTION = "cs:ExecContainer"
SHELL = [
    "/bin/sh",
    "-c",
    'printf "\\033]7777;%s\\007" "$$"; if [ -x /bin/bash ]; then exec /bin/bash; fi; exec /bin/sh',
]
"""What a terminal runs: bash where the image has it, else sh; first it tells its process id (an escape sequence the
terminal never shows: ``clusters.inside.Shell`` takes it out and hangs the shell up at the end)."""
MAX_OUTPUT = 1024 * 1024
"""Bytes of a one-off command's output the API answers with (the rest is cut, and the answer says so)."""
ROWS, COLS = (1, 500), (1, 1000)  # a terminal's bounds


class NotRunning(ValueError):
    """The container has no running process to enter."""


@dataclass
class Session:
    """An open terminal: the shell, and who opened it where."""

    shell: inside.Shell
    user: Any
    app: Application
    container: Container
    started: float = field(default_factory=time.monotonic)


def clamp(value: Any, bounds: tuple[int, int], default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(bounds[0], min(bounds[1], number))


def container_of(user: Any, app_pk: int, name: str) -> tuple[Application, Container]:
    """The application and its running container that ``user`` may run commands in: Http404 when it may not see
    them, PermissionDenied when it may see but not exec (each refusal on record), NotRunning when it is not
    running."""
    app = permissions.permitted_object(
        user, Application.objects.live().select_related("cluster"), ACTION, target=name, about=name, pk=app_pk
    )
    row = Container.objects.filter(service__application=app, name=name).select_related("node", "service").first()
    if row is None:
        raise Http404
    if row.state != "running" or not row.docker_id or row.node is None:
        raise NotRunning(_("Container %(name)s is not running (%(state)s).") % {"name": name, "state": row.state})
    return app, row


def open_session(user: Any, app_pk: int, name: str, rows: int, cols: int) -> Session:
    """Open a terminal in the container (see ``container_of`` for refusals); its start is on record."""
    app, row = container_of(user, app_pk, name)
    shell = inside.Shell(host.Endpoint.of(row.node), row.docker_id, SHELL, rows, cols)
    audit.record(
        ACTION,
        actor=user,
        resource=app.resource_name,
        target=row.name,
        cluster_id=app.cluster_id,
        parameters={"session": "started", "node": row.node.name, "size": f"{cols}x{rows}"},
    )
    return Session(shell, user, app, row)


def close_session(session: Session, reason: str) -> None:
    """End the terminal; its end is on record with how long it lasted and why it ended."""
    session.shell.close()
    seconds = time.monotonic() - session.started
    audit.record(
        ACTION,
        actor=session.user,
        resource=session.app.resource_name,
        target=session.container.name,
        cluster_id=session.app.cluster_id,
        parameters={"session": "ended", "reason": reason, "seconds": round(seconds, 1)},
        duration_ms=int(seconds * 1000),
    )


def idle_seconds() -> float:
    return float(settings.BERTH_TERMINAL_IDLE_SECONDS)


def run_once(user: Any, app: Application, row: Container, argv: list[str], timeout: float) -> dict[str, Any]:
    """Run ``argv`` in the container, without a terminal, waiting at most ``timeout`` seconds: its exit code and
    output (cut at ``MAX_OUTPUT``); a command that has not ended by then answers ``timed_out`` (it goes on in the
    container). On record, naming the program only."""
    started = time.monotonic()
    outcome, error = "success", ""
    try:
        ran = inside.run_for(host.Endpoint.of(row.node), row.docker_id, argv, timeout, MAX_OUTPUT)
        if ran.timed_out:
            outcome, error = "failure", f"still running after {timeout:g} s"
    except host.HostError as exc:
        outcome, error = "failure", str(exc)[:300]
        raise
    finally:
        audit.record(
            ACTION,
            actor=user,
            resource=app.resource_name,
            target=row.name,
            cluster_id=app.cluster_id,
            parameters={"command": argv[0][:100], "arguments": len(argv) - 1},
            outcome=outcome,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    return {
        "exit_code": ran.exit_code,
        "output": ran.output.decode(errors="replace"),
        "truncated": ran.size > MAX_OUTPUT,
        "timed_out": ran.timed_out,
    }
