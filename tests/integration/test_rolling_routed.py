"""Rolling releases of a routed service under load (issue 14): six replicas on two nodes in network namespaces,
replaced two at a time, new first, while at most eight connections send requests through a router: no request fails,
every container is replaced, the events follow the plan. A new version whose health check fails is rolled back on its
own while the old version serves every request."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from apps import tasks
from apps.models import Container, Release, ReleaseEvent
from clusters.models import Cluster
from clusters.operations import register_node
from tests import harness
from tests.integration.conftest import wait_release
from tests.integration.test_cluster_network import client, deploy, nodes_in_namespaces, reset, wait_joined
from tests.integration.test_routing import Load, answers, enable, get

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


SERVE = "sh -c 'echo {version} $$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www'"
"""Answers ``<version> <hostname>`` (``$$``: Compose's escape of ``$``)."""


def service(
    command: str, *, replicas: int, health: str = "echo | nc -w 1 127.0.0.1 80", update_config: str = ""
) -> str:
    """A routed web service at DOMAIN with a health check every second."""
    return f"""
services:
  web:
    image: local/netbox:1
    command: {command}
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
      replicas: {replicas}
{update_config}"""


def app(version: str, *, health: str = "echo | nc -w 1 127.0.0.1 80", action: str = "pause") -> str:
    """Six containers answering ``<version> <hostname>``, replaced two at a time, new first."""
    rolling = f"""      update_config:
        parallelism: 2
        order: start-first
        failure_action: {action}
        monitor: 1s
"""
    return service(SERVE.format(version=version), replicas=6, health=health, update_config=rolling)


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
    assert "v3" not in load.seen, load.seen  # an unhealthy container never got a request
    print(f"failed update rolled back: {load.ok} requests through the router, none failed")  # noqa: T201
    assert served_versions(node) == {"v2"}


def two(version: str, *, flaky: bool = False) -> str:
    """Two containers answering ``<version> <hostname>`` at DOMAIN; ``flaky``: 30 % of the answers are 500 (a CGI
    script of busybox's httpd, which runs it for ``/`` when there is no index.html)."""
    if flaky:
        command = f"""
      - sh
      - -c
      - |
        busybox rm -f /www/index.html
        busybox mkdir -p /www/cgi-bin
        cat > /www/cgi-bin/index.cgi <<'EOF'
        #!/bin/sh
        if [ $$((RANDOM % 10)) -lt 3 ]; then echo "Status: 500"; fi
        echo "Content-Type: text/plain"
        echo
        echo {version} $$(hostname)
        EOF
        busybox chmod +x /www/cgi-bin/index.cgi
        exec httpd -f -p 80 -h /www"""
    else:
        command = SERVE.format(version=version)
    return service(command, replicas=2)


def shares(node: harness.NetnsNode, domain: str = DOMAIN, times: int = 100) -> dict[str, int]:
    """How many of ``times`` answers through the router came from each version (an error counts as "error")."""
    found: dict[str, int] = {}
    for _ in range(times):
        try:
            status, body, _cookie = get(node, domain)
            version = body.split()[0] if status == 200 and body else "error"
        except OSError:
            version = "error"
        found[version] = found.get(version, 0) + 1
    return found


def release_update(api: APIClient, cluster: Cluster, text: str, **body: object) -> int:
    changed = api.patch(f"/api/v1/clusters/{cluster.pk}/applications/shop", {"compose": text, **body}, format="json")
    assert changed.status_code == 202, changed.content
    return changed.json()["id"]


def test_blue_green_shifts_the_traffic_by_weight_and_is_rolled_back_or_confirmed(
    api: APIClient, routed_cluster: Cluster, engines: dict[str, harness.NetnsNode]
) -> None:
    cluster, node = routed_cluster, engines["a"]
    deploy(api, cluster, "shop", two("v1"))
    harness.wait_until(lambda: shares(node, times=20) == {"v1": 20}, 90, 1.0, "the router to serve v1")

    release_id = release_update(api, cluster, two("v2"), strategy="blue-green")
    ready = harness.wait_until(
        lambda: Release.objects.filter(pk=release_id, params__candidates_ready=True).first(), 90, 0.5, "v2 to run"
    )
    assert ready.status == "running"
    shown = api.get(f"/api/v1/releases/{release_id}").json()
    assert shown["strategy"] == "blue-green" and shown["side_by_side"]["weight"] == 0
    versions = {
        c["name"]: (c["candidate"], c["traffic_weight"])
        for c in api.get(f"/api/v1/clusters/{cluster.pk}/applications/shop").json()["services"][0]["containers"]
    }
    assert versions == {
        "shop_web_1": (False, 100),
        "shop_web_2": (False, 100),
        "shop_web_1-1": (True, 0),
        "shop_web_2-1": (True, 0),
    }, versions
    # The new version answers alone on its preview domain; the shared route still gives it nothing.
    harness.wait_until(lambda: shares(node, "preview." + DOMAIN, 20) == {"v2": 20}, 30, 0.5, "the preview domain")
    assert shares(node) == {"v1": 100}

    for weight, low, high in ((50, 30, 70), (100, 100, 100)):
        moved = api.post(f"/api/v1/releases/{release_id}/weight", {"weight": weight}, format="json")
        assert moved.status_code == 200 and moved.json()["side_by_side"]["weight"] == weight, moved.content
        harness.wait_until(
            lambda low=low, high=high: low <= shares(node).get("v2", 0) <= high, 30, 0.5, f"{weight}% to v2"
        )
    wrong = api.post(f"/api/v1/releases/{release_id}/weight", {"weight": 101}, format="json")
    assert wrong.status_code == 400 and "between 0 and 100" in wrong.content.decode()

    back = api.post(f"/api/v1/releases/{release_id}/rollback")
    assert back.status_code == 200, back.content
    done = finished(release_id, 60)
    assert done.status == "canceled" and "Rolled back by request" in done.error, done.error
    harness.wait_until(lambda: shares(node, times=40) == {"v1": 40}, 30, 0.5, "v1 alone again")
    rows = Container.objects.filter(service__application__cluster=cluster)
    assert sorted((r.name, r.candidate, r.traffic_weight) for r in rows) == [
        ("shop_web_1", False, 100),
        ("shop_web_2", False, 100),
    ]

    # Again, confirmed this time: the old containers go, the new ones take everything.
    release_id = release_update(api, cluster, two("v3"), strategy="blue-green")
    harness.wait_until(
        lambda: Release.objects.filter(pk=release_id, params__candidates_ready=True).exists(), 90, 0.5, "v3 to run"
    )
    refused = api.post(f"/api/v1/releases/{done.pk}/confirm")
    assert refused.status_code == 409 and "already finished" in refused.content.decode()
    with Load(node, DOMAIN, connections=4, seconds=60) as load:
        harness.wait_until(lambda: load.ok >= 100, 30, 0.2, "the load to start")
        assert api.post(f"/api/v1/releases/{release_id}/weight", {"weight": 100}, format="json").status_code == 200
        harness.wait_until(lambda: shares(node, times=20) == {"v3": 20}, 30, 0.5, "v3 alone")
        assert api.post(f"/api/v1/releases/{release_id}/confirm").status_code == 200
        done = finished(release_id, 60)
    assert done.status == "successful", done.error
    assert load.failed == [], load.failed[:10]
    rows = Container.objects.filter(service__application__cluster=cluster)
    assert sorted((r.name, r.candidate, r.traffic_weight) for r in rows) == [
        ("shop_web_1-1", False, 100),
        ("shop_web_2-1", False, 100),
    ]
    assert shares(node, times=40) == {"v3": 40}


def test_a_canary_that_answers_500_is_rolled_back_at_its_first_step_and_a_healthy_one_is_promoted(
    api: APIClient, routed_cluster: Cluster, engines: dict[str, harness.NetnsNode]
) -> None:
    cluster, node = routed_cluster, engines["a"]
    deploy(api, cluster, "shop", two("v1"))
    harness.wait_until(lambda: shares(node, times=20) == {"v1": 20}, 90, 1.0, "the router to serve v1")
    quick = {"steps": [20, 100], "hold_seconds": 6, "min_requests": 20}

    with Load(node, DOMAIN, connections=4, seconds=80) as load:
        harness.wait_until(lambda: load.ok >= 100, 30, 0.2, "the load to start")
        release_id = release_update(api, cluster, two("v2", flaky=True), strategy="canary", canary=quick)
        done = finished(release_id, 75)
    assert done.status == "failed", done.error
    assert "Canary step 1 (20%) failed: 5xx answers" in done.error, done.error
    assert "the old version serves again (version 1, written back as version 3)" in done.error, done.error
    verdicts = done.params["verdicts"]
    assert [v["outcome"] for v in verdicts] == ["failed"]
    assert verdicts[0]["new"]["errors_5xx"] > 0 and verdicts[0]["old"]["errors_5xx"] == 0, verdicts
    assert verdicts[0]["new"]["ratio_5xx"] > 0.1
    harness.wait_until(lambda: shares(node, times=40) == {"v1": 40}, 30, 0.5, "v1 alone again")

    with Load(node, DOMAIN, connections=4, seconds=80) as load:
        harness.wait_until(lambda: load.ok >= 100, 30, 0.2, "the load to start")
        release_id = release_update(api, cluster, two("v3"), strategy="canary", canary=quick)
        done = finished(release_id, 75)
    assert done.status == "successful", done.error
    assert load.failed == [], load.failed[:10]
    verdicts = done.params["verdicts"]
    assert [(v["weight"], v["outcome"]) for v in verdicts] == [(20, "passed"), (100, "passed")], verdicts
    assert verdicts[0]["new"]["requests"] >= 20 and verdicts[0]["old"]["requests"] > verdicts[0]["new"]["requests"]
    assert shares(node, times=40) == {"v3": 40}


KILL_QUEUE = "berth-test-kill-routed"


def running_on(engines: dict[str, harness.NetnsNode]) -> int:
    """The application's running containers on both nodes, as their engines say."""
    total = 0
    for node in engines.values():
        engine = client(node)
        try:
            listed = engine.containers.list(filters={"label": "berth.application.name=shop"}, ignore_removed=True)
            total += len(listed)
        finally:
            engine.close()
    return total


def test_a_worker_killed_in_a_rolling_update_under_load_is_resumed_without_a_lost_request(
    api: APIClient,
    routed_cluster: Cluster,
    engines: dict[str, harness.NetnsNode],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster, node = routed_cluster, engines["a"]
    deploy(api, cluster, "shop", app("v1"))
    harness.wait_until(lambda: served_versions(node) == {"v1"}, 90, 1.0, "the router to serve v1")
    victim = harness.start_worker("victim", queue=KILL_QUEUE)
    original = tasks.run_release.delay
    monkeypatch.setattr(
        tasks.run_release, "delay", lambda release_id: tasks.run_release.apply_async((release_id,), queue=KILL_QUEUE)
    )
    most = 0
    with Load(node, DOMAIN, connections=8, seconds=90) as load:
        harness.wait_until(lambda: load.ok >= 200, 30, 0.2, "the load to start")
        try:
            release_id = update(api, cluster, app("v2"))
            harness.wait_until(
                lambda: Container.objects.filter(
                    service__application__cluster=cluster, generation=1, state="running"
                ).exists(),
                60,
                0.05,
                "the first new container to run",
            )
            victim.stop(signal.SIGKILL)  # in batch 1: its new containers beside the old ones, not yet in rotation
        finally:
            victim.stop(signal.SIGKILL)
            monkeypatch.setattr(tasks.run_release, "delay", original)
        most = max(most, running_on(engines))
        monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 0.5)
        harness.wait_until(lambda: tasks.reap_releases()["resumed"] == 1, 10, 0.3, "the reaper to resume it")

        def done() -> Release | None:
            nonlocal most
            most = max(most, running_on(engines))
            found = Release.objects.get(pk=release_id)
            return found if found.status in Release.TERMINAL else None

        finished_release = harness.wait_until(done, 80, 0.2, "the resumed release to finish")
    assert finished_release.status == "successful", finished_release.error
    assert finished_release.attempts == 2
    assert load.failed == [], load.failed[:10]
    assert most <= 6 + 2, most
    assert served_versions(node) == {"v2"}
    rows = Container.objects.filter(service__application__cluster=cluster)
    assert sorted(r.index for r in rows) == list(range(1, 7)) and {r.generation for r in rows} <= {1, 2}
    print(f"worker killed mid-update: {load.ok} requests, none failed, at most {most} containers")  # noqa: T201
