"""Auto scaling rules and decisions (observability.autoscale: pure)."""

from __future__ import annotations

from observability import autoscale


def test_rules_are_read_from_the_labels_and_wrong_ones_are_named() -> None:
    rules, problems = autoscale.rules_of(
        {"aliyun.auto_scaling.max_cpu": "50", "aliyun.auto_scaling.step": "2", "aliyun.auto_scaling.max_instances": "5"}
    )
    assert problems == [] and rules == autoscale.Rules(max_cpu=50.0, step=2, max_instances=5)
    assert autoscale.rules_of({"aliyun.scale": "3"}) == (None, [])
    _rules, problems = autoscale.rules_of(
        {
            "aliyun.auto_scaling.max_cpu": "lots",
            "aliyun.auto_scaling.step": "0",
            "aliyun.auto_scaling.min_instances": "4",
            "aliyun.auto_scaling.max_instances": "3",
            "aliyun.auto_scaling.speed": "1",
        }
    )
    assert any("max_cpu must be a number" in p for p in problems)
    assert any("step must be 1 or more" in p for p in problems)
    assert any("min_instances is above max_instances" in p for p in problems)
    assert any("unknown label aliyun.auto_scaling.speed" in p for p in problems)
    assert any(
        "min_cpu must be below max_cpu" in p
        for p in autoscale.rules_of({"aliyun.auto_scaling.max_cpu": "50", "aliyun.auto_scaling.min_cpu": "60"})[1]
    )


def test_decisions_scale_by_the_step_within_the_bounds() -> None:
    rules = autoscale.Rules(max_cpu=50, min_cpu=10, step=2, max_instances=5, min_instances=1)
    up = autoscale.decide(2, rules, cpu=80.0, memory=None)
    assert up is not None and up[0] == 4 and "average CPU 80 % is above 50 %" in up[1]
    assert autoscale.decide(4, rules, cpu=80.0, memory=None) == (5, up[1])  # capped at max_instances
    assert autoscale.decide(5, rules, cpu=99.0, memory=None) is None  # at the bound: nothing
    down = autoscale.decide(2, rules, cpu=3.0, memory=None)
    assert down is not None and down[0] == 1 and "below 10 %" in down[1]
    assert autoscale.decide(1, rules, cpu=0.0, memory=None) is None  # never under min_instances
    assert autoscale.decide(3, rules, cpu=30.0, memory=None) is None  # between the limits
    assert autoscale.decide(3, rules, cpu=None, memory=None) is None  # no figures yet
    memory = autoscale.Rules(max_memory=70, min_memory=20, min_cpu=5)
    assert autoscale.decide(1, memory, cpu=50.0, memory=90.0)[0] == 2  # type: ignore[index]
    assert autoscale.decide(2, memory, cpu=50.0, memory=10.0) is None  # every min must be crossed to go down
    assert autoscale.decide(2, memory, cpu=1.0, memory=10.0)[0] == 1  # type: ignore[index]
