"""Helpers of the application attack tests: API clients with real access keys, a cluster of unreachable nodes
(plans and refusals need no engine), sub-accounts with a cluster role and, when asked, a custom policy."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import AccessKey, User
from clusters.models import Cluster, Node
from tests.conftest import PASSWORD


def client_for(user: User) -> APIClient:
    """An API client signed in with a fresh access key of ``user``."""
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def make_cluster(owner: User, name: str = "c1", nodes: int = 2) -> Cluster:
    """A cluster of ready nodes that do not answer: enough for plans, refusals and queued releases."""
    cluster = Cluster.objects.create(tenant=owner.tenant, name=name)
    for index in range(1, nodes + 1):
        Node.objects.create(
            cluster=cluster,
            name=f"n{index}",
            endpoint=f"unix:///nonexistent-{name}-n{index}.sock",
            publish_ip="127.0.0.1",
            state=Node.State.READY,
        )
    return cluster


def subaccount(owner: User, name: str, cluster: Cluster | None = None, role: str = "", statements: Any = None) -> User:
    """A sub-account of ``owner``'s tenant with ``role`` on ``cluster`` and a custom policy of ``statements``."""
    user = ram.create_subaccount(owner, name=name, password=PASSWORD)
    if cluster is not None and role:
        ram.grant(owner, f"user:{name}", cluster, role)
    if statements:
        document = {"Version": "1", "Statement": statements}
        ram.attach_policy(owner, ram.create_policy(owner, name=f"{name}-policy", document=document), user=user)
    return User.objects.get(pk=user.pk)


def deploy_url(cluster: Cluster) -> str:
    return f"/api/v1/clusters/{cluster.pk}/applications"
