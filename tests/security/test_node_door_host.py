"""Attack tests: a tenant cannot take over the machine Berth runs on, put another tenant's engine in its cluster,
or use node registration to probe this machine (security issue 9, item 1 and its Low items)."""

from __future__ import annotations

import html

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.models import User
from clusters import authority, health, hostaccess
from clusters import operations as ops
from clusters.models import Cluster, HostGrant, Node, NodeTask
from console.models import OperationLog
from tests.harness import free_port
from tests.security.node_door_support import client_for, listener, netns_node, tcp_relay_to

pytestmark = pytest.mark.django_db
REFUSED = str(hostaccess.REFUSED)


def register(user: User, cluster: Cluster, name: str, endpoint: str, **more: object) -> tuple[int, dict]:
    response = client_for(user).post(
        f"/api/v1/clusters/{cluster.pk}/nodes",
        {"name": name, "endpoint": endpoint, "publish_ip": "10.0.0.9", **more},
        format="json",
    )
    return response.status_code, response.json()


@pytest.fixture
def local_of_owner(services: None, owner: User) -> Cluster:
    """The first tenant's cluster "local": this machine's engine, by the operator's grant."""
    return ops.ensure_local_cluster(owner.tenant, actor=owner)


@pytest.fixture
def outsiders_cluster(outsider: User) -> Cluster:
    return ops.create_cluster(outsider, name="mine")


def test_second_tenant_cannot_register_this_machines_engine_by_socket_path(
    local_of_owner: Cluster, outsider: User, outsiders_cluster: Cluster
) -> None:
    for number, endpoint in enumerate(
        ("unix:///run/docker.sock", "unix:///var/run/../run/docker.sock", "unix:///var/run/docker.sock")
    ):
        status, body = register(outsider, outsiders_cluster, f"n{number}", endpoint)
        assert status == 400, body
        assert "only the operator" in body["endpoint"][0]
    assert not Node.objects.filter(cluster=outsiders_cluster).exists()
    assert not HostGrant.objects.filter(tenant=outsider.tenant).exists()
    refusals = OperationLog.objects.filter(tenant=outsider.tenant, action="cs:AddClusterNodes", outcome="failure")
    assert refusals.count() == 3


def test_this_machines_engine_reached_over_tcp_is_refused_without_the_operators_grant(
    local_of_owner: Cluster, outsider: User, outsiders_cluster: Cluster, settings: object
) -> None:
    settings.BERTH_NODE_NETWORKS_ALLOW = ["127.0.0.0/8"]  # even where the operator allows loopback
    with tcp_relay_to("/var/run/docker.sock") as port:
        status, body = register(outsider, outsiders_cluster, "sneaky", f"tcp://127.0.0.1:{port}")
    assert status == 400 and body == {"endpoint": [REFUSED]}
    assert not Node.objects.filter(cluster=outsiders_cluster).exists()


def test_the_local_provider_needs_the_operators_grant(owner: User, outsider: User, outsiders_cluster: Cluster) -> None:
    response = client_for(outsider).post(
        f"/api/v1/clusters/{outsiders_cluster.pk}/nodes", {"name": "fresh", "provider": "local"}, format="json"
    )
    assert response.status_code == 400 and "only the operator" in response.json()["provider"][0]
    assert not NodeTask.objects.filter(cluster=outsiders_cluster).exists()

    hostaccess.grant(outsider.tenant, note="the operator trusts globex")
    response = client_for(outsider).post(
        f"/api/v1/clusters/{outsiders_cluster.pk}/nodes", {"name": "fresh", "provider": "local"}, format="json"
    )
    assert response.status_code == 202, response.content


def test_one_engine_is_a_node_of_one_cluster_whatever_the_endpoint_string(
    services: None, owner: User, outsider: User, outsiders_cluster: Cluster
) -> None:
    first = ops.create_cluster(owner, name="a")
    second = ops.create_cluster(owner, name="b")
    with netns_node(60) as node:
        assert register(owner, first, "n60", node.endpoint)[0] == 201
        # The same engine under other spellings of its address (hex, a zero-padded port): another tenant is told
        # nothing about whose it is.
        for number, endpoint in enumerate(("tcp://0x0afa3c02:2375", "tcp://10.250.60.2:02375")):
            status, body = register(outsider, outsiders_cluster, f"x{number}", endpoint)
            assert status == 400 and body == {"endpoint": [REFUSED]}
        # The owner is told where it already is.
        status, body = register(owner, second, "again", "tcp://0x0afa3c02:2375")
        assert status == 400 and "already a node of your cluster a" in body["endpoint"][0]
        refused = OperationLog.objects.get(tenant=owner.tenant, action="cs:AddClusterNodes", target="again")
        assert refused.outcome == "failure" and "already a node of your cluster a" in refused.error
    engine_id = Node.objects.get(cluster=first).engine_id
    assert engine_id and Node.objects.filter(engine_id=engine_id).count() == 1
    errors = set(
        OperationLog.objects.filter(tenant=outsider.tenant, action="cs:AddClusterNodes", outcome="failure").values_list(
            "error", flat=True
        )
    )
    assert errors == {REFUSED}


