"""The placement core: pure, property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.scheduler import NodeCapacity, PlacementError, ServiceDemand, place

node_lists = st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6).map(
    lambda loads: [NodeCapacity(id=i + 1, name=f"n{i + 1}", containers=c) for i, c in enumerate(loads)]
)


@given(nodes=node_lists, count=st.integers(min_value=1, max_value=40))
def test_every_index_gets_a_node_of_the_cluster(nodes: list[NodeCapacity], count: int) -> None:
    result = place(nodes, ServiceDemand("web", list(range(1, count + 1))))
    assert sorted(result) == list(range(1, count + 1))
    assert set(result.values()) <= {n.id for n in nodes}


@given(count=st.integers(min_value=1, max_value=40), n_nodes=st.integers(min_value=1, max_value=6))
def test_spread_within_one_container_across_equal_nodes(count: int, n_nodes: int) -> None:
    nodes = [NodeCapacity(id=i, name=f"n{i}") for i in range(1, n_nodes + 1)]
    result = place(nodes, ServiceDemand("web", list(range(1, count + 1))))
    per_node = [list(result.values()).count(n.id) for n in nodes]
    assert max(per_node) - min(per_node) <= 1


@given(nodes=node_lists, existing=st.integers(min_value=0, max_value=10), more=st.integers(min_value=1, max_value=10))
def test_scale_up_keeps_spread_counting_placed_replicas(nodes: list[NodeCapacity], existing: int, more: int) -> None:
    equal = [NodeCapacity(id=n.id, name=n.name) for n in nodes]
    placed = {i: equal[0].id for i in range(1, existing + 1)}  # all old replicas piled on the first node
    result = place(equal, ServiceDemand("web", list(range(existing + 1, existing + more + 1)), placed))
    if len(equal) > 1 and existing > 0:
        assert equal[0].id not in result.values() or more > (len(equal) - 1) * existing


@given(n_nodes=st.integers(min_value=1, max_value=6), count=st.integers(min_value=1, max_value=8))
def test_fixed_host_port_never_twice_on_a_node(n_nodes: int, count: int) -> None:
    nodes = [NodeCapacity(id=i, name=f"n{i}") for i in range(1, n_nodes + 1)]
    demand = ServiceDemand("web", list(range(1, count + 1)), host_port=8080)
    if count > n_nodes:
        with pytest.raises(PlacementError, match="8080"):
            place(nodes, demand)
    else:
        result = place(nodes, demand)
        assert len(set(result.values())) == count


def test_no_ready_node_is_an_error_that_says_so() -> None:
    with pytest.raises(PlacementError, match="no ready node"):
        place([], ServiceDemand("web", [1]))


def test_least_loaded_node_first() -> None:
    nodes = [NodeCapacity(id=1, name="busy", containers=9), NodeCapacity(id=2, name="idle", containers=0)]
    assert place(nodes, ServiceDemand("web", [1])) == {1: 2}
