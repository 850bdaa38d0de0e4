"""Metrics (issue 15): the watcher streams each container's stats; ``/metrics`` exposes them in Prometheus' format to
the scrape token and to access keys (their own tenant only), and refuses a scrape without credentials; a real
Prometheus (Debian's, started by scripts/prometheus.sh) scrapes it; a container that burns CPU shows on its chart,
and Prometheus' figure agrees with ``docker stats``."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from observability import metrics
from tests import harness
from tests.conftest import make_tenant
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = os.environ["BERTH_METRICS_TOKEN"]
APP = """
services:
  cpu:
    image: local/busybox:1
    init: true
    command: sh -c 'while :; do :; done'
  idle:
    image: local/busybox:1
    command: sleep 600
"""


def scrape(stack: harness.Stack, header: str = "") -> tuple[int, str]:
    request = urllib.request.Request(f"{stack.url}/metrics", headers={"Authorization": header} if header else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test stack
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def docker_stats_cpu(name: str) -> float:
    """What ``docker stats --no-stream`` says of the container's CPU, in percent."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.CPUPerc}}", name], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().rstrip("%"))


def test_a_busy_container_shows_in_metrics_prometheus_and_its_chart(
    api: APIClient, cluster: Cluster, owner: User, stack: harness.Stack, prometheus: str, settings: Any
) -> None:
    made = api.post(f"/api/v1/clusters/{cluster.pk}/applications", {"name": "burn", "compose": APP}, format="json")
    assert made.status_code == 202, made.content
    assert wait_release(made.json()["id"], 120).status == "successful"
    app = Application.objects.get(cluster=cluster, name="burn", deleted_at__isnull=True)

    # /metrics: refused without credentials, everything with the scrape token.
    status, text = scrape(stack)
    assert status == 401 and "scrape token" in text
    assert scrape(stack, "Bearer not-the-token")[0] == 401

    def busy_line() -> str | None:
        _status, body = scrape(stack, f"Bearer {TOKEN}")
        found = re.search(r'^berth_container_cpu_percent\{[^}]*container="burn_cpu_1"[^}]*\} ([0-9.]+)$', body, re.M)
        return body if found and float(found.group(1)) > 20 else None

    body = harness.wait_until(busy_line, 60, 1.0, "the busy container in /metrics")
    assert f'application_id="{app.pk}"' in body and 'service="cpu"' in body
    node_up = r"^berth_node_up\{[^}]*node=\"" + re.escape(cluster.nodes.get().name) + r"\"\} 1$"
    assert re.search(node_up, body, re.M)
    assert "berth_releases_running " in body and "# TYPE berth_container_memory_bytes gauge" in body
    disk = re.search(r"^berth_node_docker_disk_bytes\{[^}]*\} ([0-9]+)$", body, re.M)
    assert disk and int(disk.group(1)) > 0  # the engine's data: the test images at least

    # An access key sees its own tenant only: the owner's shows burn; another tenant's shows none of it.
    key, secret = ram.create_access_key(owner, owner)
    assert "burn_cpu_1" in scrape(stack, f"Bearer {key.key_id}:{secret}")[1]
    stranger = make_tenant("globex")
    other_key, other_secret = ram.create_access_key(stranger, stranger)
    theirs = scrape(stack, f"Bearer {other_key.key_id}:{other_secret}")
    assert theirs[0] == 200 and "burn" not in theirs[1] and "berth_releases_running" not in theirs[1]

    # Prometheus scraped it, and agrees with docker stats.

    def in_prometheus() -> float | None:
        series = metrics.query_range(f'berth_container_cpu_percent{{application_id="{app.pk}",service="cpu"}}', 60, 5)
        points = series[0]["points"] if series else []
        return points[-1][1] if points and points[-1][1] > 20 else None

    seen = harness.wait_until(in_prometheus, 90, 2.0, "Prometheus to have the busy container")
    measured = docker_stats_cpu("burn_cpu_1")
    print(f"CPU of a busy container: Prometheus {seen:.1f} %, docker stats {measured:.1f} %")  # noqa: T201
    assert abs(seen - measured) <= max(25.0, 0.3 * measured), (seen, measured)

    # The chart API: one series per container; a bad range is refused; a Prometheus that does not answer is said.
    base = f"/api/v1/clusters/{cluster.pk}/applications/burn/metrics"
    charts = api.get(base, {"range": "1h"})
    assert charts.status_code == 200, charts.content
    cpu = {s["name"]: s["points"] for s in charts.json()["charts"]["cpu"]}
    assert max(v for _t, v in cpu["burn_cpu_1"]) > 20
    assert set(charts.json()["charts"]) == {"cpu", "memory", "network", "block"}
    one = api.get(base, {"container": "burn_idle_1"}).json()["charts"]["cpu"]
    assert [s["name"] for s in one] == ["burn_idle_1"]
    assert api.get(base, {"range": "2y"}).status_code == 400
    assert api.get(base, {"container": "nope"}).status_code == 400
    node_charts = api.get(f"/api/v1/clusters/{cluster.pk}/metrics").json()["charts"]
    assert [s["name"] for s in node_charts["cpu"]] == [cluster.nodes.get().name]
    assert set(node_charts) == {"cpu", "memory", "network", "block", "disk"}
    settings.BERTH_PROMETHEUS_URL = f"http://127.0.0.1:{harness.free_port()}"
    down = api.get(base)
    assert down.status_code == 503 and "did not answer" in down.json()["detail"]

    # The monitoring service off: the cluster's containers leave /metrics.
    Cluster.objects.filter(pk=cluster.pk).update(system_services={"monitoring": False})
    harness.wait_until(lambda: "burn_cpu_1" not in scrape(stack, f"Bearer {TOKEN}")[1], 40, 1.0, "metrics to stop")
    docker.from_env().containers.get("burn_cpu_1").kill()  # stop burning the test machine's CPU at once


