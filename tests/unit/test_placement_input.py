"""Deploy, scale, drain and failover ask the scheduler with the same input: a service's rules, reservations and
fixed host port hold when its containers move off a node, as when they were first placed (issue 10, item 7)."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps.models import Application, Container, Service
from apps.nodework import plan_drain
from apps.scheduler import PlacementError
from clusters.models import Cluster, Node


def _node(cluster: Cluster, name: str, **fields: object) -> Node:
    return Node.objects.create(
        cluster=cluster,
        name=name,
        endpoint=f"unix:///nonexistent-{name}.sock",
        publish_ip="127.0.0.1",
        state=Node.State.READY,
        engine_id=f"E-{name}",
        **fields,
    )


def _service(app: Application, name: str, **fields: object) -> Service:
    return Service.objects.create(application=app, name=name, image="local/busybox:1", **fields)


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return Cluster.objects.create(tenant=owner.tenant, name="c")


def test_a_drain_keeps_a_services_constraint(owner: User, cluster: Cluster) -> None:
    leaving = _node(cluster, "a1", labels={"group": "a"})
    busy = _node(cluster, "a2", labels={"group": "a"})
    _node(cluster, "b1", labels={"group": "b"})  # the emptiest node, and the wrong group
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="web", created_by=owner)
    rule = {"kind": "constraint", "key": "group", "op": "==", "value": "a", "soft": False}
    web = _service(app, "web", scale=1, rules=[rule])
    Container.objects.create(service=web, node=leaving, index=1, name="web_web_1")
    filler = _service(app, "filler", scale=3)
    for index in (1, 2, 3):
        Container.objects.create(service=filler, node=busy, index=index, name=f"web_filler_{index}")
    moved = plan_drain(leaving)
    assert {Node.objects.get(pk=target).name for target in moved.values()} <= {"a2"}


def test_a_drain_is_refused_when_only_nodes_against_the_rule_are_left(owner: User, cluster: Cluster) -> None:
    leaving = _node(cluster, "a1", labels={"group": "a"})
    _node(cluster, "b1", labels={"group": "b"})
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="web", created_by=owner)
    rule = {"kind": "constraint", "key": "group", "op": "==", "value": "a", "soft": False}
    web = _service(app, "web", scale=1, rules=[rule])
    Container.objects.create(service=web, node=leaving, index=1, name="web_web_1")
    with pytest.raises(PlacementError, match="web"):
        plan_drain(leaving)


def test_a_drain_keeps_memory_reservations_and_anti_affinity(owner: User, cluster: Cluster) -> None:
    gib = 1024**3
    leaving = _node(cluster, "n1", info={"memory": 8 * gib, "cpus": 4})
    _node(cluster, "small", info={"memory": 1 * gib, "cpus": 4})  # emptiest, but too small for the reservation
    roomy = _node(cluster, "roomy", info={"memory": 8 * gib, "cpus": 4})
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="db", created_by=owner)
    spec = {"deploy": {"resources": {"reservations": {"memory": str(2 * gib)}}}}
    db = _service(app, "db", scale=1, spec=spec)
    Container.objects.create(service=db, node=leaving, index=1, name="db_db_1")
    for index in (1, 2):
        other = _service(app, f"side{index}", scale=1)
        Container.objects.create(service=other, node=roomy, index=1, name=f"db_side{index}_1")
    moved = plan_drain(leaving)
    assert [Node.objects.get(pk=target).name for target in moved.values()] == ["roomy"]
