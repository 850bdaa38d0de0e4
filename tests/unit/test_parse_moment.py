"""How a filter's time is read (console.times.parse_moment: pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from console.times import parse_moment


def test_iso_times_zones_and_times_of_day() -> None:
    assert parse_moment("2026-12-02T10:00:00Z") == datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert parse_moment("2026-12-02T10:00:00") == datetime(2026, 12, 2, 10, tzinfo=UTC)  # no zone: UTC
    assert parse_moment("2026-12-02T11:00:00+01:00") == datetime(2026, 12, 2, 10, tzinfo=UTC)
    today = parse_moment("15:17")
    assert today is not None and (today.hour, today.minute, today.date()) == (15, 17, datetime.now(UTC).date())
    for bad in ("yesterday", "25:00", "", "15:61", "2026-13-01T00:00:00Z"):
        assert parse_moment(bad) is None, bad
