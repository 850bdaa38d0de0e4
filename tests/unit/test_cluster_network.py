"""The cluster network's decisions and its refusals, without an engine (issue 12): how many managers, which nodes
change role, which address pools hold, which Compose networks a cluster can join, what the names answer to, and that
bad input changes nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from apps import converge
from apps.models import Application, Service
from clusters import docker_host as host
from clusters import network
from clusters.models import Cluster, Network, Node
from console.models import OperationLog
from tests.unit.test_compose_apps_api import client_for


@pytest.mark.parametrize(("ready", "managers"), [(0, 0), (1, 1), (2, 1), (3, 3), (4, 3), (5, 3), (9, 3)])
def test_an_odd_number_of_managers_at_most_three(ready: int, managers: int) -> None:
    assert network.manager_count(ready) == managers


def test_role_changes_keep_present_managers_and_change_the_fewest() -> None:
    assert network.role_changes(["m1"], ["w1", "w2"], 3) == (["w1", "w2"], [])
    assert network.role_changes(["m1", "m2", "m3"], [], 1) == ([], ["m2", "m3"])
    assert network.role_changes(["m1", "m2", "m3"], ["w1"], 3) == ([], [])
    assert network.role_changes([], ["w1", "w2", "w3"], 1) == (["w1"], [])


@pytest.mark.parametrize(
    ("pool", "reason"),
    [
        ("not-a-range", "is not an IPv4 range"),
        ("10.0.0.0/7", "between /8 and /24"),
        ("10.9.9.0/25", "between /8 and /24"),
        ("8.8.0.0/16", "private range"),
        ("127.0.0.0/8", "private range"),
        ("169.254.0.0/16", "private range"),
        ("10.250.0.0/16", "holds 10.250.3.2, an address of a node"),
    ],
)
def test_a_pool_must_be_private_sized_and_apart_from_the_nodes(pool: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        network.check_pool(pool, ["10.250.3.2", "not-an-address"])


def test_a_pool_is_kept_in_canonical_form() -> None:
    assert network.check_pool(" 10.201.7.9/16 ", ["192.0.2.2"]) == "10.201.0.0/16"


def test_a_pool_that_holds_a_nodes_address_is_refused_and_nothing_changes(owner: User, overlay: Cluster) -> None:
    api = client_for(owner)
    response = api.patch(f"/api/v1/clusters/{overlay.pk}", {"network_pool": "10.250.0.0/16"}, format="json")
    assert response.status_code == 400
    assert "10.250.3.2, an address of a node" in response.json()["network_pool"][0]
    assert Cluster.objects.get(pk=overlay.pk).network_pool == "10.201.0.0/16"
    made = api.post("/api/v1/clusters", {"name": "c2", "network_pool": "8.8.8.0/24"}, format="json")
    assert made.status_code == 400 and "private range" in made.json()["network_pool"][0]
    assert not Cluster.objects.filter(name="c2").exists()
    changed = api.patch(f"/api/v1/clusters/{overlay.pk}", {"network_pool": "10.77.0.0/16"}, format="json")
    assert changed.status_code == 200 and changed.json()["network_pool"] == "10.77.0.0/16"


def test_a_node_whose_address_is_in_the_pool_is_refused(owner: User, overlay: Cluster) -> None:
    from django.core.exceptions import ValidationError

    from clusters.operations import register_node

    with pytest.raises(ValidationError, match="an address of a node"):
        register_node(owner, overlay, name="n2", endpoint="tcp://10.201.0.9:2375", publish_ip="10.201.0.9")
    assert not Node.objects.filter(name="n2").exists()


def test_the_pool_is_fixed_once_a_node_joined_and_the_mode_while_applications_run(
    owner: User, overlay: Cluster
) -> None:
    Node.objects.filter(cluster=overlay).update(info={"swarm": {"state": "active", "manager": True}})
    api = client_for(owner)
    response = api.patch(f"/api/v1/clusters/{overlay.pk}", {"network_pool": "10.77.0.0/16"}, format="json")
    assert response.status_code == 400 and "fixed" in response.json()["network_pool"][0]
    Application.objects.create(tenant=owner.tenant, cluster=overlay, name="web", version=1)
    response = api.patch(f"/api/v1/clusters/{overlay.pk}", {"network_mode": "bridge"}, format="json")
    assert response.status_code == 400 and "applications" in response.json()["network_mode"][0]
    assert Cluster.objects.get(pk=overlay.pk).network_mode == "overlay"


SHARED = """
services:
  api:
    image: local/busybox:1
    networks: [default, common]
