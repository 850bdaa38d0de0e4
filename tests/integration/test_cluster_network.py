"""The cluster network on real engines (issue 12): three dockerds in network namespaces (a, b, c) form the swarm
Berth keeps among a cluster's nodes, and containers on different nodes reach each other by name through attachable
overlay networks and the engines' embedded DNS.

This machine's engine is not a node here: it is shared with a running console, and an engine is in one swarm only
(the test settings give clusters the bridge mode unless a test says overlay). Between the tests every engine leaves
whatever swarm it is in, so each test starts from engines that are in none."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterable, Iterator

import docker
import pytest
import requests
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Application, Container
from clusters import hostaccess, network
from clusters.models import Cluster, Network, Node, NodeTask
from clusters.operations import register_node
from clusters.providers import PROVIDERS
from console.audit import OperationLog
from tests import harness
from tests.conftest import ours
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NUMBERS = {"a": 140, "b": 141, "c": 142}
SERVE = "sh -c 'hostname > /www/index.html && exec httpd -f -p 80 -h /www'"
"""A container that answers an HTTP request on port 80 with its hostname."""


def nodes_in_namespaces(numbers: dict[str, int]) -> Iterator[dict[str, harness.NetnsNode]]:
    """The nodes ``numbers`` names, reaching each other through this machine while the generator runs."""
    made: dict[str, harness.NetnsNode] = {}
    with harness.forwarding_between_nodes():
        try:
            for name, number in numbers.items():
                made[name] = harness.netns_node(number)
            yield made
        finally:
            for node in made.values():
                node.stop_engine()


@pytest.fixture(scope="module")
def engines(services: None) -> Iterator[dict[str, harness.NetnsNode]]:
    yield from nodes_in_namespaces(NUMBERS)


def client(node: harness.NetnsNode) -> docker.DockerClient:
    return docker.DockerClient(base_url=node.socket, timeout=30)


@pytest.fixture
def overlay(
    stack: harness.Stack, owner: User, api: APIClient, engines: dict[str, harness.NetnsNode]
) -> Iterator[Cluster]:
    """A cluster in overlay mode (made through the API) with nodes a, b and c; a and c carry ``tier=db``."""
    made = api.post("/api/v1/clusters", {"name": "net", "network_mode": "overlay"}, format="json")
    assert made.status_code == 201, made.content
    cluster = Cluster.objects.get(pk=made.json()["id"])
    try:
        for name, node in engines.items():
            labels = {"tier": "db"} if name in ("a", "c") else {}
            register_node(owner, cluster, name=name, endpoint=node.endpoint, publish_ip=node.address, labels=labels)
        yield cluster
    finally:
        reset(cluster, engines.values())


def reset(cluster: Cluster, nodes: Iterable[harness.NetnsNode]) -> None:
    """The next test starts from engines in no swarm, with none of our containers. The cluster's nodes are retired
    first and a converge in flight is waited for (it holds the cluster's lock): one the health check asked for
    earlier would otherwise make a swarm again on engines that just left theirs."""
    Node.objects.filter(cluster=cluster).update(state=Node.State.REMOVED)
    with network._locked(cluster.pk):
        pass
    for node in nodes:
        try:
            engine = client(node)
            engine.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            node.start_engine()
            engine = client(node)
        try:
            for container in engine.containers.list(all=True, filters=ours(), ignore_removed=True):
                container.remove(force=True)
            engine.swarm.leave(force=True)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            pass  # answered below: the engine leaves, or is started again
        finally:
            engine.close()
        # An engine that just left its swarm tears its overlays down for a while and may not answer the next test's
        # registration in time; one whose leave timed out (a manager that lost its quorum) is asked again. The next
        # test starts once it answers at once, in no swarm, with none of our containers.
        try:
            harness.wait_until(lambda node=node: settled(node), 60, 0.5, f"{node.endpoint} to settle")
        except AssertionError:  # an engine that stalled for good: started again (same data), then settled
            harness.run_script("netns-node.sh", "stop", str(node.number))
            node.start_engine()
            try:
                harness.wait_until(lambda node=node: settled(node), 90, 0.5, f"{node.endpoint} to settle")
            except AssertionError:  # a manager restarted after its quorum was lost may stay in its swarm: as before
                pass  # this stop, the next test's own waits (wait_joined) tell whether the engines serve it


def settled(node: harness.NetnsNode) -> bool:
    """Whether the engine answers ``info`` within 2 s, in no swarm and without our containers; when it answers but
    is still in a swarm or holds some, it is asked to leave and to remove them (the next call tells)."""
    engine = docker.DockerClient(base_url=node.socket, timeout=2)
    try:
        state = engine.info()["Swarm"]["LocalNodeState"]
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False
    finally:
        engine.close()
    patient = docker.DockerClient(base_url=node.socket, timeout=30)
    try:
        left = patient.containers.list(all=True, filters=ours(), ignore_removed=True)
        for container in left:
            container.remove(force=True)
        if state != "inactive":
            patient.swarm.leave(force=True)
            return False
        patient.networks.prune()
        return not left
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False
    finally:
        patient.close()


def network_states(api: APIClient, cluster: Cluster) -> dict[str, str]:
    body = api.get(f"/api/v1/clusters/{cluster.pk}/nodes").json()
    return {row["name"]: row["network"] for row in body["results"]}


def wait_joined(
    api: APIClient, cluster: Cluster, names: set[str], managers: int | None = None, timeout: float = 90
) -> dict[str, str]:
    """Until the nodes ``names`` are in the cluster network (``managers`` of them managers), as the API shows it:
    the health check's converge does it."""

    def joined() -> dict[str, str] | None:
        states = network_states(api, cluster)
        if not all(states.get(n) in ("manager", "worker") for n in names):
            return None
        return states if managers is None or list(states.values()).count("manager") == managers else None

    return harness.wait_until(joined, timeout, 0.5, f"nodes {sorted(names)} to join the cluster network")


def ask(node: harness.NetnsNode, container: str, target: str, port: int = 80) -> str:
    """From inside ``container`` on ``node``: an HTTP request to ``target`` (a name or an address) by ``nc``; the
    answer's body (the answering container's hostname), or "" when nothing answered."""
    request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} {port}"
    engine = client(node)
    try:
        result = engine.containers.get(container).exec_run(["sh", "-c", request])
    finally:
        engine.close()
    lines = result.output.decode(errors="replace").strip().splitlines()
    return lines[-1].strip() if result.exit_code == 0 and lines and lines[0].startswith("HTTP/") else ""


