"""The placement core: pure, property-tested."""

from __future__ import annotations

import re
from collections import Counter
from fnmatch import fnmatchcase

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.scheduler import (
    NodeCapacity,
    PlacementError,
    Rule,
    ServiceDemand,
    order_services,
    place,
    place_application,
)

MIB = 1024 * 1024

node_lists = st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6).map(
    lambda loads: [NodeCapacity(id=i + 1, name=f"n{i + 1}", containers=c) for i, c in enumerate(loads)]
)


def demand(name: str = "web", count: int = 1, **kwargs: object) -> ServiceDemand:
    return ServiceDemand(name, list(range(1, count + 1)), **kwargs)  # type: ignore[arg-type]


def per_node(result: dict[int, int], nodes: list[NodeCapacity]) -> list[int]:
    counts = Counter(result.values())
    return [counts[n.id] for n in nodes]


# --- an independent oracle for the rules the generators produce -------------------------------------------------


def oracle_holds(node: NodeCapacity, rule: Rule) -> bool:
    """What a rule means, written out plainly (labels, node.zone, node.id; service and container affinity)."""
    if rule.kind == "constraint":
        actual = {"node.zone": node.zone or None, "node.id": str(node.id)}.get(rule.key, node.labels.get(rule.key))
        found = actual is not None and fnmatchcase(actual, rule.value)
    elif rule.key == "service":
        found = any(n > 0 and fnmatchcase(s, rule.value) for s, n in node.services.items())
    else:
        found = any(fnmatchcase(c, rule.value) for c in node.containers_names)
    return found if rule.op == "==" else not found


label_values = st.sampled_from(["ssd", "hdd", "nvme"])
generated_nodes = st.lists(
    st.tuples(
        st.sampled_from(["", "a", "b", "c"]),
        st.dictionaries(st.sampled_from(["disk", "tier"]), label_values, max_size=2),
        st.dictionaries(st.sampled_from(["db", "cache"]), st.integers(min_value=0, max_value=2), max_size=2),
        st.lists(st.sampled_from(["x_db_1", "x_cache_1", "y_web_2"]), max_size=2, unique=True),
    ),
    min_size=1,
    max_size=6,
).map(
    lambda rows: [
        NodeCapacity(i + 1, f"n{i + 1}", z, labels, services=svc, containers_names=tuple(names))
        for i, (z, labels, svc, names) in enumerate(rows)
    ]
)
constraint_rules = st.builds(
    Rule,
    kind=st.just("constraint"),
    key=st.sampled_from(["disk", "tier", "node.zone", "node.id"]),
    op=st.sampled_from(["==", "!="]),
    value=st.sampled_from(["ssd", "hdd", "*d", "?vme", "a", "b", "[ab]", "1", "2", "*"]),
)
affinity_rules = st.one_of(
    st.builds(
        Rule, st.just("affinity"), st.just("service"), st.sampled_from(["==", "!="]), st.sampled_from(["db", "c*"])
    ),
    st.builds(Rule, st.just("affinity"), st.just("container"), st.sampled_from(["==", "!="]), st.sampled_from(["x_*"])),
)
hard_rules = st.lists(st.one_of(constraint_rules, affinity_rules), max_size=3).map(tuple)


# --- properties ---------------------------------------------------------------------------------------------------


@given(nodes=node_lists, count=st.integers(min_value=1, max_value=40))
def test_every_index_gets_a_node_of_the_cluster(nodes: list[NodeCapacity], count: int) -> None:
    result = place(nodes, demand(count=count))
    assert sorted(result) == list(range(1, count + 1))
    assert set(result.values()) <= {n.id for n in nodes}


@given(count=st.integers(min_value=1, max_value=40), n_nodes=st.integers(min_value=1, max_value=6))
def test_spread_within_one_container_across_equal_nodes(count: int, n_nodes: int) -> None:
    nodes = [NodeCapacity(id=i, name=f"n{i}", cpus=4, memory=4096 * MIB) for i in range(1, n_nodes + 1)]
    counts = per_node(place(nodes, demand(count=count, cpus=0.01, memory=MIB)), nodes)
    assert max(counts) - min(counts) <= 1


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
    wanted = demand(count=count, host_port=8080)
    if count > n_nodes:
        with pytest.raises(PlacementError, match="8080"):
            place(nodes, wanted)
    else:
        assert len(set(place(nodes, wanted).values())) == count


