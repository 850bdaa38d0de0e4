"""A broker outage is not the request's failure, and lost messages are sent again (issue 10, N10): the pieces of
console.work that test_redis_restart.py proves end to end, one by one (no worker; the broker is replaced by what
``delay`` does when Redis is away)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps import releases, tasks
from apps.models import Application, Release
from clusters import tasks as cluster_tasks
from clusters.models import Cluster, Node, NodeTask

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster(owner: User) -> Cluster:
    found = Cluster.objects.create(tenant=owner.tenant, name="c1")
    Node.objects.create(
        cluster=found, name="n1", endpoint="unix:///nonexistent-outage.sock", publish_ip="127.0.0.1", state="ready"
    )
    return found


@pytest.fixture
def api(owner: User) -> APIClient:
    key, secret = AccessKey.objects.issue(owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def broker_away(*_args: object) -> None:
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_request_while_the_broker_is_away_is_accepted_and_its_work_waits(
    api: APIClient, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.run_release, "delay", broker_away)
    body = {"name": "during", "image": "local/busybox:1", "command": "sleep 600"}
    response = api.post(f"/api/v1/clusters/{cluster.pk}/applications", body, format="json")
    assert response.status_code == 202, response.content  # not a 500 after the rows were written
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.Status.PENDING
    assert Application.objects.get(name="during").status == Application.Status.DEPLOYING


def test_the_reaper_sends_pending_work_again_once_the_bound_passed_and_only_then(
    owner: User, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="lost")
    release = Release.objects.create(application=app, kind=Release.Kind.DEPLOY, actor=owner)
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_release, "delay", sent.append)
    assert tasks.reap_releases()["resent"] == 0 and sent == []  # just made: its message may still be on the way
    old = timezone.now() - timedelta(seconds=settings.BERTH_PENDING_RESEND_SECONDS + 1)
    Release.objects.filter(pk=release.pk).update(created_at=old)
    assert tasks.reap_releases()["resent"] == 1 and sent == [release.pk]
    assert tasks.reap_releases()["resent"] == 0 and sent == [release.pk]  # once per bound, not every round
    Release.objects.filter(pk=release.pk).update(heartbeat_at=old)
    monkeypatch.setattr(tasks.run_release, "delay", broker_away)
    assert tasks.reap_releases()["resent"] == 1  # a broker still away does not stop the reaper


def test_the_node_task_reaper_sends_pending_node_tasks_again(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    task = NodeTask.objects.create(cluster=cluster, node=cluster.nodes.get(), kind=NodeTask.Kind.RESET)
    old = timezone.now() - timedelta(seconds=settings.BERTH_PENDING_RESEND_SECONDS + 1)
    NodeTask.objects.filter(pk=task.pk).update(created_at=old)
    sent: list[int] = []
    monkeypatch.setattr(cluster_tasks.run_node_task, "delay", sent.append)
    assert cluster_tasks.reap_node_tasks()["resent"] == 1 and sent == [task.pk]


def test_a_second_copy_of_a_message_does_not_run_the_release_twice(owner: User, cluster: Cluster) -> None:
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="twice")
    release = Release.objects.create(application=app, kind=Release.Kind.STOP, actor=owner)
    assert release.claim()  # the first copy's worker runs it
    assert releases.execute(release.pk) == "skipped"  # the copy the reaper sent finds it running
    release.refresh_from_db()
    assert release.status == Release.Status.RUNNING and release.attempts == 0
