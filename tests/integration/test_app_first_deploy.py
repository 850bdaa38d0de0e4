"""A first deploy that fails leaves nothing behind, not even a failed application (issue 10, N8).

worker-queue used ``example/worker:1``, which exists nowhere: its deploy failed, removed its containers and
network, and left the application "failed" under its name. Now the application goes too (marked deleted, its name
free again); the release keeps the reason and the operation log the failure.
"""

from __future__ import annotations

import docker
import pytest
from rest_framework.test import APIClient

from apps.models import Application, Release
from clusters.models import Cluster
from console.models import OperationLog
from tests.conftest import ours
from tests.integration.conftest import berth_containers, wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NOWHERE = "services:\n  queue:\n    image: local/busybox:1\n    command: sleep 600\n    volumes: [jobs:/q]\n"
NOWHERE += "  worker:\n    image: example/worker:1\n    depends_on: [queue]\nvolumes:\n  jobs: {}\n"


def test_a_first_deploy_of_an_image_that_exists_nowhere_leaves_no_application(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    created = api.post(url, {"name": "jobs", "compose": NOWHERE}, format="json")
    assert created.status_code == 202, created.content
    release = wait_release(created.json()["id"], 120)
    assert release.status == Release.Status.FAILED
    assert "example/worker:1" in release.error and "the application is removed" in release.error
    polled = api.get(f"/api/v1/releases/{release.pk}")
    assert polled.status_code == 200 and polled.json()["status"] == "failed"  # the reason stays readable

    app = Application.objects.get(pk=release.application_id)
    assert app.status == Application.Status.DELETED and app.deleted_at is not None
    assert api.get(f"{url}/jobs").status_code == 404
    assert "jobs" not in [a["name"] for a in api.get(url).json()["results"]]
    assert berth_containers(engine, app.pk) == []
    assert engine.networks.list(names=["jobs_default"]) == []
    assert engine.volumes.list(filters=ours(application=app.pk)) == []
    entry = OperationLog.objects.get(target="jobs", source="task")
    assert entry.outcome == "failure" and "example/worker:1" in entry.error

    # The name is free: the same application with an image that exists deploys.
    fixed = NOWHERE.replace("example/worker:1", "local/busybox:1\n    command: sleep 600")
    again = api.post(url, {"name": "jobs", "compose": fixed}, format="json")
    assert again.status_code == 202, again.content
    assert wait_release(again.json()["id"], 120).status == Release.Status.SUCCESSFUL


def test_a_later_deploy_that_fails_keeps_the_application(api: APIClient, cluster: Cluster) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    text = "services:\n  web:\n    image: local/busybox:1\n    command: sleep 600\n"
    first = api.post(url, {"name": "kept", "compose": text}, format="json")
    assert wait_release(first.json()["id"], 120).status == Release.Status.SUCCESSFUL
    broken = api.patch(f"{url}/kept", {"compose": text.replace("local/busybox:1", "example/worker:1")}, format="json")
    assert broken.status_code == 202, broken.content
    assert wait_release(broken.json()["id"], 120).status == Release.Status.FAILED
    assert api.get(f"{url}/kept").json()["status"] == "failed"  # it ran before: it stays, to be fixed or deleted