@given(nodes=generated_nodes, rules=hard_rules, count=st.integers(min_value=1, max_value=5))
def test_never_breaks_a_hard_rule(nodes: list[NodeCapacity], rules: tuple[Rule, ...], count: int) -> None:
    eligible = [n for n in nodes if all(oracle_holds(n, r) for r in rules)]
    try:
        result = place(nodes, demand(count=count, rules=rules))
    except PlacementError as error:
        assert not eligible  # the only way these rules can fail: no node at all for the first replica
        assert any(r.describe() in str(error) for r in rules)
    else:
        by_id = {n.id: n for n in nodes}
        assert all(oracle_holds(by_id[node_id], r) for node_id in result.values() for r in rules)


@given(
    caps=st.lists(
        st.tuples(st.integers(0, 16), st.integers(0, 8), st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=5
    ),
    quarters=st.integers(0, 4),
    mib=st.integers(0, 4),
    count=st.integers(1, 12),
)
def test_never_over_commits(caps: list[tuple[int, int, int, int]], quarters: int, mib: int, count: int) -> None:
    """cpus and reserved cpus in quarter cores (exact in binary), memory in 256 MiB units; 0 capacity: unlimited."""
    unit = 256 * MIB
    nodes = [
        NodeCapacity(
            i + 1,
            f"n{i + 1}",
            cpus=c / 4,
            memory=m * unit,
            reserved_cpus=min(rc, c) / 4,
            reserved_memory=min(rm, m) * unit,
        )
        for i, (c, m, rc, rm) in enumerate(caps)
    ]
    wanted = demand(count=count, cpus=quarters / 4, memory=mib * unit)

    def slots(n: NodeCapacity) -> float:
        cpu = (n.cpus - n.reserved_cpus) // wanted.cpus if n.cpus and wanted.cpus else float("inf")
        mem = (n.memory - n.reserved_memory) // wanted.memory if n.memory and wanted.memory else float("inf")
        return min(cpu, mem)

    try:
        result = place(nodes, wanted)
    except PlacementError as error:
        assert sum(slots(n) for n in nodes) < count
        assert "not enough" in str(error)
    else:
        for n, placed in zip(nodes, per_node(result, nodes), strict=True):
            assert not n.cpus or n.reserved_cpus + placed * wanted.cpus <= n.cpus
            assert not n.memory or n.reserved_memory + placed * wanted.memory <= n.memory


@given(nodes=generated_nodes, hard=hard_rules, soft=st.lists(constraint_rules, min_size=1, max_size=3))
def test_soft_rules_are_honoured_when_possible(
    nodes: list[NodeCapacity], hard: tuple[Rule, ...], soft: list[Rule]
) -> None:
    prefs = tuple(Rule(r.kind, r.key, r.op, r.value, soft=True) for r in soft)
    eligible = [n for n in nodes if all(oracle_holds(n, r) for r in hard)]
    assume(eligible)
    chosen = next(n for n in nodes if n.id == place(nodes, demand(rules=hard + prefs))[1])
    if any(all(oracle_holds(n, r) for r in prefs) for n in eligible):
        assert all(oracle_holds(chosen, r) for r in prefs)


@given(
    nodes=generated_nodes,
    rule=constraint_rules,
    existing=st.dictionaries(st.integers(1, 9), st.integers(1, 6), max_size=3),
)
def test_global_service_gets_one_per_eligible_node(
    nodes: list[NodeCapacity], rule: Rule, existing: dict[int, int]
) -> None:
    placed = {i: node_id for i, node_id in existing.items() if node_id <= len(nodes)}
    assume(len(set(placed.values())) == len(placed))
    eligible = {n.id for n in nodes if oracle_holds(n, rule)}
    wanted = ServiceDemand("agent", [], placed, rules=(rule,), global_=True)
    if not eligible and not placed:
        with pytest.raises(PlacementError, match=re.escape(rule.describe())):
            place(nodes, wanted)
        return
    result = place(nodes, wanted)
    assert sorted(result.values()) == sorted(eligible - set(placed.values()))
    assert sorted(result) == list(range(max(placed, default=0) + 1, max(placed, default=0) + 1 + len(result)))


@given(
    zones=st.lists(st.sampled_from("abcd"), min_size=1, max_size=8),
    wanted_zones=st.integers(1, 4),
    count=st.integers(1, 8),
)
def test_availability_zones_are_covered(zones: list[str], wanted_zones: int, count: int) -> None:
    nodes = [NodeCapacity(i + 1, f"n{i + 1}", z) for i, z in enumerate(zones)]
    # A soft preference for zone a pulls every replica there unless the zone rule wins.
    rules = (Rule("constraint", "node.zone", "==", "a", soft=True),)
    wanted = demand(count=count, rules=rules, zones=wanted_zones)
    if len(set(zones)) < wanted_zones:
        with pytest.raises(PlacementError, match=f"availability:az=={wanted_zones}"):
            place(nodes, wanted)
        return
    result = place(nodes, wanted)
    covered = {nodes[node_id - 1].zone for node_id in result.values()}
    assert len(covered) >= min(wanted_zones, count)


@given(nodes=generated_nodes, key=st.sampled_from(["disk", "node.zone"]))
def test_errors_name_the_rule(nodes: list[NodeCapacity], key: str) -> None:
    rule = Rule("constraint", key, "==", "nowhere")
    with pytest.raises(PlacementError, match=f"constraint:{key}==nowhere"):
        place(nodes, demand(rules=(rule,)))


# --- tables -------------------------------------------------------------------------------------------------------

CLUSTER = [
    NodeCapacity(1, "n1", "a", {"disk": "ssd"}, hostname="alpha", services={"db": 1}, containers_names=("x_db_1",)),
    NodeCapacity(2, "n2", "b", {"disk": "hdd"}, hostname="beta", services={"cache": 2}),
    NodeCapacity(3, "n3", "b", {}, containers_names=("other_web_1",)),
]


@pytest.mark.parametrize(
    ("rule", "nodes"),
    [
        ("constraint:disk==ssd", {1}),
        ("constraint:disk!=ssd", {2, 3}),  # a missing label is not ssd
        ("constraint:disk==*d", {1, 2}),
        ("constraint:disk==?sd", {1}),
        ("constraint:node.zone==b", {2, 3}),
        ("constraint:zone==a", {1}),
        ("constraint:node.hostname==beta", {2}),
        ("constraint:node.hostname==n3", {3}),  # no hostname: the node's name
        ("constraint:node.id!=2", {1, 3}),
        ("affinity:service==db", {1}),
        ("affinity:service!=c*", {1, 3}),
        ("affinity:container==x_*", {1}),
        ("affinity:container!=other_*", {1, 2}),
    ],
)
def test_each_rule_kind(rule: str, nodes: set[int]) -> None:
    result = place(CLUSTER, demand(count=6, rules=(Rule.parse(rule),)))
    assert set(result.values()) == nodes


def test_rule_parse_and_describe() -> None:
    soft = Rule.parse("affinity:service!=~db")
    assert soft == Rule("affinity", "service", "!=", "db", soft=True)
    assert soft.describe() == "affinity:service!=~db"
    assert Rule("constraint", "zone", "==", "a").describe() == "constraint:zone==a"
    with pytest.raises(ValueError):
        Rule("affinity", "image", "==", "nginx")
    with pytest.raises(ValueError):
        Rule.parse("constraint:zone")


def test_soft_rule_prefers_but_never_fails() -> None:
    assert place(CLUSTER, demand(rules=(Rule.parse("constraint:disk==~hdd"),))) == {1: 2}
    assert place(CLUSTER, demand(rules=(Rule.parse("constraint:disk==~none"),))) == {1: 1}  # as if no rule


def test_constraint_error_lists_the_nodes() -> None:
    nodes = [NodeCapacity(1, "n1", "a"), NodeCapacity(2, "n2", "b"), NodeCapacity(3, "n3", "b")]
    with pytest.raises(PlacementError) as error:
        place(nodes, demand(rules=(Rule.parse("constraint:zone==c"),)))
    assert "no node satisfies constraint:zone==c" in str(error.value)
    assert "(3 ready nodes: n1 zone a, n2 zone b, n3 zone b)" in str(error.value)


def test_memory_shortfall_names_the_need_and_the_most_free() -> None:
    nodes = [
        NodeCapacity(1, "n1", memory=1024 * MIB, reserved_memory=768 * MIB),
        NodeCapacity(2, "n2", memory=128 * MIB),
    ]
    with pytest.raises(PlacementError) as error:
        place(nodes, demand("api", memory=512 * MIB))
    assert str(error.value) == (
        "not enough memory: service api needs 512 MiB per container; the most free on an eligible node is 256 MiB"
    )


def test_cpu_shortfall_and_reservations_update_during_the_plan() -> None:
    nodes = [NodeCapacity(1, "n1", cpus=2), NodeCapacity(2, "n2", cpus=1)]
    assert sorted(Counter(place(nodes, demand(count=3, cpus=1)).values()).items()) == [(1, 2), (2, 1)]
    with pytest.raises(PlacementError, match="not enough CPU: service web needs 1 CPUs"):
        place(nodes, demand(count=4, cpus=1))


def test_zones_spread_before_nodes() -> None:
    nodes = [NodeCapacity(1, "n1", "a"), NodeCapacity(2, "n2", "a"), NodeCapacity(3, "n3", "b")]
    assert Counter(nodes[i - 1].zone for i in place(nodes, demand(count=4)).values()) == {"a": 2, "b": 2}


def test_global_indexes_continue_after_existing() -> None:
    result = place(CLUSTER, ServiceDemand("agent", [9], {4: 2}, global_=True))
    assert result == {5: 1, 6: 3}


def test_no_ready_node_is_an_error_that_says_so() -> None:
    with pytest.raises(PlacementError, match="no ready node"):
        place([], demand())


def test_least_loaded_node_first() -> None:
    nodes = [NodeCapacity(id=1, name="busy", containers=9), NodeCapacity(id=2, name="idle", containers=0)]
    assert place(nodes, demand()) == {1: 2}


@pytest.mark.parametrize(
    ("depends", "order"),
    [
        ({}, []),
        ({"web": [], "db": [], "cache": []}, ["web", "db", "cache"]),
        ({"web": ["api"], "api": ["db"], "db": [], "cache": []}, ["db", "api", "web", "cache"]),
        ({"web": ["db", "cache"]}, ["db", "cache", "web"]),
        ({"a": ["c"], "b": [], "c": []}, ["b", "c", "a"]),
    ],
)
def test_depends_order(depends: dict[str, list[str]], order: list[str]) -> None:
    assert order_services(depends) == order


@pytest.mark.parametrize(
    ("depends", "cycle"),
    [
        ({"a": ["a"]}, "a -> a"),
        ({"web": ["api"], "api": ["db"], "db": ["web"]}, "web -> api -> db -> web"),
        ({"ok": [], "x": ["y"], "y": ["x"]}, "x -> y -> x"),
    ],
)
def test_depends_cycle_is_an_error_naming_it(depends: dict[str, list[str]], cycle: str) -> None:
    with pytest.raises(PlacementError, match=f"cycle: {cycle}"):
        order_services(depends)


def test_application_affinity_follows_the_services_placed_before() -> None:
    nodes = [NodeCapacity(i, f"n{i}") for i in range(1, 5)]
    demands = [
        demand("api", 4, rules=(Rule.parse("affinity:service==db"),)),
        demand("db", 2),
    ]
    plan = place_application(nodes, demands, {"api": ["db"]}, app="shop")
    assert list(plan) == ["db", "api"]
    assert set(plan["api"].values()) == set(plan["db"].values())


def test_application_anti_affinity_spreads_and_names_containers() -> None:
    nodes = [NodeCapacity(i, f"n{i}", cpus=8) for i in range(1, 4)]
    web = demand("web", 3, rules=(Rule.parse("affinity:service!=web"),))
    assert len(set(place_application(nodes, [web], {})["web"].values())) == 3
    with pytest.raises(PlacementError, match="affinity:service!=web"):
        place_application(nodes, [demand("web", 4, rules=web.rules)], {})
    worker = demand("worker", 1, rules=(Rule.parse("affinity:container==shop_db_2"),))
    plan = place_application(nodes, [worker, demand("db", 2)], {"worker": ["db"]}, app="shop")
    assert plan["worker"][1] == plan["db"][2]


def test_application_shares_reservations_between_services() -> None:
    nodes = [NodeCapacity(1, "n1", memory=1024 * MIB), NodeCapacity(2, "n2", memory=1024 * MIB)]
    plan = place_application(nodes, [demand("a", 2, memory=512 * MIB), demand("b", 2, memory=512 * MIB)], {})
    assert Counter(list(plan["a"].values()) + list(plan["b"].values())) == {1: 2, 2: 2}
    with pytest.raises(PlacementError, match="not enough memory: service c"):
        place_application(nodes, [*(demand(s, 2, memory=512 * MIB) for s in "abc")], {})


def test_existing_callers_keep_working() -> None:
    node = NodeCapacity(1, "n1", "a", {"disk": "ssd"}, 3)
    assert place([node], ServiceDemand("web", [2], {1: 1}, None)) == {2: 1}
