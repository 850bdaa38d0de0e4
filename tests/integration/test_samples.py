"""Every sample deploys and answers on the default cluster (issue 10, N8): one node, no registry.

Each sample is taken from the API's template list, deployed through the API on the local engine, and its
published port is asked over HTTP: the services really talk to each other (web → database, front → APIs →
cache, workers → queue).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from apps.models import Release
from clusters.models import Cluster
from tests.harness import wait_until
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - 127.0.0.1 only
        return response.read().decode()


def sample_text(api: APIClient, name: str) -> str:
    listed = api.get("/api/v1/templates")
    assert listed.status_code == 200
    return next(s["compose"] for s in listed.json()["results"] if s["sample"] and s["name"] == name)


def addresses(api: APIClient, cluster: Cluster, app: str, service: str) -> list[str]:
    detail = api.get(f"/api/v1/clusters/{cluster.pk}/applications/{app}").json()
    containers = next(s for s in detail["services"] if s["name"] == service)["containers"]
    found = [c["address"] for c in containers if c["address"]]
    assert len(found) == len(containers), containers  # every container of the service publishes its port
    return found


def web_db(api: APIClient, cluster: Cluster, app: str) -> None:
    first, second = addresses(api, cluster, app, "web")
    assert first != second  # two web containers on one node: host ports the engine chose
    assert "web + db" in get(f"http://{first}/")
    one = get(f"http://{first}/cgi-bin/visit")
    two = get(f"http://{second}/cgi-bin/visit")
    assert "database says OK visit number 1" in one, one
    assert "database says OK visit number 2" in two, two  # both web containers count in the one database


def three_tier(api: APIClient, cluster: Cluster, app: str) -> None:
    fronts = addresses(api, cluster, app, "front")
    assert len(fronts) == 2
    first = get(f"http://{fronts[0]}/cgi-bin/shop")
    assert "order: order 1 taken by" in first, first  # front → orders → cache
    second = get(f"http://{fronts[1]}/cgi-bin/shop")
    assert "order: order 2 taken by" in second, second
    assert "catalog: tea, coffee, cocoa (2 orders so far)" in second, second  # front → catalog → cache


def worker_queue(api: APIClient, cluster: Cluster, app: str) -> None:
    (queue,) = addresses(api, cluster, app, "queue")

    def all_done() -> str | None:
        status = get(f"http://{queue}/cgi-bin/status")
        return status if "done 12" in status else None

    status = wait_until(all_done, 60, 0.5, "the workers to do the 12 jobs")
    assert "waiting 0" in status and "running 0" in status, status
    counts = [int(n) for n in re.findall(r"^worker \S+ (\d+)$", status, re.MULTILINE)]
    assert sum(counts) == 12 and len(counts) >= 2, status  # the jobs were shared among the workers
    added = get(f"http://{queue}/cgi-bin/add").strip()
    assert added == "13"
    wait_until(lambda: "done 13" in get(f"http://{queue}/cgi-bin/status"), 30, 0.5, "a worker to take job 13")


CHECKS: dict[str, tuple[dict[str, str], Callable[[APIClient, Cluster, str], None]]] = {
    "web-db": ({"DB_PASSWORD": "sample-password"}, web_db),
    "three-tier": ({}, three_tier),
    "worker-queue": ({}, worker_queue),
}


def test_every_sample_is_checked() -> None:
    from apps import library

    assert sorted(s.name for s in library.samples()) == sorted(CHECKS)


@pytest.mark.parametrize("sample", sorted(CHECKS))
def test_sample_deploys_on_one_node_without_a_registry_and_answers(
    api: APIClient, cluster: Cluster, sample: str
) -> None:
    assert cluster.nodes.count() == 1
    variables, check = CHECKS[sample]
    app = sample.replace("-", "")
    body = {"name": app, "compose": sample_text(api, sample), "variables": variables}
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    plan = api.post(f"{url}?dry_run=true", body, format="json")
    assert plan.status_code == 200, plan.content
    assert plan.json()["missing_images"] == {} and plan.json()["port_conflicts"] == [], plan.json()
    created = api.post(url, body, format="json")
    assert created.status_code == 202, created.content
    release = wait_release(created.json()["id"], 120)
    assert release.status == Release.Status.SUCCESSFUL, release.error
    try:
        check(api, cluster, app)
    finally:
        removed = api.delete(f"{url}/{app}?volumes=remove")
        assert removed.status_code == 202, removed.content
        assert wait_release(removed.json()["id"]).status == Release.Status.SUCCESSFUL
