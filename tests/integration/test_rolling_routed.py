"""Rolling releases of a routed service under load (issue 14): six replicas on two nodes in network namespaces,
replaced two at a time, new first, while at most eight connections send requests through a router: no request fails,
every container is replaced, the events follow the plan. A new version whose health check fails is rolled back on its
own while the old version serves every request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Container, Release, ReleaseEvent
from clusters.models import Cluster
from clusters.operations import register_node
from tests import harness
from tests.integration.conftest import wait_release
from tests.integration.test_cluster_network import deploy, nodes_in_namespaces, reset, wait_joined
from tests.integration.test_routing import Load, answers, enable

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NUMBERS = {"a": 145, "b": 146}
DOMAIN = "web.roll.localhost"


@pytest.fixture(scope="module")
def engines(services: None) -> Iterator[dict[str, harness.NetnsNode]]:
    yield from nodes_in_namespaces(NUMBERS)


@pytest.fixture
def routed_cluster(
    stack: harness.Stack, owner: User, api: APIClient, engines: dict[str, harness.NetnsNode]
) -> Iterator[Cluster]:
    made = api.post("/api/v1/clusters", {"name": "roll", "network_mode": "overlay"}, format="json")
    assert made.status_code == 201, made.content
    cluster = Cluster.objects.get(pk=made.json()["id"])
    try:
        for name, node in engines.items():
            register_node(owner, cluster, name=name, endpoint=node.endpoint, publish_ip=node.address)
        wait_joined(api, cluster, set(engines))
        enable(api, cluster)
        yield cluster
    finally:
        reset(cluster, engines.values())


def app(version: str, *, health: str = "echo | nc -w 1 127.0.0.1 80", action: str = "pause") -> str:
    """Six containers answering ``<version> <hostname>``, routed at DOMAIN, replaced two at a time, new first."""
    return f"""
services:
  web:
    image: local/netbox:1
    command: sh -c 'echo {version} $$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www'
    stop_grace_period: 2s
    expose: ["80"]
    healthcheck:
      test: ["CMD-SHELL", "{health}"]
      interval: 1s
      timeout: 2s
      retries: 2
    labels:
      aliyun.routing.port_80: "web"
    deploy:
      replicas: 6
      update_config:
        parallelism: 2
        order: start-first
        failure_action: {action}
        monitor: 1s
"""


def update(api: APIClient, cluster: Cluster, text: str) -> int:
    changed = api.patch(f"/api/v1/clusters/{cluster.pk}/applications/shop", {"compose": text}, format="json")
    assert changed.status_code == 202, changed.content
    return changed.json()["id"]


def finished(release_id: int, timeout: float) -> Release:
    """``wait_release``, saying what the release did when it does not finish in time."""
    try:
        return wait_release(release_id, timeout=timeout)
    except AssertionError as exc:
        said = ReleaseEvent.objects.filter(release_id=release_id).values_list("created_at", "message")
        raise AssertionError(f"{exc}; its events: {[f'{at:%H:%M:%S.%f} {m}' for at, m in said]}") from None


def served_versions(node: harness.NetnsNode) -> set[str]:
    """The versions 24 requests through the router got (an answer that is not 200 counts as "none")."""
    try:
        return {body.split()[0] for body in answers(node, DOMAIN, times=24)}
    except (OSError, AssertionError):
        return {"none"}


def test_a_rolling_update_under_load_loses_no_request_and_a_broken_version_rolls_back_on_its_own(
    api: APIClient, routed_cluster: Cluster, engines: dict[str, harness.NetnsNode]
) -> None:
    cluster = routed_cluster
    deploy(api, cluster, "shop", app("v1"))
    node = engines["a"]
    harness.wait_until(lambda: served_versions(node) == {"v1"}, 90, 1.0, "the router to serve v1")
    first = set(Container.objects.filter(service__application__cluster=cluster).values_list("name", flat=True))
    assert len(first) == 6
    assert {r.node.name for r in Container.objects.filter(service__application__cluster=cluster)} == {"a", "b"}

    with Load(node, DOMAIN, connections=8, seconds=90) as load:
        harness.wait_until(lambda: load.ok >= 200, 30, 0.2, "the load to start")
        release = finished(update(api, cluster, app("v2")), 85)
        harness.wait_until(lambda: load.ok >= 2000, 60, 0.5, "2,000 requests through the router")
    assert release.status == "successful", release.error
    assert load.failed == [], load.failed[:10]
    assert load.ok >= 2000
    print(f"rolling update: {load.ok} requests through the router, none failed")  # noqa: T201 - for the note
    rows = Container.objects.filter(service__application__cluster=cluster)
    assert not first & {r.name for r in rows}, "every container is replaced"
    assert sorted((r.index, r.generation) for r in rows) == [(i, 1) for i in range(1, 7)]
    assert served_versions(node) == {"v2"}
    plan = release.params["plan"]
    assert [b for s in plan for b in s["batches"]] == [[1, 2], [3, 4], [5, 6]]
    said = list(ReleaseEvent.objects.filter(release=release).values_list("message", flat=True))
    starts = [m for m in said if "batch" in m]
    assert starts == [
        f"web: batch {n} of 3, start-first: replacing shop_web_{2 * n - 1}, shop_web_{2 * n}." for n in (1, 2, 3)
    ], said
    for n in (1, 2, 3):
        healthy = said.index(f"shop_web_{2 * n - 1}-1, shop_web_{2 * n}-1 healthy and in rotation.")
        assert (
            said.index(starts[n - 1])
            < healthy
            < said.index(f"shop_web_{2 * n - 1} replaced by shop_web_{2 * n - 1}-1.")
        )

    # A version whose health check fails: the first batch never enters the traffic, and the release rolls back.
    broken = app("v3", health="false", action="rollback")
    with Load(node, DOMAIN, connections=8, seconds=90) as load:
        harness.wait_until(lambda: load.ok >= 200, 30, 0.2, "the load to start")
        release = finished(update(api, cluster, broken), 85)
    assert release.status == "failed" and "rolled back to version 2" in release.error, release.error
    assert load.failed == [], load.failed[:10]
    print(f"failed update rolled back: {load.ok} requests through the router, none failed")  # noqa: T201
    assert served_versions(node) == {"v2"}
