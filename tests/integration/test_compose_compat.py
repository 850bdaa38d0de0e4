"""A file written for Compose or for Alibaba's console deploys unchanged on a real engine (issue 11).

Unset variables read as empty strings (the plan warns), ``pids_limit`` reaches the container's host config, and
the Alibaba labels for log collection and timed tasks are accepted and stay on the containers.
"""

from __future__ import annotations

import docker
import pytest
from rest_framework.test import APIClient

from apps.models import Release
from clusters.models import Cluster
from tests.integration.conftest import berth_containers, wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NOTES = """
services:
  web:
    image: local/busybox:1
    command: sh -c 'trap "exit 0" TERM; while true; do sleep 1; done'
    pids_limit: 64
    environment:
      TZ: ${TIMEZONE}
      DATABASE_URL: postgres://${POSTGRES_USER}@db:5432/notes
    labels:
      aliyun.logs.web: stdout
      aliyun.retry_count: "2"
      aliyun.remove_containers: remove-finished
      aliyun.project_type: batch
"""


def test_unset_variables_pids_limit_and_alibaba_labels_deploy_unchanged(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    plan = api.post(f"{url}?dry_run=true", {"name": "notes", "compose": NOTES}, format="json")
    assert plan.status_code == 200, plan.content
    assert [w.split(": ")[1] for w in plan.json()["warnings"]] == [
        "variable TIMEZONE is not set and has no default",
        "variable POSTGRES_USER is not set and has no default",
        "unknown Alibaba label aliyun.project_type",
    ]
    created = api.post(url, {"name": "notes", "compose": NOTES}, format="json")
    assert created.status_code == 202, created.content
    release = wait_release(created.json()["id"], 120)
    assert release.status == Release.Status.SUCCESSFUL, release.error
    (container,) = berth_containers(engine, release.application_id)
    assert container.attrs["HostConfig"]["PidsLimit"] == 64
    assert {"TZ=", "DATABASE_URL=postgres://@db:5432/notes"} <= set(container.attrs["Config"]["Env"])
    labels = container.labels
    assert (labels["aliyun.logs.web"], labels["aliyun.remove_containers"]) == ("stdout", "remove-finished")