def addresses(node: harness.NetnsNode, container: str, name: str) -> set[str]:
    """The addresses ``name`` resolves to inside ``container`` (the engine's embedded DNS, by nslookup)."""
    engine = client(node)
    try:
        out = engine.containers.get(container).exec_run(["nslookup", name]).output.decode(errors="replace")
    finally:
        engine.close()
    found, after_answer = set(), False
    for line in out.splitlines():
        if "answer" in line.lower():
            after_answer = True
        elif after_answer and line.startswith("Address"):
            found.add(line.split(":", 1)[1].strip().split()[0])
    return found


def where(cluster: Cluster, app: str) -> dict[str, tuple[str, str]]:
    """Container name → (node name, its address on ``<app>_default``), as the engines say."""
    found = {}
    for row in Container.objects.filter(service__application__name=app, service__application__cluster=cluster):
        node = row.node
        engine = docker.DockerClient(base_url=node.endpoint, timeout=30)
        try:
            attrs = engine.containers.get(row.name).attrs
        finally:
            engine.close()
        found[row.name] = (node.name, attrs["NetworkSettings"]["Networks"][f"{app}_default"]["IPAddress"])
    return found


NAMES_SETTLE = 75.0
"""Seconds a name may take to follow new containers on another node. The engines tell each other of a container
that joined or left by gossip; one that missed a message learns it at the next full exchange, every 30 s."""


