"""Health bookkeeping (no engine: the stale-copy cleanup is replaced by a recorder)."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps import nodework
from clusters import health
from clusters.models import Cluster, Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(owner: User) -> Node:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    return Node.objects.create(
        cluster=cluster, name="n1", endpoint="unix:///nonexistent.sock", publish_ip="127.0.0.1", state=Node.State.READY
    )


def test_a_node_that_died_between_two_checks_still_loses_its_stale_copies(node, monkeypatch):
    answers = iter([None, 2])  # first: containers are being moved (wait); then: two stale copies removed
    calls = []

    def remove_stale(n):
        calls.append(n.pk)
        return next(answers)

    monkeypatch.setattr(nodework, "remove_stale", remove_stale)
    health.answered(node, {})
    assert calls == []  # nothing was left behind: no cleanup

    Node.objects.filter(pk=node.pk).update(stale_copies=True)  # a drain could not remove an old copy
    for _ in range(3):
        health.answered(Node.objects.get(pk=node.pk), {})
    assert calls == [node.pk, node.pk]  # retried once it had to wait, then done
    assert not Node.objects.get(pk=node.pk).stale_copies
