"""Fixtures several unit test modules share."""

from __future__ import annotations

import pytest

from accounts.models import User
from clusters.models import Cluster, Node


@pytest.fixture
def overlay(owner: User) -> Cluster:
    """A cluster of "acme" in overlay mode with one ready node (n1, 10.250.3.2)."""
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1", network_mode=Cluster.NetworkMode.OVERLAY)
    Node.objects.create(
        cluster=cluster, name="n1", endpoint="tcp://10.250.3.2:2375", publish_ip="10.250.3.2", state=Node.State.READY
    )
    return cluster
