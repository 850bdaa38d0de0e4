"""Compose applications on real engines: a 3-service template with depends, constraints and anti-affinity
across the local engine and two netns nodes; update, scale, rollback, kill, redeploy, delete with volumes."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Application, AppVersion, Container
from clusters import operations as ops
from clusters.models import Cluster, Node
from console.models import OperationLog
from tests import harness
from tests.conftest import ours
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STACK = """
version: "3.8"
services:
  web:
    image: local/busybox:1
    command: httpd -f -p 80 -h /www
    ports: ["80"]
    depends_on: [api]
    environment:
      - "affinity:service!=web"
      - "GREETING=${GREETING:-hello}"
    labels:
      aliyun.scale: "3"
  api:
    image: local/busybox:1
    command: sh -c 'trap "exit 0" TERM; while true; do sleep 1; done'
    depends_on: [store]
    environment:
      - "constraint:tier==backend"
    deploy:
      replicas: 2
  store:
    image: local/busybox:1
    command: sleep 3600
    init: true
    volumes: ["data:/data"]
    deploy:
      placement:
        constraints: ["node.labels.tier==backend"]
volumes:
  data: {}
"""


@pytest.fixture
def three(stack: harness.Stack, owner: User) -> Iterator[Cluster]:
    cluster = ops.ensure_local_cluster(owner.tenant)
    made = []
    try:
        for number in (27, 28):
            node = harness.netns_node(number)
            made.append(node)
            ops.register_node(
                owner,
                cluster,
                name=f"n{number}",
                endpoint=node.endpoint,
                publish_ip=node.address,
                labels={"tier": "backend"} if number == 28 else {},
            )
        yield cluster
    finally:
        for node in made:
            node.stop_engine()


def engines(cluster: Cluster) -> dict[str, docker.DockerClient]:
    out = {}
    for node in Node.objects.filter(cluster=cluster).exclude(state="removed"):
        url = node.endpoint if not node.endpoint.startswith("unix") else settings.BERTH_LOCAL_DOCKER_URL
        out[node.name] = docker.DockerClient(base_url=url)
    return out


def running(cluster: Cluster, app_id: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, client in engines(cluster).items():
        for c in client.containers.list(filters=ours(application=app_id), ignore_removed=True):
            found.setdefault(c.labels["berth.service"], []).append(name)
    return found


def test_three_service_template_across_three_nodes(api: APIClient, three: Cluster) -> None:
    url = f"/api/v1/clusters/{three.pk}/applications"
    body = {"name": "shop", "compose": STACK, "variables": {"GREETING": "hi"}}
    plan = api.post(url + "?dry_run=true", body, format="json")
    assert plan.status_code == 200, plan.content
    planned = plan.json()
    assert planned["order"] == ["store", "api", "web"]
    nodes_of = {s["name"]: sorted(c["node"] for c in s["create"]) for s in planned["services"]}
    assert nodes_of["store"] == ["n28"] and nodes_of["api"] == ["n28", "n28"]
    assert len(set(nodes_of["web"])) == 3  # anti-affinity: one web per node
    assert not Application.objects.filter(name="shop").exists()  # a plan changes nothing

    release = wait_release(api.post(url, body, format="json").json()["id"])
    assert release.status == "successful", release.error
    app = Application.objects.get(name="shop")
    where = running(three, app.pk)
    assert sorted(where["store"]) == ["n28"] and sorted(where["api"]) == ["n28", "n28"]
    assert len(set(where["web"])) == 3
    web = Container.objects.filter(service__application=app, service__name="web").select_related("node")
    for row in web:
        assert row.published_port and row.name.startswith("shop_web_")
    local = docker.from_env()
    envs = [
        c.attrs["Config"]["Env"] for c in local.containers.list(filters=ours(application=app.pk), ignore_removed=True)
    ]
    assert any("GREETING=hi" in e for e in envs)
    n28 = engines(three)["n28"]
    assert n28.volumes.get("shop_data")
    version = AppVersion.objects.get(application=app, number=1)
    assert set(version.digests) == {"web", "api", "store"}

    # Update: a new value recreates the web containers only; the version is recorded.
    update = wait_release(api.patch(f"{url}/shop", {"variables": {"GREETING": "bonjour"}}, format="json").json()["id"])
    assert update.status == "successful", update.error
    envs = [
        c.attrs["Config"]["Env"] for c in local.containers.list(filters=ours(application=app.pk), ignore_removed=True)
    ]
    assert any("GREETING=bonjour" in e for e in envs) and not any("GREETING=hi" in e for e in envs)
    assert Application.objects.get(pk=app.pk).version == 2

    # Scale api to 3 then down to 1: highest indexes go.
    scaled = wait_release(api.post(f"{url}/shop/services/api/scale", {"scale": 3}, format="json").json()["id"])
    assert scaled.status == "successful", scaled.error
    assert len(running(three, app.pk)["api"]) == 3
    down = wait_release(api.post(f"{url}/shop/services/api/scale", {"scale": 1}, format="json").json()["id"])
    assert down.status == "successful", down.error
    assert list(
        Container.objects.filter(service__application=app, service__name="api").values_list("index", flat=True)
    ) == [1]

    # Rollback restores exactly version 1 (its variables).
    back = wait_release(api.post(f"{url}/shop/rollback", {"version": 1}, format="json").json()["id"])
    assert back.status == "successful", back.error
    envs = [
        c.attrs["Config"]["Env"] for c in local.containers.list(filters=ours(application=app.pk), ignore_removed=True)
    ]
    assert any("GREETING=hi" in e for e in envs)
    versions = api.get(f"{url}/shop/versions").json()["results"]
    assert versions[0]["version"] == 3 and versions[0]["variables"] == {"GREETING": "hi"}
    assert "rollback to v1" in versions[0]["note"]

    killed = wait_release(api.post(f"{url}/shop/kill").json()["id"])
    assert killed.status == "successful", killed.error
    assert running(three, app.pk) == {}
    redeployed = wait_release(api.post(f"{url}/shop/redeploy").json()["id"])
    assert redeployed.status == "successful", redeployed.error
    assert sum(len(v) for v in running(three, app.pk).values()) == 3 + 2 + 1  # v1 again: api has 2 replicas

    gone = wait_release(api.delete(f"{url}/shop?volumes=remove").json()["id"])
    assert gone.status == "successful", gone.error
    assert running(three, app.pk) == {}
    assert not n28.volumes.list(filters=ours(application=app.pk))
    actions = set(OperationLog.objects.filter(target__startswith="shop").values_list("action", flat=True))
    assert {
        "cs:CreateApplication",
        "cs:UpdateApplication",
        "cs:ScaleService",
        "cs:RollbackApplication",
        "cs:KillApplication",
        "cs:RedeployApplication",
        "cs:DeleteApplication",
    } <= actions


def test_impossible_placement_names_the_rule(api: APIClient, three: Cluster) -> None:
    text = STACK.replace("tier==backend", "tier==gpu")
    response = api.post(f"/api/v1/clusters/{three.pk}/applications", {"name": "nogpu", "compose": text}, format="json")
    assert response.status_code == 400
    assert "tier==gpu" in " ".join(response.json()["placement"])
    assert not Application.objects.filter(name="nogpu").exists()


def test_nodes_pull_in_parallel_with_progress_each(api: APIClient, three: Cluster) -> None:
    from apps.models import ReleaseEvent
    from tests.registry import Registry, build_image

    registry = Registry(rate=1024 * 1024, bind="10.250.27.1").start()  # the host side of n27's link
    try:
        registry.push("berth/multi", "1", build_image((900_000, 1_100_000), marker="multi", seed=4))
        image = registry.ref("berth/multi")
        local = Node.objects.get(cluster=three, endpoint__startswith="unix")
        text = (
            f"services:\n  web:\n    image: {image}\n    command: sleep 3600\n    init: true\n"
            f"    environment:\n      - 'affinity:service!=web'\n      - 'constraint:node.name!={local.name}'\n"
            "    labels:\n      aliyun.scale: '2'\n"
        )
        url = f"/api/v1/clusters/{three.pk}/applications"
        release = wait_release(api.post(url, {"name": "multi", "compose": text}, format="json").json()["id"])
        assert release.status == "successful", release.error
        app = Application.objects.get(name="multi")
        assert sorted(running(three, app.pk)["web"]) == ["n27", "n28"]
        pulled = {
            e.message.split(" on ")[1].split(":")[0]: e
            for e in ReleaseEvent.objects.filter(release=release, message__startswith=f"Pulled {image} on ")
        }
        assert set(pulled) == {"n27", "n28"}
        seconds = [float(e.message.split(" in ")[1].split(" s ")[0]) for e in pulled.values()]
        assert min(seconds) > 1.0  # ~2 MB at 1 MB/s each
        started = ReleaseEvent.objects.filter(release=release).order_by("id").first().created_at
        prepared = max(e.created_at for e in pulled.values())
        assert (prepared - started).total_seconds() < sum(seconds), "the two nodes pulled one after the other"
        gone = wait_release(api.delete(f"{url}/multi").json()["id"])
        assert gone.status == "successful", gone.error
    finally:
        registry.stop()
