"""Celery tasks of the observability layer (thin: the work is in the modules)."""

from __future__ import annotations

from console.celery import berth_task


@berth_task("observability.prune_events", soft_time_limit=300, time_limit=330)
def prune_events() -> int:
    """The events older than their retention go (beat, hourly)."""
    from observability import events

    return events.prune()


@berth_task("observability.prune_logs", soft_time_limit=600, time_limit=660)
def prune_logs() -> int:
    """Each tenant's containers' output past its retention goes (beat, every few minutes)."""
    from observability import logs

    return logs.prune()