def test_a_failed_registration_says_the_same_whatever_listens_there(
    services: None, owner: User, settings: object
) -> None:
    settings.BERTH_NODE_NETWORKS_ALLOW = ["127.0.0.0/8"]  # the operator allows loopback: now it is reachable
    settings.BERTH_DOCKER_TIMEOUT = 2.0
    cluster = ops.create_cluster(owner, name="probe")
    tls = {
        "ca": cluster.ca_cert,
        "cert": cluster.client_cert,
        "key": authority.unseal(cluster.client_key_sealed),
    }
    secret_reply = b"HTTP/1.1 500 Oops\r\nContent-Length: 21\r\nContent-Type: text/plain\r\n\r\nSECRET-BODY-7f3a-here"
    answers = []
    with listener(secret_reply) as http_port, listener(None) as silent_port, listener(b"") as closing_port:
        closed = free_port()
        targets = [
            ("redis", "tcp://127.0.0.1:6379", {}),
            ("closed", f"tcp://127.0.0.1:{closed}", {}),
            ("http", f"tcp://127.0.0.1:{http_port}", {}),
            ("silent", f"tcp://127.0.0.1:{silent_port}", {}),
            ("hangup", f"tcp://127.0.0.1:{closing_port}", {}),
            ("tls", f"tcp://127.0.0.1:{http_port}", {"tls": tls}),
        ]
        for name, endpoint, more in targets:
            answers.append((name, *register(owner, cluster, name, endpoint, **more)))
        page = Client()
        page.force_login(owner)
        form = {"form": "register", "reg-name": "viapage", "reg-publish_ip": "10.0.0.9"}
        shown = page.post(f"/clusters/{cluster.pk}/", {**form, "reg-endpoint": f"tcp://127.0.0.1:{http_port}"})
    for name, status, body in answers:
        assert status == 400, name
        assert body == {"endpoint": [REFUSED]}, (name, body)
    assert html.escape(REFUSED) in shown.content.decode() and b"SECRET" not in shown.content
    entries = OperationLog.objects.filter(tenant=owner.tenant, action="cs:AddClusterNodes", outcome="failure")
    assert set(entries.values_list("error", flat=True)) == {REFUSED}
    assert not any("SECRET" in str(e.parameters) + e.error for e in entries)


def test_endpoints_on_this_machine_or_special_networks_are_refused(services: None, owner: User) -> None:
    cluster = ops.create_cluster(owner, name="probe")
    with netns_node(61) as node:
        host_side = node.address.rsplit(".", 1)[0] + ".1"  # the veth's end on this machine
        for number, endpoint in enumerate(
            (
                "tcp://127.0.0.1:6379",
                "tcp://2130706433:6379",  # 127.0.0.1 spelled as one number
                "tcp://localhost:6379",
                "tcp://0.0.0.0:6379",
                "tcp://172.17.0.1:2375",  # docker0: an address of this machine
                f"tcp://{host_side}:2375",
                "tcp://169.254.169.254:80",  # cloud metadata
                "tcp://224.0.0.1:2375",
            )
        ):
            status, body = register(owner, cluster, f"p{number}", endpoint)
            assert status == 400 and body == {"endpoint": [REFUSED]}, endpoint
        assert register(owner, cluster, "fine", node.endpoint)[0] == 201  # the node itself is another host


def test_a_node_from_before_engine_ids_loses_an_engine_that_is_already_another_node(
    local_of_owner: Cluster, outsider: User, outsiders_cluster: Cluster
) -> None:
    # As a second tenant's node was registered before this fix: this machine's engine by another socket path.
    stolen = Node.objects.create(
        cluster=outsiders_cluster,
        name="stolen",
        endpoint="unix:///run/docker.sock",
        publish_ip="127.0.0.1",
        state=Node.State.READY,
    )
    for _round in range(2):
        health.check_all()
    stolen.refresh_from_db()
    assert stolen.state == Node.State.REMOVED and stolen.engine_id == ""  # retired, never identified
    assert "may not be used" in stolen.last_error
    retired = OperationLog.objects.get(tenant=outsider.tenant, action="cs:RetireClusterNode")
    assert retired.target == "stolen" and retired.source == "system"
    own = local_of_owner.nodes.get()
    assert own.state == Node.State.READY and own.engine_id


def test_the_engine_id_is_unique_among_live_nodes(owner: User, outsider: User) -> None:
    mine = Cluster.objects.create(tenant=owner.tenant, name="a")
    theirs = Cluster.objects.create(tenant=outsider.tenant, name="b")
    Node.objects.create(cluster=mine, name="n", endpoint="tcp://10.0.0.1:2375", publish_ip="10.0.0.1", engine_id="E1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Node.objects.create(
            cluster=theirs, name="n", endpoint="tcp://10.0.0.2:2375", publish_ip="10.0.0.2", engine_id="E1"
        )
    Node.objects.filter(cluster=mine).update(state=Node.State.REMOVED)
    Node.objects.create(cluster=theirs, name="n", endpoint="tcp://10.0.0.2:2375", publish_ip="10.0.0.2", engine_id="E1")


def test_the_operator_grants_and_revokes_this_machine_by_command(owner: User, outsider: User) -> None:
    cluster = Cluster.objects.create(tenant=outsider.tenant, name="b")
    on_host = Node.objects.create(
        cluster=cluster, name="h", endpoint="unix:///var/run/docker.sock", publish_ip="127.0.0.1", state="ready"
    )
    elsewhere = Node.objects.create(
        cluster=cluster, name="e", endpoint="tcp://10.9.0.1:2375", publish_ip="10.9.0.1", state="ready"
    )
    call_command("host_access", tenant="globex", note="lab")
    assert hostaccess.has_grant(outsider.tenant_id) and not hostaccess.has_grant(owner.tenant_id)
    call_command("host_access", tenant="globex", revoke=True)
    assert not hostaccess.has_grant(outsider.tenant_id)
    on_host.refresh_from_db()
    elsewhere.refresh_from_db()
    assert on_host.state == Node.State.UNREACHABLE and elsewhere.state == Node.State.READY
    actions = list(OperationLog.objects.filter(tenant=outsider.tenant).order_by("seq").values_list("action", flat=True))
    assert actions == ["cs:GrantHostAccess", "cs:RevokeHostAccess"]
