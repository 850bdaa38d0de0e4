"""Attack tests: the machine Berth runs on stays the operator's on every path (review of the node door, F1, F2).

* F1: revoking the grant cuts off every node of the tenant on this machine, the local provider's too: a dockerd in a
  network namespace shares this machine's mounts and processes, so a privileged container there is root here.
* F2: the rule (the grant for nodes on this machine; an engine ID present and matching) is enforced on every
  connection by the node door, not only at registration and by the health check: reset, container logs and
  inspect, the stale-copy cleanup all get HostError; and a reset removes only its own cluster's containers.

Netns nodes 63 and 64 only.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator

import docker
import pytest
import requests
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management import call_command

from accounts.models import User
from apps import nodework as container_moves
from apps.models import Application, Container, Service
from clusters import docker_host as host
from clusters import health, hostaccess, nodework
from clusters import operations as ops
from clusters.authority import berth_client, cluster_ca
from clusters.models import Cluster, Node, NodeTask
from clusters.providers import PROVIDERS
from console.models import OperationLog
from tests import harness
from tests.security.node_door_support import client_for

pytestmark = pytest.mark.django_db
LOCAL = PROVIDERS["local"]


def berth_labels(cluster: Cluster, app: str = "1") -> dict[str, str]:
    """The labels Berth gives a container of ``cluster`` (this test run's instance)."""
    return {
        **host.managed(),
        "berth.tenant": str(cluster.tenant_id),
        "berth.cluster": str(cluster.pk),
        "berth.application": app,
        "berth.service": "web",
        "berth.replica": "1",
    }


@pytest.fixture
def engine(services: None) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=settings.BERTH_LOCAL_DOCKER_URL)
    made: list[str] = []
    client.berth_made = made  # type: ignore[attr-defined]
    yield client
    for name in made:
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
    client.close()


def run_on(client: docker.DockerClient, name: str, labels: dict[str, str]) -> str:
    """A container on an engine, as Berth would have made it (``init``: it stops at once); its name carries this
    run's instance, so that parallel runs on the same engine never meet."""
    name = f"{settings.BERTH_INSTANCE}-{name}"
    try:
        client.containers.get(name).remove(force=True)  # left by an interrupted run
    except docker.errors.NotFound:
        pass
    made = client.containers.run(
        "local/busybox:1", ["sleep", "3600"], name=name, labels=labels, detach=True, init=True, network_mode="none"
    )
    getattr(client, "berth_made", []).append(name)
    return made.id


def named(name: str) -> str:
    return f"{settings.BERTH_INSTANCE}-{name}"


@pytest.fixture
def local_provider_node(services: None, owner: User) -> Iterator[Node]:
    """A node of the local provider as Berth provisions it (netns 63, mutual TLS on the cluster's CA)."""
    cluster = ops.create_cluster(owner, name="prov")
    hostaccess.grant(owner.tenant, note="the local provider")
    folder = LOCAL.write_tls("63", cluster_ca(cluster))
    made = harness.netns_node(63, str(folder))
    try:
        ca, cert, key = berth_client(cluster)
        yield ops.register_node(
            owner,
            cluster,
            name="fresh",
            endpoint=made.endpoint,
            publish_ip=made.address,
            tls_ca=ca,
            tls_cert=cert,
            tls_key=key,
            provider="local",
            provider_ref="63",
        )
    finally:
        made.stop_engine()
        shutil.rmtree(LOCAL.folder("63"), ignore_errors=True)


def test_revoking_host_access_cuts_off_local_provider_nodes(owner: User, local_provider_node: Node) -> None:
    node = local_provider_node
    socket = docker.DockerClient(base_url="unix:///run/berth-node-63/docker.sock")  # the operator's view
    try:
        run_on(socket, "tenant_root_1", {**berth_labels(node.cluster), "privileged": "yes"})
        assert host.list_containers(host.Endpoint.of(node), host.managed())  # Berth reaches it while granted

        call_command("host_access", tenant=owner.tenant.alias, revoke=True)

        node.refresh_from_db()
        assert node.state == Node.State.UNREACHABLE
        with pytest.raises(host.HostRefused):  # every path: the door refuses it
            host.Endpoint.of(node)
        assert client_for(owner).post(f"/api/v1/clusters/{node.cluster_id}/nodes/fresh/reset").status_code == 502
        # Its engine is stopped: the tenant's container no longer runs on this machine.
        with pytest.raises((docker.errors.DockerException, requests.exceptions.ConnectionError)):
            socket.ping()
        entry = OperationLog.objects.get(tenant=owner.tenant, action="cs:RevokeHostAccess")
        assert entry.parameters["nodes"] == ["fresh"] and entry.parameters["engines_stopped"] == ["fresh"]

        # Given back, the engine starts again and the node answers.
        call_command("host_access", tenant=owner.tenant.alias)
        assert socket.ping()
        health.check_all()
        node.refresh_from_db()
        assert node.state == Node.State.READY
    finally:
        socket.close()


def test_revoking_host_access_stops_the_tenants_containers_on_this_machine(
    owner: User, outsider: User, engine: docker.DockerClient
) -> None:
    mine = ops.ensure_local_cluster(owner.tenant, actor=owner)
    other = ops.create_cluster(outsider, name="elsewhere")
    run_on(engine, "acme_root_1", berth_labels(mine))
    run_on(engine, "globex_web_1", berth_labels(other))  # another tenant's container on the same engine stays
    hostaccess.revoke(owner.tenant)
    assert engine.containers.get(named("acme_root_1")).status == "exited"
    assert engine.containers.get(named("globex_web_1")).status == "running"
    with pytest.raises(host.HostRefused):
        host.Endpoint.of(mine.nodes.get())
    entry = OperationLog.objects.get(tenant=owner.tenant, action="cs:RevokeHostAccess")
    assert entry.parameters["containers_stopped"] == 1


