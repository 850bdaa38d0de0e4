"""What the events list and the log search share: a refused filter, and the time range every list takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from console.times import parse_moment


class Refused(ValueError):
    """A filter that is not understood: its parameter and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def moment(raw: str, field: str) -> datetime:
    value = parse_moment(raw)
    if value is None:
        raise Refused(field, _("Not a time: write it as 2026-12-02T10:00:00Z, or 10:00 for today (UTC)."))
    return value


def time_range(rows: QuerySet[Any], params: dict[str, str]) -> QuerySet[Any]:
    """``rows`` from ``since`` to ``until`` (their ``at``; either may be empty); ``Refused`` for a bad one."""
    since, until = params.get("since", "").strip(), params.get("until", "").strip()
    start = moment(since, "since") if since else None
    end = moment(until, "until") if until else None
    if start and end and start > end:
        raise Refused("until", _("The end of the time range is before its start."))
    if start:
        rows = rows.filter(at__gte=start)
    if end:
        rows = rows.filter(at__lte=end)
    return rows
