"""Integration fixtures: the real stack, the local engine as a cluster, helpers to wait for releases."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps.models import Release
from clusters.models import Cluster
from clusters.operations import ensure_local_cluster
from tests import harness
from tests.conftest import ours


@pytest.fixture(scope="session")
def engine(services: None) -> Iterator[docker.DockerClient]:
    """The local Docker engine, for assertions from the outside."""
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def cluster(stack: harness.Stack, owner: User) -> Cluster:
    """The owner's cluster "local": this machine's engine."""
    return ensure_local_cluster(owner.tenant, actor=owner)


@pytest.fixture
def api(owner: User) -> APIClient:
    """An API client authenticated as the owner with a real access key."""
    key, secret = AccessKey.objects.issue(owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def wait_release(release_id: int, timeout: float = 90.0) -> Release:
    """Wait until the release is terminal and return it."""

    def done() -> Release | None:
        release = Release.objects.get(pk=release_id)
        return release if release.status in Release.TERMINAL else None

    return harness.wait_until(done, timeout, 0.2, f"release {release_id} to finish")


def berth_containers(client: docker.DockerClient, app_id: int) -> list:
    return client.containers.list(all=True, filters=ours(application=app_id), ignore_removed=True)


@pytest.fixture(autouse=True)
def _clean_engine_after(clean_engine: None) -> None:
    """Every test of this layer leaves the local engine as it found it."""
