"""Canary analysis: the requests the routers logged during a step, split by version, and the verdict that promotes
the canary to its next step or rolls it back.

Pure: lines of the routers' request log (``<backend> <server> <status> <total ms>``, ``routing.haproxy.LOG_FORMAT``)
and the names of the new version's containers in; figures and a verdict out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_STEPS = (10, 25, 50, 100)
DEFAULT_HOLD = 60.0
DEFAULT_MAX_5XX_INCREASE = 0.01
"""How much higher the new version's share of 5xx answers may be than the old version's (0.01: one point)."""
DEFAULT_MAX_P95_RATIO = 1.5
"""How many times the old version's p95 latency the new version's may reach."""
LATENCY_FLOOR_MS = 20.0
"""Latencies below this are equal for the comparison: a few milliseconds of noise never fail a step."""
MIN_REQUESTS = 20
"""The fewest requests of the new version a step judges; with fewer, the step is held longer."""


@dataclass(frozen=True)
class Settings:
    """A canary's steps (percent of the traffic to the new version; the last is 100), how long each is held, and
    its thresholds relative to the old version."""

    steps: tuple[int, ...] = DEFAULT_STEPS
    hold: float = DEFAULT_HOLD
    max_5xx_increase: float = DEFAULT_MAX_5XX_INCREASE
    max_p95_ratio: float = DEFAULT_MAX_P95_RATIO
    min_requests: int = MIN_REQUESTS

    def as_dict(self) -> dict[str, Any]:
        """The settings as a request gives them (``settings_of`` reads them back)."""
        return {
            "steps": list(self.steps),
            "hold_seconds": self.hold,
            "max_5xx_increase": self.max_5xx_increase,
            "max_p95_ratio": self.max_p95_ratio,
            "min_requests": self.min_requests,
        }


def settings_of(data: dict[str, Any] | None) -> tuple[Settings | None, list[str]]:
    """The canary settings of a request (``steps``, ``hold_seconds``, ``max_5xx_increase``, ``max_p95_ratio``), or
    the reasons they are refused."""
    data = data or {}
    problems: list[str] = []
    unknown = sorted(set(data) - {"steps", "hold_seconds", "max_5xx_increase", "max_p95_ratio", "min_requests"})
    if unknown:
        problems.append(f"canary: unknown field(s) {', '.join(unknown)}")
    steps = data.get("steps", list(DEFAULT_STEPS))
    if (
        not isinstance(steps, list)
        or not steps
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in steps)
    ):
        problems.append("canary.steps must be a list of whole percentages, such as [10, 25, 50, 100]")
        steps = list(DEFAULT_STEPS)
    elif any(not 1 <= s <= 100 for s in steps):
        problems.append(f"canary.steps must each be between 1 and 100, not {steps}")
    elif any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        problems.append(f"canary.steps must rise, each above the one before, not {steps}")
    elif steps[-1] != 100:
        problems.append(f"canary.steps must end at 100 (the whole traffic), not at {steps[-1]}")
    if len(steps) > 10:
        problems.append("canary.steps: at most 10 steps")
    hold = _number(data, "hold_seconds", DEFAULT_HOLD, 5, 3600, problems)
    increase = _number(data, "max_5xx_increase", DEFAULT_MAX_5XX_INCREASE, 0, 1, problems)
    ratio = _number(data, "max_p95_ratio", DEFAULT_MAX_P95_RATIO, 1, 100, problems)
    least = _number(data, "min_requests", MIN_REQUESTS, 1, 100000, problems)
    if problems:
        return None, problems
    return Settings(tuple(steps), hold, increase, ratio, int(least)), []


def _number(data: dict[str, Any], key: str, default: float, low: float, high: float, problems: list[str]) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        problems.append(f"canary.{key} must be a number between {low:g} and {high:g}, not {value!r}")
        return default
    return float(value)


@dataclass(frozen=True)
class Figures:
    """What one version answered during a step."""

    requests: int = 0
    errors_5xx: int = 0
    p95_ms: float | None = None

    @property
    def ratio_5xx(self) -> float:
        return self.errors_5xx / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_5xx": round(self.ratio_5xx, 4)}


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` 0.95: p95) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def parse(lines: list[str]) -> list[tuple[str, int, float]]:
    """(server, status, total ms) of each request line the routers logged; other lines are skipped (a request that
    reached no server has server ``<NOSRV>``)."""
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        try:
            total = float(parts[3])
        except ValueError:
            continue
        found.append((parts[1], int(parts[2]), total))
    return found


def figures(requests: list[tuple[str, int, float]], servers: set[str]) -> Figures:
    """The figures of the requests answered by ``servers``."""
    mine = [(status, ms) for server, status, ms in requests if server in servers]
    times = [ms for _status, ms in mine if ms >= 0]
    return Figures(len(mine), sum(1 for status, _ms in mine if status >= 500), percentile(times, 0.95))


@dataclass(frozen=True)
class Verdict:
    """A step's outcome: ``passed``, ``failed`` or ``wait`` (not enough requests yet), the reason in words, and the
    numbers that decided it."""

    outcome: str
    reason: str
    new: Figures
    old: Figures

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "new": self.new.as_dict(), "old": self.old.as_dict()}


def judge(new: Figures, old: Figures, settings: Settings) -> Verdict:
    """Whether the new version did as well as the old one during a step, within the settings' thresholds."""
    if new.requests < settings.min_requests:
        why = f"{new.requests} request(s) reached the new version; at least {settings.min_requests} are needed"
        return Verdict("wait", why, new, old)
    allowed = old.ratio_5xx + settings.max_5xx_increase
    if new.ratio_5xx > allowed:
        why = (
            f"5xx answers: {new.ratio_5xx:.1%} of the new version's {new.requests} requests, above the "
            f"{allowed:.1%} allowed (the old version's {old.ratio_5xx:.1%} + {settings.max_5xx_increase:.1%})"
        )
        return Verdict("failed", why, new, old)
    if new.p95_ms is not None:
        base = max(old.p95_ms or 0.0, LATENCY_FLOOR_MS)
        limit = base * settings.max_p95_ratio
        if new.p95_ms > limit:
            why = (
                f"p95 latency: {new.p95_ms:.0f} ms for the new version, above the {limit:.0f} ms allowed "
                f"({settings.max_p95_ratio:g} × {base:.0f} ms)"
            )
            return Verdict("failed", why, new, old)
    why = (
        f"{new.requests} requests, {new.ratio_5xx:.1%} 5xx, p95 {_ms(new.p95_ms)} "
        f"(old version: {old.requests} requests, {old.ratio_5xx:.1%} 5xx, p95 {_ms(old.p95_ms)})"
    )
    return Verdict("passed", why, new, old)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"
