"""Canary analysis (pure): the routers' request lines split by version, percentiles, verdicts and the settings'
refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from releases import canary
from releases.canary import Figures, Settings


def test_request_lines_are_read_and_other_lines_skipped() -> None:
    lines = [
        "route_abc shop_web_1 200 12",
        "route_abc shop_web_1-1 500 3",
        "route_abc <NOSRV> 503 0",
        "[NOTICE]   (1) : haproxy version is 2.6.12",
        "route_abc shop_web_2 ok 5",
    ]
    assert canary.parse(lines) == [("shop_web_1", 200, 12.0), ("shop_web_1-1", 500, 3.0), ("<NOSRV>", 503, 0.0)]
    requests = canary.parse(lines)
    assert canary.figures(requests, {"shop_web_1-1"}) == Figures(1, 1, 3.0)
    assert canary.figures(requests, {"shop_web_1"}) == Figures(1, 0, 12.0)


def test_a_version_with_30_percent_5xx_fails_with_the_numbers_that_decided() -> None:
    new, old = Figures(100, 30, 8.0), Figures(900, 0, 7.0)
    verdict = canary.judge(new, old, Settings())
    assert verdict.outcome == "failed"
    assert verdict.reason.startswith("5xx answers: 30.0% of the new version's 100 requests, above the 1.0% allowed")
    assert verdict.as_dict()["new"] == {"requests": 100, "errors_5xx": 30, "p95_ms": 8.0, "ratio_5xx": 0.3}


def test_a_slower_version_fails_on_p95_and_a_few_milliseconds_of_noise_never_do() -> None:
    assert canary.judge(Figures(100, 0, 400.0), Figures(100, 0, 100.0), Settings()).outcome == "failed"
    assert "p95 latency: 400 ms" in canary.judge(Figures(100, 0, 400.0), Figures(100, 0, 100.0), Settings()).reason
    assert canary.judge(Figures(100, 0, 9.0), Figures(100, 0, 1.0), Settings()).outcome == "passed"


def test_too_few_requests_wait_rather_than_pass() -> None:
    verdict = canary.judge(Figures(5, 0, 3.0), Figures(50, 0, 3.0), Settings())
    assert verdict.outcome == "wait" and "at least 20 are needed" in verdict.reason


@given(st.lists(st.floats(0, 10_000, allow_nan=False), min_size=1, max_size=300))
def test_the_p95_is_a_value_seen_with_at_least_95_percent_at_or_below_it(values: list[float]) -> None:
    p95 = canary.percentile(values, 0.95)
    assert p95 in values
    assert sum(1 for v in values if v <= p95) >= 0.95 * len(values)
    assert sum(1 for v in values if v < p95) < 0.95 * len(values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": [10, 25, 50]}, "canary.steps must end at 100 (the whole traffic), not at 50"),
        ({"steps": [50, 25, 100]}, "canary.steps must rise"),
        ({"steps": [0, 100]}, "canary.steps must each be between 1 and 100"),
        ({"steps": [10, 101]}, "canary.steps must each be between 1 and 100"),
        ({"steps": "10,100"}, "canary.steps must be a list of whole percentages"),
        ({"hold_seconds": 1}, "canary.hold_seconds must be a number between 5 and 3600, not 1"),
        ({"max_5xx_increase": -0.1}, "canary.max_5xx_increase must be a number between 0 and 1"),
        ({"max_p95_ratio": 0.5}, "canary.max_p95_ratio must be a number between 1 and 100"),
        ({"step": [100]}, "canary: unknown field(s) step"),
    ],
)
def test_canary_settings_that_cannot_run_are_refused_precisely(data: dict, message: str) -> None:
    settings, problems = canary.settings_of(data)
    assert settings is None
    assert any(p.startswith(message) for p in problems), problems


def test_canary_settings_default_to_four_steps_of_a_minute() -> None:
    settings, problems = canary.settings_of({})
    assert problems == [] and settings == Settings(steps=(10, 25, 50, 100), hold=60.0)
    chosen, _ = canary.settings_of({"steps": [20, 100], "hold_seconds": 10})
    assert chosen is not None and chosen.steps == (20, 100) and chosen.hold == 10.0


def test_settings_written_on_the_release_read_back_the_same() -> None:
    chosen, _ = canary.settings_of({"steps": [5, 50, 100], "hold_seconds": 30, "max_p95_ratio": 2})
    assert chosen is not None
    assert canary.settings_of(chosen.as_dict()) == (chosen, [])
