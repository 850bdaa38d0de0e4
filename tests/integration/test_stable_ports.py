"""A port published without a host port keeps the host port Berth pinned for it at creation, for the life of the
container: across Berth's stop, start and restart, ``docker restart`` and ``docker stop``/``start`` behind Berth's
back, and a restart of the engine. A container that does not run shows no address (API and live messages)."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator

import docker
import pytest
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Application
from clusters import operations as ops
from clusters.models import Cluster
from tests import harness
from tests.conftest import ours
from tests.integration.conftest import wait_release
from tests.integration.test_live import collect, session_cookie, ws_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HTTPD = "httpd -f -p 80 -h /www"


def addresses(api: APIClient, cluster: Cluster, name: str) -> dict[str, str]:
    detail = api.get(f"/api/v1/clusters/{cluster.pk}/applications/{name}").json()
    return {c["name"]: c["address"] for s in detail["services"] for c in s["containers"]}


def answers(address: str) -> bool:
    with urllib.request.urlopen(f"http://{address}/", timeout=5) as response:  # noqa: S310 - test addresses only
        return "hello from berth" in response.read().decode()


def bound(client: docker.DockerClient, name: str) -> str:
    """The host port the engine publishes the container's port 80 on now."""
    container = client.containers.get(name)
    return container.ports["80/tcp"][0]["HostPort"]


def live_containers(stack: harness.Stack, owner: User, app: Application) -> dict[str, dict]:
    """The containers as a page subscribing now is told about them (the live snapshot)."""
    subscribe = {"action": "subscribe", "type": "application", "id": app.pk}
    seen = asyncio.run(
        collect(ws_url(stack), session_cookie(owner), subscribe, lambda s: any(m.get("type") == "release" for m in s))
    )
    return {m["name"]: m for m in seen if m.get("type") == "container"}


def test_engine_chosen_port_is_the_same_after_every_stop_start_and_restart(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient, owner: User, stack: harness.Stack
) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    body = {"name": "steady", "image": "local/busybox:1", "command": HTTPD, "container_port": 80, "scale": 2}
    assert wait_release(api.post(url, body, format="json").json()["id"]).status == "successful"
    app = Application.objects.get(name="steady")
    first = addresses(api, cluster, "steady")
    assert len(set(first.values())) == 2 and all(a.startswith("127.0.0.1:") for a in first.values())
    for name, address in first.items():
        assert bound(engine, name) == address.rsplit(":", 1)[1] and answers(address)

    # Behind Berth's back: the engine restarts the container, or it is stopped and started again.
    engine.containers.get("steady_steady_1").restart(timeout=1)
    engine.containers.get("steady_steady_2").stop(timeout=1)
    engine.containers.get("steady_steady_2").start()
    for name, address in first.items():
        assert bound(engine, name) == address.rsplit(":", 1)[1] and answers(address)

    # Through Berth: stopped containers show no address, in the API and live; started again, the same ones.
    assert wait_release(api.post(f"{url}/steady/stop").json()["id"]).status == "successful"
    assert set(addresses(api, cluster, "steady").values()) == {""}
    shown = live_containers(stack, owner, app)
    assert {(m["state"], m["address"]) for m in shown.values()} == {("exited", "")}
    assert wait_release(api.post(f"{url}/steady/start").json()["id"]).status == "successful"
    assert addresses(api, cluster, "steady") == first
    assert {m["address"] for m in live_containers(stack, owner, app).values()} == set(first.values())
    assert wait_release(api.post(f"{url}/steady/restart").json()["id"]).status == "successful"
    assert addresses(api, cluster, "steady") == first
    for name, address in first.items():
        assert bound(engine, name) == address.rsplit(":", 1)[1] and answers(address)


@pytest.fixture
def node70(stack: harness.Stack, owner: User) -> Iterator[tuple[Cluster, harness.NetnsNode]]:
    """A cluster of its own with one node: an engine in network namespace 70."""
    cluster = ops.create_cluster(owner, name="ports")
    node = harness.netns_node(70)
    try:
        ops.register_node(owner, cluster, name="n70", endpoint=node.endpoint, publish_ip=node.address)
        yield cluster, node
    finally:
        node.stop_engine()


def test_engine_chosen_port_survives_an_engine_restart(
    api: APIClient, node70: tuple[Cluster, harness.NetnsNode]
) -> None:
    cluster, node = node70
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    body = {"name": "sturdy", "image": "local/busybox:1", "command": HTTPD, "container_port": 80}
    assert wait_release(api.post(url, body, format="json").json()["id"]).status == "successful"
    [address] = addresses(api, cluster, "sturdy").values()
    assert address.startswith(f"{node.address}:")
    client = docker.DockerClient(base_url=node.socket)
    try:
        assert bound(client, "sturdy_sturdy_1") == address.rsplit(":", 1)[1]
        harness.run_script("netns-node.sh", "restart", "70", timeout=180)  # dockerd stops, then starts again
        client.close()
        client = docker.DockerClient(base_url=node.socket)

        def back() -> bool:
            found = client.containers.list(filters=ours(application=Application.objects.get(name="sturdy").pk))
            return bool(found) and found[0].status == "running"

        harness.wait_until(back, 60, 0.5, "the container to come back by its restart policy")
        assert bound(client, "sturdy_sturdy_1") == address.rsplit(":", 1)[1]
        harness.wait_until(lambda: addresses(api, cluster, "sturdy") == {"sturdy_sturdy_1": address}, 30, 0.5, "live")
        assert answers(address)
    finally:
        client.close()