@pytest.fixture
def legacy_node(services: None, owner: User, outsider: User) -> Node:
    """The issue's reproduction: the first tenant's local cluster, and a second tenant's node registered before
    engine IDs were kept, at this machine's socket (engine_id "", unreachable)."""
    ops.ensure_local_cluster(owner.tenant, actor=owner)
    theirs = ops.create_cluster(outsider, name="mine")
    return Node.objects.create(
        cluster=theirs,
        name="legacy",
        endpoint="unix:///run/docker.sock",
        publish_ip="127.0.0.1",
        state=Node.State.UNREACHABLE,
    )


def test_a_legacy_node_on_this_machine_accepts_no_reset(
    owner: User, outsider: User, legacy_node: Node, engine: docker.DockerClient
) -> None:
    acme = Cluster.objects.get(tenant=owner.tenant, name="local")
    run_on(engine, "acme_web_1", berth_labels(acme))
    response = client_for(outsider).post(f"/api/v1/clusters/{legacy_node.cluster_id}/nodes/legacy/reset")
    assert response.status_code == 502 and "only the operator" in response.json()["detail"]
    assert not NodeTask.objects.filter(node=legacy_node).exists()
    with pytest.raises(host.HostRefused):  # the task's own path, had one been queued before this fix
        nodework._reset(legacy_node)
    assert engine.containers.get(named("acme_web_1")).status == "running"


def test_container_logs_and_inspect_of_a_refused_node_are_refused(
    outsider: User, legacy_node: Node, engine: docker.DockerClient
) -> None:
    acme_id = run_on(engine, "acme_secret_1", {**host.managed(), "berth.tenant": "1"})
    app = Application.objects.create(tenant=outsider.tenant, cluster=legacy_node.cluster, name="probe")
    service = Service.objects.create(application=app, name="probe", image="local/busybox:1")
    Container.objects.create(service=service, node=legacy_node, index=1, name="probe_probe_1", docker_id=acme_id)
    api = client_for(outsider)
    base = f"/api/v1/clusters/{legacy_node.cluster_id}/applications/probe/containers/probe_probe_1"
    for url in (base, f"{base}/logs"):
        response = api.get(url)
        assert response.status_code == 502, url
        assert "acme_secret_1" not in response.content.decode()


def test_a_node_without_engine_id_is_reached_only_to_identify_it(services: None, owner: User) -> None:
    cluster = ops.ensure_local_cluster(owner.tenant, actor=owner)
    node = cluster.nodes.get()
    Node.objects.filter(pk=node.pk).update(engine_id="")
    with pytest.raises(host.HostRefused, match="not identified"):
        host.Endpoint.of(node)
    with pytest.raises(host.HostRefused):
        container_moves.remove_stale(node)
    health.check_all()  # the health check identifies it: then it is reachable again
    node.refresh_from_db()
    assert node.engine_id and host.Endpoint.of(node).engine_id == node.engine_id


def test_a_removed_node_is_reached_by_no_path(services: None, owner: User) -> None:
    cluster = ops.ensure_local_cluster(owner.tenant, actor=owner)
    node = cluster.nodes.get()
    Node.objects.filter(pk=node.pk).update(state=Node.State.REMOVED)
    with pytest.raises(host.HostRefused, match="not in its cluster"):
        host.Endpoint.of(node)  # the row in memory still says ready: the door reads it afresh


def test_another_engine_at_a_nodes_endpoint_is_refused(services: None, owner: User) -> None:
    cluster = ops.ensure_local_cluster(owner.tenant, actor=owner)
    node = cluster.nodes.get()
    Node.objects.filter(pk=node.pk).update(engine_id="SOME:OTHER:ENGINE")
    host.forget(host.Endpoint(url=node.endpoint))
    with pytest.raises(host.EngineMismatch):
        host.list_containers(host.Endpoint.of(node), host.managed())


def test_a_reset_removes_only_its_own_clusters_containers(
    owner: User, outsider: User, engine: docker.DockerClient
) -> None:
    mine = ops.ensure_local_cluster(owner.tenant, actor=owner)
    other = ops.create_cluster(outsider, name="elsewhere")
    sibling = ops.create_cluster(owner, name="sibling")
    run_on(engine, "acme_web_1", berth_labels(mine))
    run_on(engine, "globex_web_1", berth_labels(other))
    run_on(engine, "acme_sibling_1", berth_labels(sibling))
    assert nodework._reset(mine.nodes.get()) == 1
    names = {c.name for c in engine.containers.list(all=True, filters={"label": "berth.instance"})}
    assert named("acme_web_1") not in names and {named("globex_web_1"), named("acme_sibling_1")} <= names


def test_the_upgrade_holds_nodes_without_engine_id_until_the_health_check_resolves_them(
    owner: User, legacy_node: Node
) -> None:
    data = importlib.import_module("clusters.migrations.0005_node_door_data")
    Node.objects.filter(pk=legacy_node.pk).update(state=Node.State.READY)  # as it was before the upgrade
    data.hold_unidentified_nodes(django_apps, None)
    legacy_node.refresh_from_db()
    assert legacy_node.state == Node.State.UNREACHABLE and "not identified" in legacy_node.last_error
    with pytest.raises(host.HostRefused):
        host.Endpoint.of(legacy_node)
    own = Node.objects.get(cluster__tenant=owner.tenant)
    assert own.state == Node.State.READY  # identified nodes are untouched
    health.check_all()  # this machine without the grant: retired, on record
    legacy_node.refresh_from_db()
    assert legacy_node.state == Node.State.REMOVED
    assert OperationLog.objects.filter(tenant=legacy_node.cluster.tenant, action="cs:RetireClusterNode").exists()
