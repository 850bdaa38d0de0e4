"""Fixtures shared by every layer: personas (three users in two tenants) and, on demand, the real stack."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.conf import settings

from accounts.models import Tenant, User
from tests import harness
from tests.registry import Registry

PASSWORD = "Correct-Horse-9"


def make_tenant(alias: str, admin: str = "admin") -> User:
    tenant = Tenant.objects.create(name=alias.title(), alias=alias)
    return User.objects.create_user(tenant, admin, PASSWORD, is_primary=True)


@pytest.fixture
def owner(db: None) -> User:
    """The primary account of tenant "acme"."""
    return make_tenant("acme")


@pytest.fixture
def member(owner: User) -> User:
    """A sub-account of "acme" with no policy attached yet."""
    return User.objects.create_user(owner.tenant, "dev", PASSWORD)


@pytest.fixture
def outsider(db: None) -> User:
    """The primary account of another tenant, "globex"."""
    return make_tenant("globex")


# --- the real stack (integration and e2e) -----------------------------------------------------


@pytest.fixture(scope="session")
def services() -> None:
    """Docker engine, Redis and the test image, started by the project's own script if needed."""
    harness.run_script("services.sh", timeout=900)
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no task or message of an earlier run arrives
    remove_test_containers()  # nor a container an interrupted run left behind


@pytest.fixture(scope="session")
def stack(services: None, django_db_setup: None, django_db_blocker: object) -> Iterator[harness.Stack]:
    """A Celery worker, the Docker events watcher and the ASGI server, on the test database."""
    port = harness.free_port()
    running = harness.Stack(url=f"http://127.0.0.1:{port}", port=port)
    try:
        running.procs["worker"] = harness.start_worker()
        running.procs["beat"] = harness.start_beat()
        running.procs["watcher"] = harness.start_watcher()
        running.procs["asgi"] = harness.start_asgi(port)
        yield running
    finally:
        running.stop()


def ours(**labels: object) -> dict[str, list[str]]:
    """A Docker ``filters`` value for what this test run made (its ``berth.instance``), narrowed by Berth labels:
    ``ours(application=3, service="web")`` filters on ``berth.application=3`` and ``berth.service=web``. A console
    serving on the same engine has applications with the same ids; its containers never match."""
    return {
        "label": [
            f"berth.instance={settings.BERTH_INSTANCE}",
            *(f"berth.{key}={value}" for key, value in labels.items()),
        ]
    }


def remove_test_containers() -> None:
    """Remove what this test run made on the local engine (label berth.instance of the test settings).

    A task of the test may still be finishing in the worker, so it sweeps a few times.
    """
    import time

    import docker

    client = docker.from_env()
    label = f"berth.instance={settings.BERTH_INSTANCE}"
    try:
        for _attempt in range(5):
            leftovers = 0
            for container in client.containers.list(all=True, filters={"label": label}):
                try:
                    container.remove(force=True)
                except docker.errors.APIError:
                    leftovers += 1
            for kind in (client.networks, client.volumes):
                for item in kind.list(filters={"label": label}):
                    try:
                        item.remove()
                    except docker.errors.APIError:
                        leftovers += 1
            if not leftovers:
                return
            time.sleep(0.5)
    finally:
        client.close()


@pytest.fixture
def clean_engine() -> Iterator[None]:
    """After the test, nothing it deployed stays on the local engine (ids restart in the next run)."""
    yield
    remove_test_containers()


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    """A registry on 127.0.0.1 sending blobs at 1 MB/s; afterwards its images leave the local engine."""
    reg = Registry(rate=1024 * 1024).start()
    host = reg.host
    try:
        yield reg
    finally:
        reg.stop()
        import docker

        client = docker.from_env()
        for image in client.images.list():
            if any(t.startswith(host + "/") for t in image.tags + (image.attrs.get("RepoDigests") or [])):
                try:
                    client.images.remove(image.id, force=True)
                except docker.errors.APIError:
                    pass
        client.close()


@pytest.fixture(scope="session")
def prometheus(stack: harness.Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Prometheus on the test settings' ``BERTH_PROMETHEUS_URL``, scraping the test stack's /metrics every
    5 s with the test scrape token, started by the project's own script (and stopped at the end)."""
    port = settings.BERTH_PROMETHEUS_URL.rstrip("/").rsplit(":", 1)[1]
    _stop_prometheus(port)  # an earlier session's (the integration layer's, before the e2e layer's)
    data = tmp_path_factory.mktemp("prometheus")
    env = {
        **os.environ,
        "BERTH_DATA_DIR": str(data),
        "BERTH_PROMETHEUS_PORT": port,
        "BERTH_PORT": str(stack.port),
        "BERTH_METRICS_TOKEN": settings.BERTH_METRICS_TOKEN,
    }
    subprocess.run([str(harness.ROOT / "scripts" / "prometheus.sh")], env=env, check=True, timeout=300)
    try:
        yield settings.BERTH_PROMETHEUS_URL
    finally:
        _stop_prometheus(port)


def _stop_prometheus(port: str) -> None:
    """Stop the test Prometheus on ``port`` and wait until it is gone (it holds its port while it shuts down)."""
    pattern = f"web.listen-address=127.0.0.1:{port}"
    subprocess.run(["pkill", "-TERM", "-f", pattern], check=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).returncode != 0:
            return
        time.sleep(0.2)
    subprocess.run(["pkill", "-KILL", "-f", pattern], check=False)
    time.sleep(0.5)
