"""The events watcher and a container removed from its node: a row that still names it no longer does, so the page
shows it and a plan creates it again instead of "recreating" a container that is not there (issue 11, one
fingerprint: the plan after a failed update)."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps.models import Application, Container, Service
from apps.watcher import apply_state
from clusters.models import Cluster, Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def row(owner: User) -> Container:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c")
    node = Node.objects.create(
        cluster=cluster, name="n1", endpoint="unix:///nonexistent-n1.sock", publish_ip="127.0.0.1", engine_id="E-n1"
    )
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="web", created_by=owner)
    service = Service.objects.create(application=app, name="web", image="local/busybox:1")
    return Container.objects.create(
        service=service, node=node, index=1, name="web_web_1", docker_id="abc", state="running"
    )


def labels(row: Container) -> dict[str, str]:
    return {"berth.application": str(row.service.application_id), "berth.replica": "1", "berth.service": "web"}


def test_a_removed_container_leaves_its_row_without_one(row: Container) -> None:
    shown = apply_state(row.node_id, labels(row), "removed", "abc")
    row.refresh_from_db()
    assert (row.docker_id, row.state) == ("", "removed")
    assert shown is not None and shown.pk == row.pk


def test_a_failed_row_stays_failed_when_its_container_goes(row: Container) -> None:
    Container.objects.filter(pk=row.pk).update(state="failed")
    apply_state(row.node_id, labels(row), "removed", "abc")
    row.refresh_from_db()
    assert (row.docker_id, row.state) == ("", "failed")


def test_the_removal_of_an_older_container_leaves_the_replacement_alone(row: Container) -> None:
    assert apply_state(row.node_id, labels(row), "removed", "older") is None
    row.refresh_from_db()
    assert (row.docker_id, row.state) == ("abc", "running")