def test_the_prometheus_script_is_idempotent(prometheus: str) -> None:
    """Run again, it finds the one that answers and starts no other."""
    port = prometheus.rsplit(":", 1)[1]
    again = subprocess.run(
        [str(harness.ROOT / "scripts" / "prometheus.sh")],
        env={**os.environ, "BERTH_PROMETHEUS_PORT": port, "BERTH_DATA_DIR": str(Path("/nonexistent-berth"))},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "answering" in again.stdout


HOT = """
services:
  work:
    image: local/busybox:1
    init: true
    command: sh -c 'touch /tmp/burn; while :; do if [ -f /tmp/burn ]; then :; else sleep 1; fi; done'
    labels:
      aliyun.auto_scaling.max_cpu: "50"
      aliyun.auto_scaling.min_cpu: "10"
      aliyun.auto_scaling.step: "1"
      aliyun.auto_scaling.max_instances: "2"
      aliyun.auto_scaling.min_instances: "1"
"""


def test_auto_scaling_scales_up_under_cpu_and_down_when_it_stops_within_the_bounds(
    api: APIClient, cluster: Cluster, stack: harness.Stack, prometheus: str, settings: Any
) -> None:
    from apps.models import Release, Service
    from console.models import OperationLog
    from observability import autoscale

    settings.BERTH_AUTOSCALE_WINDOW, settings.BERTH_AUTOSCALE_SAMPLES, settings.BERTH_AUTOSCALE_COOLDOWN = 5, 3, 5
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    refused = api.post(url, {"name": "bad", "compose": HOT.replace('max_cpu: "50"', 'max_cpu: "lots"')}, format="json")
    assert refused.status_code == 400 and "max_cpu must be a number" in str(refused.json()), refused.content
    made = api.post(url, {"name": "hot", "compose": HOT}, format="json")
    assert made.status_code == 202, made.content
    assert wait_release(made.json()["id"], 120).status == "successful"
    service = Service.objects.get(application__name="hot", name="work")
    engine = docker.from_env()
    try:
        up = harness.wait_until(lambda: autoscale.run_once(), 90, 2.0, "the service to scale up")
        assert len(up) == 1 and up[0].params["to"] == 2 and "above 50 %" in up[0].params["reason"]
        assert wait_release(up[0].pk, 120).status == "successful"
        service.refresh_from_db()
        assert service.scale == 2
        assert autoscale.run_once() == []  # at max_instances (and in its cool-down)
        entry = OperationLog.objects.filter(action="cs:ScaleService", parameters__auto=True).latest("seq")
        assert "Auto scaling work from 1 to 2 containers: average CPU" in entry.parameters["reason"]

        for name in ("hot_work_1", "hot_work_2"):  # stop burning
            engine.containers.get(name).exec_run(["rm", "-f", "/tmp/burn"])
        down = harness.wait_until(lambda: autoscale.run_once(), 90, 2.0, "the service to scale down")
        assert down[0].params["to"] == 1 and "below 10 %" in down[0].params["reason"]
        assert wait_release(down[0].pk, 120).status == "successful"
        for _ in range(3):  # never under min_instances
            assert autoscale.run_once() == []
        service.refresh_from_db()
        assert service.scale == 1
        kinds = list(Release.objects.filter(application=service.application).values_list("kind", flat=True))
        assert kinds.count("scale") == 2
    finally:
        for container in engine.containers.list(filters={"label": "berth.application.name=hot"}):
            container.kill()