networks:
  common:
    external: true
    name: {name}
"""


def deploy(api: APIClient, cluster: Cluster, compose: str) -> tuple[int, list[str]]:
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications", {"name": "app", "compose": compose}, format="json"
    )
    return response.status_code, response.json().get("compose", [])


def test_another_tenants_network_is_one_that_does_not_exist(owner: User, outsider: User, overlay: Cluster) -> None:
    theirs = Cluster.objects.create(tenant=outsider.tenant, name="theirs", network_mode=Cluster.NetworkMode.OVERLAY)
    Network.objects.create(cluster=theirs, name="secret-net")
    api = client_for(owner)
    status, errors = deploy(api, overlay, SHARED.format(name="secret-net"))
    status_none, errors_none = deploy(api, overlay, SHARED.format(name="no-such-net"))
    assert status == status_none == 400
    assert errors == [
        'networks.common: cluster c1 has no shared network "secret-net" (make it under Shared networks on the '
        "cluster's page first)"
    ]
    assert errors_none == [errors[0].replace("secret-net", "no-such-net")]  # the same words whatever exists elsewhere
    assert not Application.objects.exists()


@pytest.mark.parametrize("name", ["x; rm -rf /", "$(id)", "../etc", "a b", "-rf", "x" * 64, "net\nwork"])
def test_a_network_name_that_could_inject_is_refused(owner: User, overlay: Cluster, name: str) -> None:
    Network.objects.create(cluster=overlay, name=name)  # even a row of that name (never made by the API) is no way in
    status, errors = deploy(client_for(owner), overlay, SHARED.format(name=json.dumps(name)))  # a YAML quoted string
    assert status == 400, errors
    assert "network name" in " ".join(errors) and "networks.common" in " ".join(errors)
    assert not Application.objects.exists()


def test_an_application_network_the_swarm_would_refuse_is_refused_at_plan_time(owner: User, overlay: Cluster) -> None:
    compose = "services:\n  api:\n    image: local/busybox:1\n    networks: [back.end]\nnetworks:\n  back.end: {}\n"
    status, errors = deploy(client_for(owner), overlay, compose)
    assert status == 400
    assert 'networks.back.end: "app_back.end" cannot name a network of the cluster network' in errors[0]
    assert not Application.objects.exists()


def test_shared_networks_need_the_cluster_network(owner: User) -> None:
    bridge = Cluster.objects.create(tenant=owner.tenant, name="plain", network_mode=Cluster.NetworkMode.BRIDGE)
    Network.objects.create(cluster=bridge, name="common")
    status, errors = deploy(client_for(owner), bridge, SHARED.format(name="common"))
    assert status == 400 and "need the cluster network" in errors[0]
    made = client_for(owner).post(f"/api/v1/clusters/{bridge.pk}/networks", {"name": "other"}, format="json")
    assert made.status_code == 400 and "overlay" in made.json()["name"][0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a_b", "Lower-case letters"),
        ("x.y", "Lower-case letters"),  # a swarm network's name is a DNS name component
        ("host.", "Lower-case letters"),
        ("a-", "Lower-case letters"),
        ("Common", "Lower-case letters"),  # one case: no two names that differ only by it
        ("", "may not be blank"),
        (" ", "may not be blank"),
        ("-x", "Lower-case letters"),
        ("x/y", "Lower-case letters"),
        ("x y", "Lower-case letters"),
        ("x" * 64, "63"),
        ("<script>", "Lower-case letters"),
        ("host", "one of Docker's own networks"),
        ("bridge", "one of Docker's own networks"),
        ("none", "one of Docker's own networks"),
        ("ingress", "one of Docker's own networks"),
        ("default", "one of Docker's own networks"),
    ],
)
def test_a_shared_network_name_is_checked(owner: User, overlay: Cluster, name: str, reason: str) -> None:
    made = client_for(owner).post(f"/api/v1/clusters/{overlay.pk}/networks", {"name": name}, format="json")
    assert made.status_code == 400
    assert reason in made.json()["name"][0]
    assert not Network.objects.exists()


def test_shared_networks_through_the_api_and_who_may(owner: User, member: User, overlay: Cluster) -> None:
    api = client_for(owner)
    made = api.post(f"/api/v1/clusters/{overlay.pk}/networks", {"name": "common"}, format="json")
    assert made.status_code == 201 and made.json()["name"] == "common" and made.json()["applications"] == []
    again = api.post(f"/api/v1/clusters/{overlay.pk}/networks", {"name": "common"}, format="json")
    assert again.status_code == 400 and "already" in again.json()["name"][0]
    assert (
        OperationLog.objects.filter(action="cs:CreateClusterNetwork", target="common", outcome="success").count() == 1
    )

    ram.grant(owner, "user:dev", overlay, "read-only")
    reader = client_for(member)
    assert [n["name"] for n in reader.get(f"/api/v1/clusters/{overlay.pk}/networks").json()["results"]] == ["common"]
    assert reader.post(f"/api/v1/clusters/{overlay.pk}/networks", {"name": "mine"}, format="json").status_code == 403
    assert reader.delete(f"/api/v1/clusters/{overlay.pk}/networks/common").status_code == 403
    refused = OperationLog.objects.filter(outcome="denied", actor=member).values_list("action", "target")
    assert set(refused) == {("cs:CreateClusterNetwork", "mine"), ("cs:DeleteClusterNetwork", "common")}
    page = Client()  # the console's forms too: the refusal names the network, not the cluster
    page.force_login(member)
    assert page.post(f"/clusters/{overlay.pk}/network-create/", {"name": "page-net"}).status_code == 403
    assert page.post(f"/clusters/{overlay.pk}/network-delete/", {"network": "common"}).status_code == 403
    refused = OperationLog.objects.filter(outcome="denied", actor=member, source="ui").values_list("action", "target")
    assert set(refused) == {("cs:CreateClusterNetwork", "page-net"), ("cs:DeleteClusterNetwork", "common")}
    assert Network.objects.filter(name="common").exists() and not Network.objects.filter(name="mine").exists()

    app = Application.objects.create(tenant=owner.tenant, cluster=overlay, name="joins", version=1)
    joined = {"common": {"name": "common", "external": True}}
    Service.objects.create(application=app, name="api", image="x", spec={converge.NETWORKS_KEY: joined})
    busy = api.delete(f"/api/v1/clusters/{overlay.pk}/networks/common")
    assert busy.status_code == 409 and "joins" in busy.json()["detail"]
    assert OperationLog.objects.filter(action="cs:DeleteClusterNetwork", outcome="failure").exists()
    assert Network.objects.filter(name="common").exists()


def test_names_a_container_answers_to(owner: User, overlay: Cluster) -> None:
    app = Application.objects.create(tenant=owner.tenant, cluster=overlay, name="shop", version=1)
    spec = {
        "hostname": "dbhost",
        "networks": {"default": {"aliases": ["database"]}, "common": None},
        converge.NETWORKS_KEY: {
            "default": {"name": "shop_default", "external": False},
            "common": {"name": "common", "external": True},
        },
        "links": ["cache", "store:legacy"],
    }
    service = Service.objects.create(application=app, name="db", image="x", spec=spec)
    assert converge.attachments(app, service) == [
        ("shop_default", ("db", "database", "dbhost")),
        ("common", ("db", "dbhost")),
    ]
    assert converge.links(app, service) == (("shop_cache_1", "cache"), ("shop_store_1", "legacy"))
    assert converge.shared_networks(service) == ["common"]
    plain = Service.objects.create(application=app, name="web", image="x", spec={})
    assert converge.attachments(app, plain) == [("shop_default", ("web",))]


def test_out_of_shape_reads_the_health_checks_memberships(overlay: Cluster) -> None:
    overlay.swarm_id = "S1"
    node = Node.objects.get(cluster=overlay)
    node.info = {"swarm": {"state": "inactive"}}
    assert network.out_of_shape(overlay, [node])
    node.info = {"swarm": {"state": "active", "manager": True, "swarm_id": "S1"}}
    assert not network.out_of_shape(overlay, [node])
    node.info = {"swarm": {"state": "active", "manager": True, "swarm_id": "THEIRS"}}
    assert not network.out_of_shape(overlay, [node])  # a swarm Berth did not make: nothing to converge
    assert node.network_state == "other swarm"
    overlay.network_mode = Cluster.NetworkMode.BRIDGE
    assert not network.out_of_shape(overlay, [node])


def test_the_address_a_node_advertises_is_one_the_others_reach(settings: object) -> None:
    settings.BERTH_LOCAL_NODE_ADDRESS = "192.0.2.7"  # type: ignore[attr-defined]
    remote = Node(endpoint="tcp://10.250.3.2:2375", publish_ip="10.250.9.9")
    assert network.node_address(remote) == "10.250.9.9"
    assert network.node_address(Node(endpoint="tcp://10.250.3.2:2375", publish_ip="")) == "10.250.3.2"
    # This machine's engine publishes on 127.0.0.1 by default: it advertises the machine's address instead.
    assert network.node_address(Node(endpoint="unix:///var/run/docker.sock", publish_ip="127.0.0.1")) == "192.0.2.7"
    assert network.node_address(Node(endpoint="tcp://127.0.0.1:2375", publish_ip="127.0.0.1")) == "192.0.2.7"


def test_the_swarm_stays_berths_business_and_fixed_settings_are_not_offered(owner: User, overlay: Cluster) -> None:
    from clusters.forms import ClusterForm

    swarm = {"state": "active", "manager": True, "swarm_id": "S1", "node_id": "N1", "managers": ["10.250.3.2:2377"]}
    Node.objects.filter(cluster=overlay).update(info={"engine_version": "20.10", "swarm": swarm})
    overlay.swarm_id = "S1"
    overlay.save()
    node = client_for(owner).get(f"/api/v1/clusters/{overlay.pk}/nodes").json()["results"][0]
    assert node["network"] == "manager" and node["info"] == {"engine_version": "20.10"}

    form = ClusterForm(cluster=overlay)
    assert form.fields["network_pool"].disabled and not form.fields["network_mode"].disabled
    Application.objects.create(tenant=owner.tenant, cluster=overlay, name="web", version=1)
    assert ClusterForm(cluster=overlay).fields["network_mode"].disabled


def test_the_node_page_says_the_nodes_part_in_the_cluster_network(owner: User, overlay: Cluster) -> None:
    node = Node.objects.get(cluster=overlay)
    Node.objects.filter(pk=node.pk).update(info={"swarm": {"state": "active", "manager": False}})
    page = Client()
    page.force_login(owner)
    shown = page.get(f"/clusters/nodes/{node.pk}/").content.decode()
    assert f'<td data-node-network="{node.pk}">worker</td>' in shown


def _made(created: bool = True) -> converge.Made:
    spec = host.ContainerSpec(
        "shop_web_1", "local/busybox:1", None, {}, {"berth.application": "shop"}, "shop_default", ["web"], {}
    )
    return converge.Made("c1", spec, spec, {}, created)


LATE = "Could not attach to network shop_default: context deadline exceeded"


def test_an_attachment_the_swarm_grants_late_is_asked_for_again(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Exception | None] = [host.HostError(LATE), host.HostError(LATE), None]
    calls: list[str] = []

    def start(endpoint: object, container_id: str, inspect: bool) -> None:
        calls.append(container_id)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    monkeypatch.setattr(host, "start_container", start)
    monkeypatch.setattr(host, "remove_container", lambda *a: pytest.fail("a late attachment removes nothing"))
    monkeypatch.setattr(converge, "ATTACH_PAUSE", 0)
    state, created = converge.start_made(object(), _made(), object())  # type: ignore[arg-type]
    assert calls == ["c1", "c1", "c1"] and state.state == "running" and created


def test_an_attachment_late_every_time_fails_the_container_and_removes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    removed: list[str] = []

    def start(endpoint: object, container_id: str, inspect: bool) -> None:
        calls.append(container_id)
        raise host.HostError(LATE)

    monkeypatch.setattr(host, "start_container", start)
    monkeypatch.setattr(host, "remove_container", lambda endpoint, container_id: removed.append(container_id))
    monkeypatch.setattr(converge, "ATTACH_PAUSE", 0)
    with pytest.raises(converge.ContainerFailed, match="did not start: Could not attach"):
        converge.start_made(object(), _made(), object())  # type: ignore[arg-type]
    assert len(calls) == converge.ATTACH_ATTEMPTS and removed == ["c1"]


def test_other_start_failures_are_not_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def start(endpoint: object, container_id: str, inspect: bool) -> None:
        calls.append(container_id)
        raise host.HostError("OCI runtime create failed: exec: no such file")

    monkeypatch.setattr(host, "start_container", start)
    monkeypatch.setattr(host, "remove_container", lambda endpoint, container_id: None)
    with pytest.raises(converge.ContainerFailed):
        converge.start_made(object(), _made(), object())  # type: ignore[arg-type]
    assert calls == ["c1"]
