"""The database itself holds "one active release per application" and "one active task per node" (partial unique
indexes), whatever code writes the rows: the operations' checks and row locks come first, this is what a write
that still races meets (tests/integration/test_database_races.py shows the requests' side on PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from apps.models import Application, Release
from clusters.models import Cluster, Node, NodeTask
from console.work import LongWork

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(owner: User) -> Cluster:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    Node.objects.create(cluster=cluster, name="n1", endpoint="unix:///nonexistent-n1.sock", publish_ip="127.0.0.1")
    return cluster


def test_an_application_has_at_most_one_active_release_in_the_database(owner: User, cluster: Cluster) -> None:
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop")
    other = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="blog")
    for status in LongWork.TERMINAL:
        Release.objects.create(application=app, kind=Release.Kind.DEPLOY, status=status)  # ended ones do not count
    first = Release.objects.create(application=app, kind=Release.Kind.SCALE)
    Release.objects.create(application=other, kind=Release.Kind.START)  # another application's is its own

    for status in LongWork.ACTIVE:
        with pytest.raises(IntegrityError), transaction.atomic():
            Release.objects.create(application=app, kind=Release.Kind.START, status=status)
    with pytest.raises(IntegrityError), transaction.atomic():  # nor by moving an ended one back
        Release.objects.filter(application=app, status=LongWork.Status.FAILED).update(status=LongWork.Status.RUNNING)

    assert first.move(LongWork.Status.PENDING, LongWork.Status.SUCCESSFUL)
    Release.objects.create(application=app, kind=Release.Kind.START)  # once it ended, the next one may begin


def test_a_node_has_at_most_one_active_task_in_the_database(cluster: Cluster) -> None:
    node = cluster.nodes.get()
    task = NodeTask.objects.create(cluster=cluster, node=node, kind=NodeTask.Kind.RESET)
    with pytest.raises(IntegrityError), transaction.atomic():
        NodeTask.objects.create(cluster=cluster, node=node, kind=NodeTask.Kind.DRAIN, status=LongWork.Status.RUNNING)
    # Tasks of the cluster that name no node (provision, rotation, delete) are not held by it.
    NodeTask.objects.create(cluster=cluster, kind=NodeTask.Kind.PROVISION)
    NodeTask.objects.create(cluster=cluster, kind=NodeTask.Kind.ROTATE)

    assert task.move(LongWork.Status.PENDING, LongWork.Status.CANCELED)
    NodeTask.objects.create(cluster=cluster, node=node, kind=NodeTask.Kind.DRAIN)
