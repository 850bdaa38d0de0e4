"""Which engine events are kept, and how they read (observability.events.read: pure)."""

from __future__ import annotations

from observability import events


def event(action: str, **attrs: str) -> dict:
    labels = {"berth.application": "7", "berth.service": "web", "name": "shop_web_1", **attrs}
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"Attributes": labels},
        "timeNano": 1_764_670_000_123_456_789,
    }


def test_a_death_keeps_its_exit_code_and_a_kill_its_signal() -> None:
    died = events.read(event("die", exitCode="137"))
    assert died is not None and (died.action, died.exit_code, died.container, died.service) == (
        "died",
        137,
        "shop_web_1",
        "web",
    )
    assert died.at.timestamp() == 1_764_670_000.123457
    killed = events.read(event("kill", signal="9"))
    assert killed is not None and killed.action == "killed" and killed.detail == "signal 9"
    assert events.read(event("health_status: unhealthy")).action == "unhealthy"  # type: ignore[union-attr]
    assert events.read(event("oom")).action == "oom"  # type: ignore[union-attr]


def test_exec_and_foreign_containers_are_not_kept() -> None:
    assert events.read(event("exec_create: sh")) is None
    assert events.read(event("attach")) is None
    assert events.read(event("start", **{"berth.application": ""})) is None
    assert events.read({"Type": "image", "Action": "pull", "Actor": {"Attributes": {}}}) is None
