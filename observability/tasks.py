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


@berth_task("observability.autoscale", soft_time_limit=120, time_limit=150)
def autoscale() -> int:
    """Judge the services with auto scaling labels once (beat, every BERTH_AUTOSCALE_INTERVAL seconds)."""
    from observability import autoscale as scaler

    return len(scaler.run_once())