def resolves_to(node: harness.NetnsNode, container: str, name: str, expected: set[str]) -> None:
    seen: list[set[str]] = []

    def settled() -> bool:
        seen.append(addresses(node, container, name))
        return seen[-1] == expected

    try:
        harness.wait_until(settled, NAMES_SETTLE, 0.5, f"{name} to resolve to {sorted(expected)}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answer {sorted(seen[-1]) if seen else None}") from None


def deploy(api: APIClient, cluster: Cluster, name: str, compose: str) -> Application:
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications", {"name": name, "compose": compose}, format="json"
    )
    assert response.status_code == 202, response.content
    release = wait_release(response.json()["id"], timeout=180)
    assert release.status == "successful", release.error
    return Application.objects.get(cluster=cluster, name=name)


APP = f"""
services:
  db:
    image: local/netbox:1
    command: {SERVE}
    hostname: dbhost
    environment:
      - constraint:tier==db
    networks:
      default:
        aliases: [database]
  web:
    image: local/netbox:1
    command: {SERVE}
    scale: 2
    links: ["db:legacy"]
    environment:
      - constraint:node.name==b
"""


def test_services_on_different_nodes_find_each_other_by_name(
    api: APIClient, overlay: Cluster, engines: dict[str, harness.NetnsNode]
) -> None:
    wait_joined(api, overlay, {"a", "b", "c"}, managers=3)  # 3 ready nodes: 3 managers
    shown = api.get(f"/api/v1/clusters/{overlay.pk}").json()
    assert shown["network_mode"] == "overlay" and shown["network_pool"] == "10.201.0.0/16"
    assert OperationLog.objects.filter(action="cs:JoinClusterNetwork", cluster_id=overlay.pk).count() == 3

    deploy(api, overlay, "net", APP)
    placed = where(overlay, "net")
    assert placed["net_db_1"][0] == "a"
    assert placed["net_web_1"][0] == placed["net_web_2"][0] == "b"
    network = client(engines["a"]).networks.get("net_default").attrs
    assert network["Driver"] == "overlay" and network["Attachable"] and network["Scope"] == "swarm"
    assert network["IPAM"]["Config"][0]["Subnet"].startswith("10.201.")

    # From a web container on b: db on a, by service name, container name, alias, link alias and hostname.
    for name in ("db", "net_db_1", "database", "legacy", "dbhost"):
        assert ask(engines["b"], "net_web_1", name) == "dbhost", name
    # From db on a: the service name of two replicas resolves to both, and each answers.
    webs = {placed["net_web_1"][1], placed["net_web_2"][1]}
    assert addresses(engines["a"], "net_db_1", "web") == webs
    answers = {ask(engines["a"], "net_db_1", address) for address in webs}
    assert len(answers) == 2 and "" not in answers

    # Scale db to 2: the second lands on c (tier=db, spread); the name resolves to both, on both nodes.
    scaled = api.post(f"/api/v1/clusters/{overlay.pk}/applications/net/services/db/scale", {"scale": 2}, format="json")
    assert wait_release(scaled.json()["id"], timeout=180).status == "successful"
    placed = where(overlay, "net")
    assert {placed["net_db_1"][0], placed["net_db_2"][0]} == {"a", "c"}
    dbs = {placed["net_db_1"][1], placed["net_db_2"][1]}
    assert addresses(engines["b"], "net_web_2", "db") == dbs
    for address in dbs:
        assert ask(engines["b"], "net_web_2", address) == "dbhost"

    # Update db (a new environment value): its containers are made anew, and the names follow the new ones.
    pin = "      - constraint:tier==db\n"
    updated_compose = APP.replace(pin, pin + "      - VERSION=2\n", 1).replace(
        "    hostname: dbhost\n", "    hostname: dbhost\n    scale: 2\n", 1
    )  # the file is the desired state: db keeps its 2 containers
    updated = api.patch(f"/api/v1/clusters/{overlay.pk}/applications/net", {"compose": updated_compose}, format="json")
    assert updated.status_code == 202, updated.content
    assert wait_release(updated.json()["id"], timeout=180).status == "successful"
    placed = where(overlay, "net")
    renewed = {address for name, (_node, address) in placed.items() if "_db_" in name}
    assert len(renewed) == 2 and not renewed & dbs, placed  # two new containers, new addresses
    resolves_to(engines["b"], "net_web_2", "db", renewed)
    for address in renewed:
        assert ask(engines["b"], "net_web_2", address) == "dbhost"

    # Drain and remove a: its db moves to c, the name follows it; a leaves the swarm and the cluster network.
    removed = api.delete(f"/api/v1/clusters/{overlay.pk}/nodes/a?drain=true")
    assert removed.status_code == 202, removed.content
    task = harness.wait_until(
        lambda: (t := NodeTask.objects.get(pk=removed.json()["id"])).status in NodeTask.TERMINAL and t, 180, 0.5
    )
    assert task.status == "successful", task.error
    placed = where(overlay, "net")
    assert {node for node, _address in placed.values()} == {"b", "c"}
    dbs = {address for name, (_node, address) in placed.items() if "_db_" in name}
    assert len(dbs) == 2
    resolves_to(engines["b"], "net_web_1", "db", dbs)
    # The name is right at once; the overlay's path to the container that just moved to c follows by gossip.
    harness.wait_until(lambda: ask(engines["b"], "net_web_1", "db") == "dbhost", NAMES_SETTLE, 0.5, "db to answer")
    assert client(engines["a"]).info()["Swarm"]["LocalNodeState"] == "inactive"
    assert "a" not in network_states(api, overlay)
    assert OperationLog.objects.filter(action="cs:LeaveClusterNetwork", target="a").exists()
    wait_joined(api, overlay, {"b", "c"}, managers=1)  # 2 ready nodes: 1 manager

    # Delete: the application's overlay is gone from the swarm.
    deleted = wait_release(api.delete(f"/api/v1/clusters/{overlay.pk}/applications/net").json()["id"])
    assert deleted.status == "successful", deleted.error
    managers = [n for n, s in network_states(api, overlay).items() if s == "manager"]
    gone = client(engines[managers[0]])
    harness.wait_until(lambda: gone.networks.list(names=["net_default"]) == [], 15, 0.5, "the overlay to go")


