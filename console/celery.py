"""The Celery application, its broker transport and the one decorator every Berth task uses."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery, signals
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, which a worker can close twice when the broker goes away.

    When Redis stops while tasks run (acks_late: their messages are unacknowledged), the worker's consumer closes
    the broken connection twice (``collect``, then ``close``); each close tries to put the unacknowledged messages
    back, and the second one finds its transport already detached: kombu 5.7 raised ``AttributeError`` there,
    which the worker took for an unrecoverable error and shut down: it finished the running tasks and consumed
    nothing more, so later work waited until someone restarted it. A detached channel raises the transport's
    connection error instead, which the consumer handles: it reconnects when Redis is back. (The messages are
    not lost for Berth: the rows are, and ``console.work.reap`` sends pending rows again.)
    """

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous)


class RedisTransport(kombu_redis.Transport):
    """The Redis transport with :class:`RedisChannel` (the broker of every Berth process)."""

    Channel = RedisChannel


ROUTINE_TASKS = (
    "clusters.check_nodes",
    "apps.reap_releases",
    "clusters.reap_node_tasks",
    "clusters.sweep_certificates",
    "routing.sync_all",
)


class RoutineTasksFilter(logging.Filter):
    """Drops the INFO lines of the periodic routine tasks (received, succeeded, sent by beat): the node check
    runs every two seconds and would bury everything else. Their warnings and errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        text = record.getMessage()
        return not any(name in text for name in ROUTINE_TASKS)


for _logger in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
    logging.getLogger(_logger).addFilter(RoutineTasksFilter())

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.broker_transport = f"{__name__}:RedisTransport"  # the broker is Redis (settings.REDIS_URL)
app.autodiscover_tasks(["observability", "routing", "apps", "clusters", "accounts", "console"])

# Transport errors talking to a Docker engine are worth a retry; everything else is a real failure.
try:
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
