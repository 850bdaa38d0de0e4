"""Celery tasks of the observability layer (thin: the work is in the modules)."""

from __future__ import annotations

from console.celery import berth_task


@berth_task("observability.prune_events", soft_time_limit=300, time_limit=330)
def prune_events() -> int:
    """The events older than their retention go (beat, hourly)."""
    from observability import events

    return events.prune()