def one(node: str, shared: bool = False, ports: bool = False) -> str:
    """An application of one service ``api`` on ``node``; with ``shared``, on the shared network "common" too; with
    ``ports``, its port 80 published on the node."""
    text = f"services:\n  api:\n    image: local/netbox:1\n    command: {SERVE}\n"
    text += f"    environment: ['constraint:node.name=={node}']\n" + ("    ports: ['80']\n" if ports else "")
    if shared:
        text += "    networks: [default, common]\nnetworks:\n  common:\n    external: true\n"
    return text


def test_applications_are_apart_unless_they_share_a_network_and_a_dead_node_cuts_no_one_off(
    api: APIClient, overlay: Cluster, engines: dict[str, harness.NetnsNode]
) -> None:
    wait_joined(api, overlay, {"a", "b", "c"})
    deploy(api, overlay, "left", one("a", ports=True))
    deploy(api, overlay, "right", one("b"))
    published = Container.objects.get(name="left_api_1")  # published ports work as in bridge mode
    url = f"http://{engines['a'].address}:{published.published_port}/"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (a test node's address)
        assert answer.read().decode().strip()
    right_address = where(overlay, "right")["right_api_1"][1]
    # Each reaches its own (once its name is known on the network and its httpd listens: a just-started container
    # may not answer yet), and only then the refusals below say something.
    harness.wait_until(lambda: ask(engines["b"], "right_api_1", "api") != "", 30, 1.0, "right's api to answer its name")
    assert ask(engines["a"], "left_api_1", "right_api_1") == ""  # no name across applications
    assert ask(engines["a"], "left_api_1", right_address) == ""  # nor a route

    # Several networks of one application, a service on some of them: front reaches api, api reaches db, front
    # does not reach db (they share no network), across nodes.
    tiers = (
        f"services:\n  front:\n    image: local/netbox:1\n    command: {SERVE}\n    networks: [outside]\n"
        "    environment: ['constraint:node.name==a']\n"
        f"  api:\n    image: local/netbox:1\n    command: {SERVE}\n    networks: [outside, inside]\n"
        "    environment: ['constraint:node.name==b']\n"
        f"  db:\n    image: local/netbox:1\n    command: {SERVE}\n    networks: [inside]\n"
        "    environment: ['constraint:node.name==a']\n"
        "networks:\n  outside: {}\n  inside: {}\n"
    )
    deploy(api, overlay, "tiers", tiers)
    assert ask(engines["a"], "tiers_front_1", "api") != ""
    assert ask(engines["b"], "tiers_api_1", "db") != ""
    assert ask(engines["a"], "tiers_front_1", "db") == ""
    assert ask(engines["a"], "tiers_front_1", "tiers_db_1") == ""

    # A shared network: made through the API, listed with the applications that join it.
    made = api.post(f"/api/v1/clusters/{overlay.pk}/networks", {"name": "common"}, format="json")
    assert made.status_code == 201, made.content
    deploy(api, overlay, "alpha", one("a", shared=True))
    deploy(api, overlay, "beta", one("b", shared=True))
    assert ask(engines["a"], "alpha_api_1", "beta_api_1") != ""
    assert ask(engines["b"], "beta_api_1", "alpha_api_1") != ""
    assert ask(engines["a"], "alpha_api_1", "right_api_1") == ""  # the shared network joins only who joined it
    listed = api.get(f"/api/v1/clusters/{overlay.pk}/networks").json()["results"]
    assert [(n["name"], n["applications"]) for n in listed] == [("common", ["alpha", "beta"])]
    assert listed[0]["subnet"].startswith("10.201.")
    busy = api.delete(f"/api/v1/clusters/{overlay.pk}/networks/common")
    assert busy.status_code == 409 and "alpha" in busy.json()["detail"]

    # An application whose api lands on c (the emptiest node but b) and moves when c fails, asked from b.
    mover = (
        f"services:\n  api:\n    image: local/netbox:1\n    command: {SERVE}\n"
        "    environment: ['constraint:node.name!=b', 'reschedule:on-node-failure']\n"
        f"  client:\n    image: local/netbox:1\n    command: {SERVE}\n"
        "    environment: ['constraint:node.name==b']\n"
    )
    deploy(api, overlay, "mover", mover)
    assert where(overlay, "mover")["mover_api_1"][0] == "c"
    before = ask(engines["b"], "mover_client_1", "api")
    assert before

    # Node c dies: the others still talk, the page says so, and failover's new api answers to the same name.
    engines["c"].kill_engine()
    harness.wait_until(lambda: network_states(api, overlay).get("c") == "unreachable", 30, 0.5, "c unreachable")
    assert ask(engines["a"], "alpha_api_1", "beta_api_1") != ""
    moved = harness.wait_until(
        lambda: Container.objects.filter(name__startswith="mover_api_", node__name="a").first(), 90, 0.5, "failover"
    )
    harness.wait_until(lambda: ask(engines["b"], "mover_client_1", "api") not in ("", before), 30, 0.5, "api anew")
    assert ask(engines["b"], "mover_client_1", moved.name) != ""
    deploy(api, overlay, "after", one("b"))  # and a new application's network is made without c
    assert ask(engines["b"], "after_api_1", "api") != ""
    engines["c"].start_engine()

    for app in ("alpha", "beta"):
        assert wait_release(api.delete(f"/api/v1/clusters/{overlay.pk}/applications/{app}").json()["id"]).status == (
            "successful"
        )
    assert api.delete(f"/api/v1/clusters/{overlay.pk}/networks/common").status_code == 204
    assert not Network.objects.filter(cluster=overlay).exists()


def test_a_provisioned_node_joins_by_itself_and_a_removed_one_leaves(
    stack: harness.Stack, owner: User, api: APIClient, engines: dict[str, harness.NetnsNode]
) -> None:
    made = api.post("/api/v1/clusters", {"name": "grows", "network_mode": "overlay"}, format="json")
    cluster = Cluster.objects.get(pk=made.json()["id"])
    register_node(owner, cluster, name="first", endpoint=engines["a"].endpoint, publish_ip=engines["a"].address)
    hostaccess.grant(owner.tenant, note="cluster network test")
    try:
        wait_joined(api, cluster, {"first"})
        response = api.post(
            f"/api/v1/clusters/{cluster.pk}/nodes", {"name": "fresh", "provider": "local"}, format="json"
        )
        assert response.status_code == 202, response.content
        task = harness.wait_until(
            lambda: (t := NodeTask.objects.get(pk=response.json()["id"])).status in NodeTask.TERMINAL and t, 180, 0.5
        )
        assert task.status == "successful", task.error
        wait_joined(api, cluster, {"first", "fresh"}, managers=1)
        fresh = Node.objects.get(cluster=cluster, name="fresh")

        removed = api.delete(f"/api/v1/clusters/{cluster.pk}/nodes/fresh?drain=false")
        assert removed.status_code == 202
        task = harness.wait_until(
            lambda: (t := NodeTask.objects.get(pk=removed.json()["id"])).status in NodeTask.TERMINAL and t, 180, 0.5
        )
        assert task.status == "successful", task.error
        listed = {m.attrs["Description"]["Hostname"] for m in client(engines["a"]).nodes.list()}
        assert len(listed) == 1  # the swarm forgot it
        assert Node.objects.get(pk=fresh.pk).network_state == "left"
    finally:
        provisioned = list(Node.objects.filter(cluster=cluster, provider="local").exclude(provider_ref=""))
        reset(cluster, [engines["a"]])
        for node in provisioned:
            PROVIDERS["local"].destroy_host(node.provider_ref)


def test_an_engine_in_a_swarm_berth_did_not_make_is_left_alone(
    stack: harness.Stack, owner: User, api: APIClient, engines: dict[str, harness.NetnsNode]
) -> None:
    made = api.post("/api/v1/clusters", {"name": "careful", "network_mode": "overlay"}, format="json")
    cluster = Cluster.objects.get(pk=made.json()["id"])
    foreign = client(engines["b"])
    foreign.api.init_swarm(advertise_addr=engines["b"].address, listen_addr=f"{engines['b'].address}:2377")

    def elected() -> str | None:  # the new swarm answers once its one manager is the leader
        try:
            return foreign.api.inspect_swarm()["ID"]
        except docker.errors.APIError:
            return None

    swarm_id = harness.wait_until(elected, 30, 0.2, "the other swarm's leader")
    try:
        register_node(owner, cluster, name="theirs", endpoint=engines["b"].endpoint, publish_ip=engines["b"].address)
        harness.wait_until(lambda: network_states(api, cluster).get("theirs") == "other swarm", 30, 0.5, "shown")
        time.sleep(2)  # converges come and go: the engine stays in its own swarm
        assert elected() == swarm_id
        assert foreign.info()["Swarm"]["LocalNodeState"] == "active"
    finally:
        reset(cluster, [engines["b"]])
        foreign.close()
