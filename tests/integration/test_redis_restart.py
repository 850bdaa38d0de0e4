"""A Redis restart does not stop the console's work (issue 10, N10).

Redis, the broker, runs without persistence (as ``make up`` runs it), so a restart forgets every message. Before:
a deploy requested while Redis was down answered 500 and left a release pending forever, and the worker, which
was running a deploy when Redis went away, shut itself down (kombu raised AttributeError while closing the broken
connection twice), so a delete requested after Redis was back stayed pending. Now a request accepted during the
outage answers 202 and its release is sent again by the reaper once Redis is back; the worker reconnects; the
web server's publisher reconnects. This test runs a Redis of its own (never the shared one) and restarts it
during a deploy and between two requests; every piece of work completes.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import redis
import requests

from accounts.models import AccessKey, User
from apps.models import Application, Release
from clusters.models import Cluster
from clusters.operations import ensure_local_cluster
from tests import harness
from tests.integration.conftest import berth_containers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUEUE = "berth-test-redis-restart"


class OwnRedis:
    """A redis-server of this test on a free port, without persistence, that it may stop and start again."""

    def __init__(self) -> None:
        self.port = harness.free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = harness.LOG_DIR / "redis-restart-redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        harness.LOG_DIR.mkdir(parents=True, exist_ok=True)
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--logfile", str(self.log)]
        self.proc = subprocess.Popen(argv, start_new_session=True)
        harness.wait_until(self.answers, 10, 0.05, "redis-server to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_stack(services: None, own_redis: OwnRedis) -> Iterator[harness.Stack]:
    """Worker, beat and ASGI server on the test database and this test's Redis (reapers every second)."""
    env = {
        "REDIS_URL": own_redis.url,
        "BERTH_CELERY_QUEUE": QUEUE,
        "BERTH_REAPER_INTERVAL": "1",
        "BERTH_PENDING_RESEND_SECONDS": "2",
        "BERTH_WORKERS_PER_RELEASE": "1",  # one container at a time: the deploy lasts while Redis restarts
    }
    port = harness.free_port()
    running = harness.Stack(url=f"http://127.0.0.1:{port}", port=port)
    try:
        running.procs["worker"] = harness.start_worker("redis-worker", queue=QUEUE, **env)
        running.procs["beat"] = harness.start_beat("redis-beat", **env)
        running.procs["asgi"] = harness.start_asgi(port, "redis-asgi", **env)
        yield running
    finally:
        running.stop()


class Api:
    """The API of the test's own ASGI server, as the owner with a real access key."""

    def __init__(self, stack: harness.Stack, owner: User, cluster: Cluster) -> None:
        key, secret = AccessKey.objects.issue(owner)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key.key_id}:{secret}"
        self.base = f"{stack.url}/api/v1/clusters/{cluster.pk}/applications"

    def deploy(self, name: str, scale: int) -> requests.Response:
        body = {"name": name, "image": "local/busybox:1", "command": "sleep 600", "scale": scale}
        return self.session.post(self.base, json=body, timeout=30)

    def delete(self, name: str) -> requests.Response:
        return self.session.delete(f"{self.base}/{name}", timeout=30)


def finished(release_id: int, timeout: float = 60) -> Release:
    def done() -> Release | None:
        release = Release.objects.get(pk=release_id)
        return release if release.status in Release.TERMINAL else None

    return harness.wait_until(done, timeout, 0.2, f"release {release_id} to finish")


def accepted(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 202, (response.status_code, response.text[:500])
    return response.json()


def test_redis_restarts_during_a_deploy_and_between_two_requests_and_all_work_completes(
    own_redis: OwnRedis, own_stack: harness.Stack, owner: User
) -> None:
    cluster = ensure_local_cluster(owner.tenant, actor=owner)
    api = Api(own_stack, owner, cluster)
    engine = docker.from_env()
    worker = own_stack.procs["worker"]

    # Redis stops while a deploy runs; a deploy is requested while it is down; it comes back 4 s later.
    alpha = accepted(api.deploy("alpha", 6))
    harness.wait_until(lambda: Release.objects.get(pk=alpha["id"]).progress_done >= 1, 60, 0.05, "alpha to start")
    own_redis.stop()
    during = api.deploy("bravo", 2)
    bravo = accepted(during)  # the work is accepted: it waits, pending, for the broker
    assert Release.objects.get(pk=bravo["id"]).status == Release.Status.PENDING
    time.sleep(4)
    own_redis.start()

    assert finished(alpha["id"]).status == Release.Status.SUCCESSFUL  # the deploy in progress finishes
    # A delete requested after Redis came back is carried out: the worker reconnected rather than shut down.
    deleted = accepted(api.delete("alpha"))
    assert finished(deleted["id"], 60).status == Release.Status.SUCCESSFUL, Release.objects.get(pk=deleted["id"]).error
    assert worker.popen.poll() is None, worker.tail()
    # The deploy accepted during the outage was sent again by the reaper and ran.
    done = finished(bravo["id"], 60)
    assert done.status == Release.Status.SUCCESSFUL, done.error
    assert len(berth_containers(engine, done.application_id)) == 2

    # Between two requests: the web server's publisher and the idle worker both find the new Redis.
    charlie = finished(accepted(api.deploy("charlie", 1))["id"])
    assert charlie.status == Release.Status.SUCCESSFUL, charlie.error
    own_redis.stop()
    own_redis.start()
    started = time.monotonic()
    removed = finished(accepted(api.delete("charlie"))["id"], 60)
    assert removed.status == Release.Status.SUCCESSFUL, removed.error
    assert time.monotonic() - started < 30, "picked up when the worker reconnected, not minutes later"

    assert Application.objects.get(pk=alpha["application_id"]).status == Application.Status.DELETED
    assert berth_containers(engine, alpha["application_id"]) == []
    assert worker.popen.poll() is None, worker.tail()
    engine.close()
