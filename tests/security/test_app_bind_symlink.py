"""On the real engine: a symlink that a first application plants in an allowed directory does not let a second
one read outside the allow list (issue 9, item 5). Only files under this test's own temporary directory are
made or read on this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from accounts.models import User
from apps.models import Application, Release
from clusters.models import Cluster
from clusters.operations import ensure_local_cluster
from tests import harness
from tests.conftest import ours
from tests.security.app_world import client_for, deploy_url, subaccount

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "outside-the-allow-list-2718"


@pytest.fixture
def local(stack: harness.Stack, owner: User, clean_engine: None, tmp_path: Path) -> Iterator[tuple[Cluster, Path]]:
    """The local engine as the owner's cluster; its policy allows one directory of this test's own."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    cluster = ensure_local_cluster(owner.tenant, actor=owner)
    cluster.security_policy = {"bind_allow": [str(allowed)]}
    cluster.save()
    yield cluster, tmp_path


def finished(release_id: int) -> Release:
    def done() -> Release | None:
        release = Release.objects.get(pk=release_id)
        return release if release.status in Release.TERMINAL else None

    return harness.wait_until(done, 90, 0.2, f"release {release_id}")


def compose(command: str, volume: str) -> str:
    return (
        "services:\n  box:\n    image: local/busybox:1\n    init: true\n"
        f"    command: [sh, -c, '{command}']\n    volumes: ['{volume}']\n"
    )


def test_a_symlink_planted_in_an_allowed_directory_does_not_reach_outside_it(
    owner: User, local: tuple[Cluster, Path]
) -> None:
    cluster, root = local
    allowed, outside = root / "allowed", root / "outside"
    dev = client_for(subaccount(owner, "dev", cluster, "operator"))

    # A first application of the sub-account writes into the allowed directory: a symlink to outside it.
    planter = compose(f"busybox ln -s {outside} /data/link && sleep 3600", f"{allowed}:/data")
    made = dev.post(deploy_url(cluster), {"name": "planter", "compose": planter}, format="json")
    assert made.status_code == 202, made.content
    assert finished(made.json()["id"]).status == "successful"
    harness.wait_until(lambda: os.path.islink(allowed / "link"), 20, 0.2, "the planted symlink")

    # A second one mounts the symlink: the host would follow it when the container starts. Refused.
    peek = compose("cat /peek/secret.txt; sleep 3600", f"{allowed}/link:/peek:ro")
    refused = dev.post(deploy_url(cluster), {"name": "peek", "compose": peek}, format="json")
    assert refused.status_code == 400, refused.content
    assert "below the allowed host directory" in refused.content.decode()
    assert not Application.objects.filter(name="peek").exists()

    # What may be mounted, the allowed directory itself, keeps the symlink inside the container: it leads nowhere.
    reader = compose("cat /data/link/secret.txt; sleep 3600", f"{allowed}:/data:ro")
    made = dev.post(deploy_url(cluster), {"name": "reader", "compose": reader}, format="json")
    assert made.status_code == 202, made.content
    assert finished(made.json()["id"]).status == "successful"
    app = Application.objects.get(name="reader")
    engine = docker.from_env()
    try:
        container = engine.containers.list(filters=ours(application=app.pk), ignore_removed=True)[0]
        logs = harness.wait_until(lambda: container.logs().decode(), 20, 0.2, "the reader's output")
        assert SECRET not in logs and "No such file" in logs
    finally:
        engine.close()
