"""A real router (HAProxy in its container on the local engine) brought from one configuration to another by
``routers.apply``: a server that leaves the configuration while a request is on it lets that request finish."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator

import docker
import pytest
from django.conf import settings

from clusters import docker_host as host
from routing import haproxy, routers
from tests import harness

pytestmark = pytest.mark.django_db(transaction=True)

DOMAIN = "slow.changes.localhost"
SLOW = "while true; do (sleep 3; printf 'HTTP/1.0 200 OK\\r\\n\\r\\nslow') | nc -l -p 80; done"
FAST = "while true; do printf 'HTTP/1.0 200 OK\\r\\n\\r\\nfast' | nc -l -p 80; done"


@pytest.fixture
def backends(engine: docker.DockerClient) -> Iterator[dict[str, str]]:
    """Two containers on a network of their own: ``slow`` answers after 3 s, ``fast`` at once (name → address)."""
    network = engine.networks.create(f"berth-test-changes-{harness.free_port()}", labels=host.managed())
    made = []
    try:
        for script in (SLOW, FAST):
            made.append(
                engine.containers.run(
                    "local/netbox:1", ["sh", "-c", script], detach=True, network=network.name, labels=host.managed()
                )
            )
        addresses = {}
        for name, container in zip(("slow", "fast"), made, strict=True):
            container.reload()
            addresses[name] = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        yield {"network": network.name, **addresses}
    finally:
        for container in made:
            container.remove(force=True)
        network.remove()


def unit(port: int, network: str, servers: list[haproxy.Server]) -> routers.Unit:
    backend = haproxy.backend_name(DOMAIN, "/")
    config = haproxy.Router(
        bind="0.0.0.0",  # noqa: S104 - inside the router's own namespace
        port=routers.CONTAINER_PORT,
        routes=(haproxy.Route(DOMAIN, "/", backend),),
        backends=(haproxy.Backend(backend, tuple(servers)),),
    )
    return routers.Unit(
        routers.name_of(990),
        routers.labels_of(990),
        {port: routers.CONTAINER_PORT},
        haproxy.build(config),
        frozenset({network}),
    )


def get(port: int) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": DOMAIN})
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def test_a_server_removed_while_a_request_is_on_it_lets_the_request_finish(backends: dict[str, str]) -> None:
    endpoint = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL)
    port = harness.free_port()
    slow, fast = haproxy.Server("slow", backends["slow"], 80), haproxy.Server("fast", backends["fast"], 80)
    first = unit(port, backends["network"], [slow])
    container_id, fresh = routers.ensure(endpoint, first, "127.0.0.1")
    try:
        assert fresh and routers.wait_listening(endpoint, container_id)
        harness.wait_until(lambda: _answers(port), 20, 0.3, "the router to answer")
        outcome: list[object] = []
        on_its_way = threading.Thread(target=lambda: outcome.append(_attempt(port)))
        on_its_way.start()
        time.sleep(1.0)  # the request waits on slow
        applied = routers.apply(endpoint, container_id, unit(port, backends["network"], [fast]), fresh=False)
        on_its_way.join(15)
        assert outcome == [(200, "slow")]  # not cut off: HAProxy refused to delete a busy server, the reload let it be
        assert applied.reloaded
        assert get(port) == (200, "fast")
        assert set(haproxy.servers_of(routers.current_config(endpoint, container_id))) == {
            (haproxy.backend_name(DOMAIN, "/"), "fast")
        }
    finally:
        host.remove_container(endpoint, container_id)


def _answers(port: int) -> bool:
    try:
        return get(port)[0] == 200
    except OSError:
        return False


def _attempt(port: int) -> object:
    try:
        return get(port)
    except OSError as exc:
        return repr(exc)
