"""One application across two extra nodes: each a dockerd in its own network namespace."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import docker
import pytest
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Container
from clusters.models import Cluster, Node
from clusters.operations import register_node
from tests import harness
from tests.conftest import ours
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def netns_nodes(services: None) -> Iterator[list[harness.NetnsNode]]:
    nodes = [harness.netns_node(11), harness.netns_node(12)]
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop_engine()


def test_app_spreads_across_two_netns_nodes(
    stack: harness.Stack, owner: User, api: APIClient, netns_nodes: list[harness.NetnsNode]
) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="pair")
    for node in netns_nodes:
        registered = register_node(
            owner, cluster, name=f"n{node.number}", endpoint=node.endpoint, publish_ip=node.address
        )
        assert registered.state == Node.State.READY and registered.info["engine_version"]

    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications",
        {
            "name": "spread",
            "image": "local/busybox:1",
            "command": "httpd -f -p 80 -h /www",
            "scale": 4,
            "container_port": 80,
        },
        format="json",
    )
    release = wait_release(response.json()["id"])
    assert release.status == "successful", release.error

    rows = list(Container.objects.filter(service__application=release.application).select_related("node"))
    assert sorted(c.node.name for c in rows) == ["n11", "n11", "n12", "n12"]
    for row in rows:
        with urllib.request.urlopen(f"http://{row.node.publish_ip}:{row.published_port}/", timeout=5) as r:  # noqa: S310
            assert "hello from berth" in r.read().decode()
    for node in netns_nodes:
        on_node = docker.DockerClient(base_url=node.endpoint).containers.list(
            filters=ours(application=release.application_id), ignore_removed=True
        )
        assert len(on_node) == 2

    deleted = wait_release(api.delete(f"/api/v1/clusters/{cluster.pk}/applications/spread").json()["id"])
    assert deleted.status == "successful", deleted.error
    for node in netns_nodes:
        client = docker.DockerClient(base_url=node.endpoint)
        assert (
            client.containers.list(all=True, filters=ours(application=release.application_id), ignore_removed=True)
            == []
        )
        assert client.networks.list(names=["spread_default"]) == []


def test_unanswering_endpoint_is_refused_at_registration(stack: harness.Stack, owner: User) -> None:
    from django.core.exceptions import ValidationError

    cluster = Cluster.objects.create(tenant=owner.tenant, name="lonely")
    with pytest.raises(ValidationError, match="did not answer"):
        register_node(owner, cluster, name="ghost", endpoint="tcp://127.0.0.1:9", publish_ip="127.0.0.1")
    assert not Node.objects.filter(cluster=cluster).exists()
