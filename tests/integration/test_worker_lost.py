"""A Celery worker killed in the middle of a deploy: the reaper resumes it and it completes, no duplicates."""

from __future__ import annotations

import signal

import docker
import pytest
from django.conf import settings

from accounts.models import User
from apps import tasks
from apps.models import Application, Release
from apps.operations import ImageAppSpec, deploy_application
from clusters.models import Cluster
from tests import harness
from tests.integration.conftest import berth_containers, wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KILL_QUEUE = "berth-test-kill"


def test_killed_worker_mid_deploy_is_resumed_by_the_reaper(
    cluster: Cluster, owner: User, engine: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Route this deploy to a worker of its own that works one container at a time, so it can die midway.
    victim = harness.start_worker("victim", queue=KILL_QUEUE, BERTH_WORKERS_PER_RELEASE="1")
    original_delay = tasks.run_release.delay
    monkeypatch.setattr(
        tasks.run_release, "delay", lambda release_id: tasks.run_release.apply_async((release_id,), queue=KILL_QUEUE)
    )
    try:
        release = deploy_application(
            owner, cluster, ImageAppSpec(name="phoenix", image="local/busybox:1", command="sleep 3600", scale=8)
        )
        harness.wait_until(lambda: Release.objects.get(pk=release.pk).progress_done >= 2, 60, 0.05, "progress")
        victim.stop(signal.SIGKILL)
    finally:
        victim.stop(signal.SIGKILL)
        monkeypatch.setattr(tasks.run_release, "delay", original_delay)

    interrupted = Release.objects.get(pk=release.pk)
    assert interrupted.status == "running" and interrupted.progress_done < 8

    # The reaper finds the silent release and resumes it on a live worker (the session's).
    monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 0.5)
    harness.wait_until(lambda: tasks.reap_releases()["resumed"] == 1, 10, 0.3, "the reaper to resume the release")
    done = wait_release(release.pk)
    assert done.status == "successful", done.error
    assert done.attempts == 2

    app = Application.objects.get(pk=release.application_id)
    running = berth_containers(engine, app.pk)
    assert sorted(c.name for c in running) == [f"phoenix_phoenix_{i}" for i in range(1, 9)]
    assert {c.status for c in running} == {"running"}
    for c in running:
        c.remove(force=True)


def test_release_that_keeps_losing_its_worker_is_failed_not_running_forever(
    cluster: Cluster, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    monkeypatch.setattr(tasks.run_release, "delay", lambda release_id: None)  # nobody will pick it up
    release = deploy_application(owner, cluster, ImageAppSpec(name="doomed", image="local/busybox:1"))
    Release.objects.filter(pk=release.pk).update(
        status="running", attempts=settings.BERTH_RELEASE_MAX_ATTEMPTS, heartbeat_at=timezone.now()
    )
    monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 0.2)
    harness.wait_until(lambda: tasks.reap_releases()["failed"] == 1, 5, 0.3, "the reaper to fail it")
    failed = Release.objects.get(pk=release.pk)
    assert failed.status == "failed" and "stopped answering" in failed.error
    assert Application.objects.get(pk=release.application_id).status == "failed"
