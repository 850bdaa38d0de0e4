"""The release planner and the update settings it reads (pure: no database, no Docker)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from releases import planner, strategy
from releases.planner import Replica
from releases.strategy import UpdateConfig


def test_compose_update_config_is_read_with_swarms_defaults_for_what_it_leaves_out() -> None:
    spec = {"deploy": {"update_config": {"parallelism": 3, "delay": "1m30s", "order": "start-first"}}}
    config = strategy.config_of(spec)
    assert config == UpdateConfig(parallelism=3, delay=90.0, order="start-first")
    assert strategy.config_of({}) == UpdateConfig()
    assert config.failure_action == "pause" and config.monitor == strategy.DEFAULT_MONITOR


def test_rollback_config_applies_to_the_way_back_and_falls_back_to_update_config() -> None:
    spec = {
        "deploy": {
            "update_config": {"parallelism": 2, "failure_action": "rollback"},
            "rollback_config": {"parallelism": 4, "monitor": "500ms"},
        }
    }
    assert strategy.config_of(spec, rollback=True) == UpdateConfig(parallelism=4, monitor=0.5)
    only_update = {"deploy": {"update_config": {"parallelism": 2, "order": "start-first"}}}
    assert strategy.config_of(only_update, rollback=True) == UpdateConfig(parallelism=2, order="start-first")


def test_alibabas_rolling_updates_label_sets_the_parallelism_unless_compose_does() -> None:
    labelled = {"labels": {"aliyun.rolling_updates": "true", "aliyun.rolling_updates.parallelism": "3"}}
    assert strategy.config_of(labelled).parallelism == 3
    both = {**labelled, "deploy": {"update_config": {"parallelism": 2}}}
    assert strategy.config_of(both).parallelism == 2


@pytest.mark.parametrize(
    ("section", "scale", "expected"),
    [
        ({"parallelism": 0}, 4, "deploy.update_config.parallelism must be at least 1"),
        ({"parallelism": 5}, 4, "deploy.update_config.parallelism is 5, more than the service's 4 container(s)"),
        ({"delay": "-1s"}, 4, "deploy.update_config.delay must be a duration of zero or more"),
        ({"monitor": "soon"}, 4, "deploy.update_config.monitor must be a duration of zero or more"),
        ({"max_failure_ratio": 1.5}, 4, "deploy.update_config.max_failure_ratio must be between 0 and 1"),
    ],
)
def test_settings_that_cannot_run_are_named_precisely(section: dict, scale: int, expected: str) -> None:
    found = strategy.problems({"deploy": {"update_config": section}}, scale)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_global_service_has_no_scale_to_exceed_and_good_settings_raise_nothing() -> None:
    assert strategy.problems({"deploy": {"update_config": {"parallelism": 9}}}, 1, is_global=True) == []
    good = {"deploy": {"update_config": {"parallelism": 2, "delay": "5s", "monitor": "1s", "max_failure_ratio": 0.2}}}
    assert strategy.problems(good, 4) == []
    assert strategy.problems({"labels": {"aliyun.rolling_updates.parallelism": "0"}}, 4) == [
        "label aliyun.rolling_updates.parallelism must be a whole number of at least 1, not '0'"
    ]


def test_a_service_with_a_fixed_host_port_is_replaced_stop_first_and_the_plan_says_why() -> None:
    replicas = [Replica(1, "old"), Replica(2, "old")]
    step = planner.plan_service("web", replicas, "new", UpdateConfig(order="start-first"), fixed_ports=True)
    assert step is not None
    assert step["order"] == "stop-first" and "fixed host port" in step["note"]
    assert planner.plan_service("web", [Replica(1, "new")], "new", UpdateConfig()) is None


@given(
    scale=st.integers(1, 40),
    parallelism=st.integers(1, 40),
    stale=st.data(),
    order=st.sampled_from(strategy.ORDERS),
)
def test_every_stale_replica_is_replaced_once_in_order_and_never_more_than_the_plan_allows(
    scale: int, parallelism: int, stale: st.DataObject, order: str
) -> None:
    old = set(stale.draw(st.sets(st.integers(1, scale))))
    replicas = [Replica(i, "old" if i in old else "new") for i in range(1, scale + 1)]
    config = UpdateConfig(parallelism=parallelism, order=order)
    step = planner.plan_service("web", replicas, "new", config)
    if not old:
        assert step is None
        return
    assert step is not None
    flat = [i for batch in step["batches"] for i in batch]
    assert flat == sorted(old)  # each once, in replica order, and only those made from something else
    assert all(1 <= len(batch) <= parallelism for batch in step["batches"])
    assert all(len(batch) == parallelism for batch in step["batches"][:-1])
    most = planner.peak(step, scale)
    assert most == (scale + min(parallelism, len(old)) if order == "start-first" else scale)


@given(indexes=st.lists(st.integers(1, 30), unique=True, min_size=1), parallelism=st.integers(1, 8), data=st.data())
def test_a_resumed_plan_runs_only_what_is_left_in_the_same_batches(
    indexes: list[int], parallelism: int, data: st.DataObject
) -> None:
    step = {"batches": planner.batches(indexes, parallelism)}
    done = set(data.draw(st.sets(st.sampled_from(indexes))))
    left = planner.remaining(step, done)
    assert [i for b in left for i in b] == [i for i in sorted(indexes) if i not in done]
    assert all(any(set(b) <= set(original) for original in step["batches"]) for b in left)
