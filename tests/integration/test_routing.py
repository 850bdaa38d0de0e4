"""The routing service on real engines (issue 13): a router (HAProxy, ``local/berth-router:1``) on each of three
nodes in network namespaces (a, b, c) forwards requests by Host header and path to the containers of the services
that claimed them, on every node, over the cluster network; changes reach the routers without a failed request.

As in the cluster network's tests (``test_cluster_network``), this machine's engine is not a node here: it serves a
running console, and an engine is in one swarm only. Two nodes (a, b; one swarm manager) keep the swarm's own work
small on a 2-core machine: with three managers, a busy machine let attachments time out and stall an engine."""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Container
from clusters import docker_host as host
from clusters import pki
from clusters.models import Cluster, NodeTask
from clusters.operations import register_node
from routing import haproxy, routers, tasks
from routing.models import Certificate, Route, Router
from tests import harness
from tests.certs import self_signed
from tests.integration.conftest import wait_release
from tests.integration.test_cluster_network import client, deploy, nodes_in_namespaces, reset, wait_joined

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PORT = 9080
NUMBERS = {"a": 143, "b": 144}


@pytest.fixture(scope="module")
def engines(services: None) -> Iterator[dict[str, harness.NetnsNode]]:
    yield from nodes_in_namespaces(NUMBERS)


@pytest.fixture
def overlay(
    stack: harness.Stack, owner: User, api: APIClient, engines: dict[str, harness.NetnsNode]
) -> Iterator[Cluster]:
    """A cluster in overlay mode (made through the API) with nodes a and b."""
    made = api.post("/api/v1/clusters", {"name": "net", "network_mode": "overlay"}, format="json")
    assert made.status_code == 201, made.content
    cluster = Cluster.objects.get(pk=made.json()["id"])
    try:
        for name, node in engines.items():
            register_node(owner, cluster, name=name, endpoint=node.endpoint, publish_ip=node.address)
        yield cluster
    finally:
        reset(cluster, engines.values())


def get(node: harness.NetnsNode, domain: str, path: str = "/", cookie: str = "") -> tuple[int, str, str]:
    """One request to the router of ``node``: status, body (the answering container's hostname) and Set-Cookie."""
    connection = http.client.HTTPConnection(node.address, PORT, timeout=5)
    try:
        headers = {"Host": domain, **({"Cookie": cookie} if cookie else {})}
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read().decode(errors="replace").strip(), answer.getheader("Set-Cookie") or ""
    finally:
        connection.close()


def hostnames(cluster: Cluster, service: str) -> set[str]:
    """The hostnames (container ids, short) of a service's running containers: what SERVE answers with."""
    rows = Container.objects.filter(service__application__cluster=cluster, service__name=service, state="running")
    return {row.docker_id[:12] for row in rows}


def answers(node: harness.NetnsNode, domain: str, path: str = "/", times: int = 12) -> set[str]:
    found = set()
    for _ in range(times):
        status, body, _cookie = get(node, domain, path)
        assert status == 200, (status, body)
        found.add(body)
    return found


def routed(nodes: dict[str, harness.NetnsNode], domain: str, expected: set[str], timeout: float = 90) -> None:
    """Until every node's router answers ``domain`` from exactly the containers ``expected``."""

    seen: dict[str, object] = {}

    def ready() -> bool:
        for name, node in nodes.items():
            try:
                seen[name] = answers(node, domain)
            except (OSError, AssertionError) as exc:
                seen[name] = repr(exc)[:200]
        return all(found == expected for found in seen.values())

    try:
        harness.wait_until(ready, timeout, 1.0, f"the routers to answer {domain} from {sorted(expected)}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answers {seen}; the routers: {router_views(nodes)}") from None


