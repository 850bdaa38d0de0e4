"""One fingerprint: the dry-run plan and the run decide what to recreate from the same fingerprint of what each
container would be created with. After an update that failed midway (its services are stored, some containers
were never remade), the plan shows exactly the recreates and creates that applying then does."""

from __future__ import annotations

import socket

import docker
import pytest
from rest_framework.test import APIClient

from apps.models import Application
from clusters.models import Cluster
from tests.integration.conftest import berth_containers, wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

V1 = """services:
  web:
    image: local/busybox:1
    command: sleep 3600
    init: true
    environment: {GREETING: one}
    deploy: {replicas: 2}
  side:
    image: local/busybox:1
    command: sleep 3600
    init: true
"""


def gated(port: int | None) -> str:
    """V1 with a new service ``gate`` that ``web`` waits for (published on ``port`` when given), and a new value for
    ``web``; ``side`` stays as it is."""
    ports = f"    ports: ['{port}:80']\n" if port else ""
    return (
        V1.replace("GREETING: one", "GREETING: two").replace(
            "    deploy: {replicas: 2}\n", "    deploy: {replicas: 2}\n    depends_on: [gate]\n"
        )
        + "  gate:\n    image: local/busybox:1\n    command: sleep 3600\n    init: true\n"
        + ports
    )


def on_engine(engine: docker.DockerClient, app_id: int) -> dict[str, str]:
    return {c.name: c.id for c in berth_containers(engine, app_id)}


def names(plan: dict, what: str) -> set[str]:
    return {c["container"] for s in plan["services"] for c in s[what]}


def test_plan_after_a_failed_update_shows_exactly_what_applying_does(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    first = wait_release(api.post(url, {"name": "fp", "compose": V1}, format="json").json()["id"])
    assert first.status == "successful", first.error
    app = Application.objects.get(name="fp")

    # The update fails at its first level: gate cannot publish a port something else holds, so web (which waits
    # for gate) is never remade with its new value. The stored services are the update's.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        failed = api.patch(f"{url}/fp", {"compose": gated(taken.getsockname()[1])}, format="json")
        assert failed.status_code == 202, failed.content
        assert wait_release(failed.json()["id"]).status == "failed"
    before = on_engine(engine, app.pk)
    assert set(before) == {"fp_web_1", "fp_web_2", "fp_side_1"}

    fixed = {"compose": gated(None)}
    plan = api.patch(f"{url}/fp?dry_run=true", fixed, format="json")
    assert plan.status_code == 200, plan.content
    planned = plan.json()
    assert names(planned, "recreate") == {"fp_web_1", "fp_web_2"}  # still made with GREETING=one
    assert names(planned, "create") == {"fp_gate_1"}  # its row exists; its container was never made
    assert names(planned, "remove") == set()

    applied = wait_release(api.patch(f"{url}/fp", fixed, format="json").json()["id"])
    assert applied.status == "successful", applied.error
    after = on_engine(engine, app.pk)
    # A running container is replaced by its replica's next generation (``fp_web_1`` by ``fp_web_1-1``).
    recreated = {name for name in before if name not in after and f"{name}-1" in after}
    created = {name for name in set(after) - set(before) if name.rpartition("-")[0] not in before}
    assert recreated == names(planned, "recreate")
    assert created == names(planned, "create")
    assert after["fp_side_1"] == before["fp_side_1"]  # unchanged: neither in the plan nor remade
    envs = [c.attrs["Config"]["Env"] for c in berth_containers(engine, app.pk) if c.name.startswith("fp_web_")]
    assert all("GREETING=two" in env for env in envs)
