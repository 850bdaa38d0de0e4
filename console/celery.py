"""The Celery application and the one decorator every Berth task uses."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["apps", "clusters", "accounts", "console"])

# Transport errors talking to a Docker engine are worth a retry; everything else is a real failure.
try:
    from docker.errors import APIError as _DockerAPIError  # noqa: F401
    from requests.exceptions import ConnectionError as _ConnError
    from requests.exceptions import Timeout as _Timeout

    TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (_ConnError, _Timeout)
except ImportError:  # pragma: no cover - docker is a hard dependency
    TRANSPORT_ERRORS = ()


def berth_task(name: str, *, soft_time_limit: int = 1800, time_limit: int = 1900) -> Callable[..., Any]:
    """Register a task the Berth way: explicit name, late ack, time limits, no result, retry on transport."""
    return app.task(
        name=name,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
        autoretry_for=TRANSPORT_ERRORS,
        retry_backoff=True,
        max_retries=3,
    )


@signals.before_task_publish.connect
def _carry_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Put the request's audit context in the task headers, so the task's entries name the same actor."""
    from console import context

    if headers is not None:
        headers["berth_context"] = context.export()


@signals.task_prerun.connect
def _restore_context(task: Any = None, **_: Any) -> None:
    from console import context

    carried = getattr(task.request, "berth_context", None) if task is not None else None
    context.restore(carried or {}, source="task")
