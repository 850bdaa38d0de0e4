"""How Berth writes a moment for machines: ISO 8601, in UTC, with "Z" (the API, the CSV and JSON exports of the
operation log, the ``datetime`` of every time a console page shows). People read it through the ``when`` filter
(``accounts.templatetags.berth``) and ``when`` in static/js/live.js: one rule for both."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def iso_utc(value: datetime) -> str:
    """``value`` in ISO 8601, in UTC, written with "Z": ``2026-12-01T06:00:56.670278Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_moment(raw: str) -> datetime | None:
    """A moment as people write it in a filter: ISO 8601 (without a zone: UTC), or a time of day alone
    (``10:00``, ``10:00:30``: today, UTC, as the console shows times); None when it is neither."""
    text = raw.strip()
    found = _TIME_OF_DAY.match(text)
    if found:
        hour, minute, second = int(found.group(1)), int(found.group(2)), int(found.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            return None
        return datetime.now(UTC).replace(hour=hour, minute=minute, second=second, microsecond=0)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