def router_views(nodes: dict[str, harness.NetnsNode]) -> dict[str, str]:
    """What each node's router runs with and what it sees of its servers (for a failure's message)."""
    found = {}
    for name, node in nodes.items():
        engine = client(node)
        try:
            for container in engine.containers.list(filters={"label": routers.ROUTER_LABEL}):
                show = "printf 'show servers state\\n' | socat stdio UNIX-CONNECT:" + haproxy.ADMIN_SOCKET
                state = container.exec_run(["sh", "-c", show]).output.decode(errors="replace")
                config = container.exec_run(["cat", haproxy.CONFIG_PATH]).output.decode(errors="replace")
                found[name] = f"{container.status}\n{config}\n{state}"
        finally:
            engine.close()
    return found


def enable(api: APIClient, cluster: Cluster) -> None:
    changed = api.patch(f"/api/v1/clusters/{cluster.pk}/routing", {"enabled": True}, format="json")
    assert changed.status_code == 200, changed.content


DEEP = (
    "sh -c 'for d in /www /www/api /www/api/docs; do hostname > $$d/index.html; done; httpd -p 80 -h /www; "
    "exec sleep 1d'"
)
"""SERVE, answering under /api/ and /api/docs/ too (``working_dir`` makes the directories: the image has no mkdir);
httpd runs in the background, so that it can die while its container runs on."""

APP = f"""
services:
  web:
    image: local/netbox:1
    command: {DEEP}
    working_dir: /www/api/docs
    expose: ["80"]
    labels:
      aliyun.scale: "2"
      aliyun.routing.port_80: "web;http://www.example.test/api"
      aliyun.routing.session_sticky: "true"
  docs:
    image: local/netbox:1
    command: {DEEP}
    working_dir: /www/api/docs
    expose: ["80"]
    labels:
      aliyun.routing.port_80: "www.example.test/api/docs"
      aliyun.lb.port_80: "tcp://slb:8088"
"""


@pytest.fixture
def routing_on(api: APIClient, overlay: Cluster, engines: dict[str, harness.NetnsNode]) -> Iterator[Cluster]:
    wait_joined(api, overlay, {"a", "b"})
    enable(api, overlay)
    yield overlay


