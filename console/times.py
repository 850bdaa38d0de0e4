"""How Berth writes a moment for machines: ISO 8601, in UTC, with "Z" (the API, the CSV and JSON exports of the
operation log, the ``datetime`` of every time a console page shows). People read it through the ``when`` filter
(``accounts.templatetags.berth``) and ``when`` in static/js/live.js: one rule for both."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime) -> str:
    """``value`` in ISO 8601, in UTC, written with "Z": ``2026-12-01T06:00:56.670278Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