def test_requests_reach_every_replica_from_every_nodes_router_by_domain_and_path(
    api: APIClient,
    routing_on: Cluster,
    engines: dict[str, harness.NetnsNode],  # noqa: F811
) -> None:
    cluster = routing_on
    deploy(api, cluster, "shop", APP)
    webs, docs = hostnames(cluster, "web"), hostnames(cluster, "docs")
    assert len(webs) == 2 and len(docs) == 1
    assert {row.node.name for row in Container.objects.filter(service__name="web")} == {"a", "b"}
    routed(engines, "web.net.localhost", webs)
    for node in engines.values():  # the same routes on every node: the path claims, the longest prefix wins
        assert answers(node, "WWW.EXAMPLE.TEST:9080", "/api/") == webs
        assert answers(node, "www.example.test", "/api/docs/index.html", 3) == docs
        assert get(node, "www.example.test", "/apix")[0] == 404  # /api takes /api and below it, not /apix
        assert get(node, "nobody.example.test")[0] == 404
    # A TCP listener: front port 8088 of every node forwards (L4) to docs.
    for node in engines.values():
        connection = http.client.HTTPConnection(node.address, 8088, timeout=5)
        try:
            connection.request("GET", "/")
            assert connection.getresponse().read().decode().strip() in docs
        finally:
            connection.close()
    listed = api.get(f"/api/v1/clusters/{cluster.pk}/listeners").json()["results"]
    assert [(li["name"], li["protocol"], li["front_port"], li["service"]) for li in listed] == [
        ("slb", "tcp", 8088, "docs")
    ]
    shown = {router.node.name: router.state for router in Router.objects.filter(cluster=cluster)}
    assert shown == {"a": "running", "b": "running"}

    # Sticky: the router's cookie keeps a client on one replica.
    _status, first, cookie = get(engines["a"], "web.net.localhost")
    assert cookie.startswith(haproxy.COOKIE + "=")
    sticky = cookie.split(";")[0]
    assert {get(engines["b"], "web.net.localhost", cookie=sticky)[1] for _ in range(10)} == {first}

    # The API lists the routes with their backends as the routers see them (each checked healthy twice: up).
    def all_up() -> list[dict] | None:
        found = api.get(f"/api/v1/clusters/{cluster.pk}/routes?application=shop").json()["results"]
        return found if all(b["health"] == "UP" for r in found for b in r["backends"]) else None

    listed = harness.wait_until(all_up, 20, 1.0, "every backend to be up")
    assert {(r["address"], r["service"]) for r in listed} == {
        ("http://web.net.localhost:9080", "web"),
        ("http://www.example.test:9080/api", "web"),
        ("http://www.example.test:9080/api/docs", "docs"),
    }
    web_route = next(r for r in listed if r["domain"] == "web.net.localhost")
    assert {b["node"] for b in web_route["backends"]} == {"a", "b"}
    assert all(b["address"].endswith(":80") for b in web_route["backends"]), str(web_route["backends"])
    assert web_route["traffic"]["requests"] > 0

    # A backend whose httpd dies gets no traffic within the check interval, and comes back when it answers again.
    victim = Container.objects.get(service__name="web", node__name="b")
    engine = client(engines["b"])
    try:
        kill = 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = httpd ] && kill ${p#/proc/}; done; true'
        engine.containers.get(victim.name).exec_run(["sh", "-c", kill])
        time.sleep(haproxy.CHECK_INTER_MS / 1000 * 3)
        rest = webs - {victim.docker_id[:12]}
        for node in engines.values():
            assert answers(node, "web.net.localhost") == rest
        engine.containers.get(victim.name).exec_run(["sh", "-c", "httpd -p 80 -h /www"])
    finally:
        engine.close()
    routed(engines, "web.net.localhost", webs, timeout=30)

    # The routing service off: no router, nothing listens; on again: every route is back.
    off = api.patch(f"/api/v1/clusters/{cluster.pk}/routing", {"enabled": False}, format="json")
    assert off.status_code == 200, off.content

    def gone() -> bool:
        for node in engines.values():
            engine = client(node)
            try:
                if engine.containers.list(filters={"name": routers.name_of(cluster.pk)}):
                    return False
            finally:
                engine.close()
        return not Router.objects.filter(cluster=cluster).exists()

    harness.wait_until(gone, 60, 0.5, "the routers to go")
    with pytest.raises(OSError):
        get(engines["a"], "web.net.localhost")
    enable(api, cluster)
    routed(engines, "web.net.localhost", webs)
    assert answers(engines["b"], "www.example.test", "/api/docs/", 3) == docs

    # Deleting the application takes its routes away; the routers leave its network, so it can be removed.
    deleted = api.delete(f"/api/v1/clusters/{cluster.pk}/applications/shop")
    assert deleted.status_code == 202, deleted.content
    release = wait_release(deleted.json()["id"], timeout=120)
    events = [e.message for e in release.events.all()]
    assert release.status == "successful" and "Network shop_default removed." in events, events
    assert not Route.objects.filter(cluster=cluster).exists()

    def network_gone() -> bool:  # the swarm tells its nodes a moment later
        engine = client(engines["a"])
        try:
            return not engine.networks.list(names=["shop_default"])
        finally:
            engine.close()

    harness.wait_until(network_gone, 20, 0.5, "shop_default to be gone from the nodes")
    harness.wait_until(
        lambda: all(get(node, "web.net.localhost")[0] == 404 for node in engines.values()), 30, 0.5, "no route"
    )

    def listener_gone() -> bool:
        for node in engines.values():
            engine = client(node)
            try:
                if engine.containers.list(filters={"label": routers.LISTENER_LABEL}):
                    return False
            finally:
                engine.close()
        return True

    harness.wait_until(listener_gone, 30, 0.5, "the listener's routers to go with the application")


class Load:
    """At most ``connections`` clients sending GETs through one router for at most ``seconds`` (the network rule:
    only the project's own namespace nodes), counting answers that are not 200."""

    def __init__(self, node: harness.NetnsNode, domain: str, connections: int = 6, seconds: float = 60.0) -> None:
        self.node, self.domain, self.seconds = node, domain, seconds
        self.ok = 0
        self.failed: list[str] = []
        self.seen: dict[str, int] = {}  # the first word of each answer (a version, where the body starts with one)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(connections)]

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                status, body, _cookie = get(self.node, self.domain)
                outcome = "" if status == 200 and body else f"{status} {body[:60]}"
            except OSError as exc:
                outcome = repr(exc)
            with self.lock:
                if outcome:
                    self.failed.append(outcome)
                else:
                    self.ok += 1
                    word = body.split()[0]
                    self.seen[word] = self.seen.get(word, 0) + 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def test_scaling_and_weights_drop_no_request(
    api: APIClient,
    routing_on: Cluster,
    engines: dict[str, harness.NetnsNode],  # noqa: F811
) -> None:
    cluster = routing_on
    deploy(api, cluster, "shop", APP.split("  docs:")[0].replace('aliyun.scale: "2"', 'aliyun.scale: "3"'))
    routed(engines, "web.net.localhost", hostnames(cluster, "web"))
    assert len(hostnames(cluster, "web")) == 3
    scale_url = f"/api/v1/clusters/{cluster.pk}/applications/shop/services/web/scale"
    route = Route.objects.get(cluster=cluster, domain="web.net.localhost")
    with Load(engines["a"], "web.net.localhost") as load:
        time.sleep(2)
        for scale in (6, 2):
            scaled = api.post(scale_url, {"scale": scale}, format="json")
            assert scaled.status_code == 202, scaled.content
            assert wait_release(scaled.json()["id"], timeout=120).status == "successful"
            routed({"a": engines["a"]}, "web.net.localhost", hostnames(cluster, "web"), timeout=30)
        weighed = api.patch(f"/api/v1/clusters/{cluster.pk}/routes/{route.pk}", {"weight": 40}, format="json")
        assert weighed.status_code == 200, weighed.content
        harness.wait_until(lambda: load.ok >= 2000, 45, 0.5, "2,000 requests through the router")
    assert load.failed == [], load.failed[:10]
    assert load.ok >= 2000
    backend = haproxy.backend_name("web.net.localhost", "/")

    def weighed_everywhere() -> bool:
        for node in engines.values():
            text = routers.current_config(host.Endpoint(url=node.endpoint), routers.name_of(cluster.pk))
            weights = [w for (b, _s), (_a, _p, w) in haproxy.servers_of(text).items() if b == backend]
            if weights != [40, 40]:
                return False
        return True

    harness.wait_until(weighed_everywhere, 30, 0.5, "every router to give web weight 40")
    print(f"{load.ok} requests through the router, none failed")  # noqa: T201 - the figure for the closing note


def tls_get(node: harness.NetnsNode, domain: str, path: str = "/") -> tuple[str, int, str]:
    """One request over TLS to the router of ``node`` on 443, naming ``domain`` by SNI and Host: the SHA-256 of the
    certificate it answered with, the status and the body."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a test's own self-signed certificates; the fingerprint is what is checked
    with socket.create_connection((node.address, 443), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=domain) as wrapped:
            seen = hashlib.sha256(wrapped.getpeercert(binary_form=True) or b"").hexdigest()
            wrapped.sendall(f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := wrapped.recv(65536):
                data += chunk
    head, _sep, body = data.decode(errors="replace").partition("\r\n\r\n")
    return seen, int(head.split()[1]), body.strip()


def fingerprint_of(pem: str) -> str:
    return pki.fingerprint(pem).replace(":", "")


SECURE = """
services:
  web:
    image: local/netbox:1
    command: sh -c 'hostname > /www/index.html; exec httpd -f -p 80 -h /www'
    working_dir: /www
    expose: ["80"]
    labels:
      aliyun.routing.port_80: "https://secure.example.test;https://other.example.test;plain.example.test"
"""


def test_https_routes_answer_with_the_accounts_certificate_by_sni_and_redirect_when_asked(
    api: APIClient,
    routing_on: Cluster,
    engines: dict[str, harness.NetnsNode],  # noqa: F811
) -> None:
    cluster = routing_on
    secure = self_signed(["secure.example.test"], days=90)
    other = self_signed(["other.example.test", "*.other.example.test"], days=90)
    for name, pair in (("secure", secure), ("other", other)):
        made = api.post("/api/v1/certificates", {"name": name, "certificate": pair.cert_pem, "key": pair.key_pem})
        assert made.status_code == 201, made.content
    expired = self_signed(["old.example.test"], days=1, not_before=datetime.now(UTC) - timedelta(days=3))
    refused = api.post("/api/v1/certificates", {"name": "old", "certificate": expired.cert_pem, "key": secure.key_pem})
    assert refused.status_code == 400 and "does not match" in str(refused.json())
    refused = api.post("/api/v1/certificates", {"name": "old", "certificate": expired.cert_pem, "key": expired.key_pem})
    assert refused.status_code == 400 and "expired on" in str(refused.json())
    on = api.patch(f"/api/v1/clusters/{cluster.pk}/routing", {"https_port": True}, format="json")
    assert on.status_code == 200 and on.json()["https_port"] is True
    deploy(api, cluster, "site", SECURE)
    webs = hostnames(cluster, "web")
    routed(engines, "secure.example.test", webs)

    def served() -> bool:
        try:
            return all(tls_get(node, "secure.example.test")[1] == 200 for node in engines.values())
        except OSError:
            return False

    harness.wait_until(served, 60, 1.0, "every router to answer https on 443")
    for node in engines.values():  # each name gets its own certificate (SNI), and the request reaches the service
        assert tls_get(node, "secure.example.test") == (fingerprint_of(secure.cert_pem), 200, next(iter(webs)))
        assert tls_get(node, "other.example.test")[0] == fingerprint_of(other.cert_pem)
        assert tls_get(node, "www.other.example.test")[0] == fingerprint_of(other.cert_pem)  # its wildcard
        assert get(node, "secure.example.test")[0] == 200  # no redirect yet: plain http answers too
        assert tls_get(node, "plain.example.test")[1] == 404  # an http route is not served over TLS
    listed = api.get(f"/api/v1/clusters/{cluster.pk}/routes?application=site").json()["results"]
    shown = {r["domain"]: (r["address"], r["certificate"]) for r in listed}
    assert shown == {
        "secure.example.test": ("https://secure.example.test", "secure"),
        "other.example.test": ("https://other.example.test", "other"),
        "plain.example.test": ("http://plain.example.test:9080", ""),
    }

    route = Route.objects.get(cluster=cluster, domain="secure.example.test")
    url = f"/api/v1/clusters/{cluster.pk}/routes/{route.pk}"
    assert api.patch(url, {"redirect_https": True}, format="json").status_code == 200
    plain = Route.objects.get(cluster=cluster, domain="plain.example.test")
    refused = api.patch(f"/api/v1/clusters/{cluster.pk}/routes/{plain.pk}", {"redirect_https": True}, format="json")
    assert refused.status_code == 400

    def redirected() -> bool:
        return all(get(node, "secure.example.test", "/x?y=1")[0] == 302 for node in engines.values())

    harness.wait_until(redirected, 30, 0.5, "http to redirect to https")
    connection = http.client.HTTPConnection(engines["a"].address, PORT, timeout=5)
    try:
        connection.request("GET", "/x?y=1", headers={"Host": "secure.example.test:9080"})  # a browser's Host
        answer = connection.getresponse()
        assert answer.getheader("Location") == "https://secure.example.test/x?y=1"
    finally:
        connection.close()
    assert get(engines["a"], "other.example.test")[0] == 200  # its own route: not redirected
    assert tls_get(engines["b"], "secure.example.test")[1] == 200

    # A certificate deleted is served no more: the name falls back to the account's other one.
    gone = api.delete(f"/api/v1/certificates/{Certificate.objects.get(name='secure').pk}")
    assert gone.status_code == 204
    harness.wait_until(
        lambda: tls_get(engines["a"], "secure.example.test")[0] == fingerprint_of(other.cert_pem),
        30,
        0.5,
        "the deleted certificate to be served no more",
    )
    engine = client(engines["a"])
    try:  # its key is gone from the node too: only the current certificate directory is left in the router
        listing = engine.containers.get(routers.name_of(cluster.pk)).exec_run(["ls", haproxy.CERTS_DIR])
        assert len(listing.output.decode().split()) == 1, listing.output
    finally:
        engine.close()


def router_containers(node: harness.NetnsNode, cluster: Cluster) -> list[str]:
    engine = client(node)
    try:
        return [
            c.name for c in engine.containers.list(all=True, filters={"label": f"{routers.ROUTER_LABEL}={cluster.pk}"})
        ]
    finally:
        engine.close()


def test_a_node_that_joins_gets_a_router_a_removed_one_loses_it_and_a_lost_router_is_made_again(
    stack: harness.Stack, owner: User, api: APIClient, engines: dict[str, harness.NetnsNode]
) -> None:
    made = api.post("/api/v1/clusters", {"name": "net", "network_mode": "overlay"}, format="json")
    assert made.status_code == 201, made.content
    cluster = Cluster.objects.get(pk=made.json()["id"])
    a, b = engines["a"], engines["b"]
    try:
        register_node(owner, cluster, name="a", endpoint=a.endpoint, publish_ip=a.address)
        wait_joined(api, cluster, {"a"})
        enable(api, cluster)
        deploy(api, cluster, "shop", APP.split("  docs:")[0].replace('aliyun.scale: "2"', 'aliyun.scale: "1"'))
        webs = hostnames(cluster, "web")
        routed({"a": a}, "web.net.localhost", webs)

        # A router that went away (someone removed it) is made again, with every route, by the periodic sync.
        engine = client(a)
        try:
            engine.containers.get(routers.name_of(cluster.pk)).remove(force=True)
        finally:
            engine.close()
        with pytest.raises(OSError):
            get(a, "web.net.localhost")
        assert tasks.sync_all.apply().get() >= 1
        routed({"a": a}, "web.net.localhost", webs)

        # A node that joins later gets a router, which reaches the container on the other node.
        register_node(owner, cluster, name="b", endpoint=b.endpoint, publish_ip=b.address)
        wait_joined(api, cluster, {"a", "b"})
        routed({"b": b}, "web.net.localhost", webs)
        assert set(Router.objects.filter(cluster=cluster).values_list("node__name", flat=True)) == {"a", "b"}

        # A node removed from the cluster loses its router first.
        removed = api.delete(f"/api/v1/clusters/{cluster.pk}/nodes/b?drain=false")
        assert removed.status_code == 202, removed.content
        task = harness.wait_until(
            lambda: (t := NodeTask.objects.get(pk=removed.json()["id"])).status in NodeTask.TERMINAL and t, 180, 0.5
        )
        assert task.status == "successful", task.error
        assert router_containers(b, cluster) == []
        assert list(Router.objects.filter(cluster=cluster).values_list("node__name", flat=True)) == ["a"]
        assert answers(a, "web.net.localhost", times=3) == webs
    finally:
        reset(cluster, engines.values())
