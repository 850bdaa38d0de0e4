"""Attack tests: the remedy for client certificates that must stop working is a rotation of the cluster's CA, which
only the primary account and cluster admins may start, with a confirmation in the console; it records every
certificate of the old CA as revoked and voids unused attach commands; renew commands are bound to their node
(review of the node door, F5). The engines' side (an old certificate refused after the rotation) is proven in
tests/integration/test_node_rotation.py."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from clusters import attach, authority, certificates, pki
from clusters import operations as ops
from clusters.models import AttachToken, Cluster, Node, NodeTask, UserCertificate
from console.models import OperationLog
from tests.conftest import PASSWORD
from tests.security.node_door_support import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return ops.create_cluster(owner, name="prod")


def with_role(owner: User, cluster: Cluster, name: str, role: str) -> User:
    user = ram.create_subaccount(owner, name=name, password=PASSWORD)
    ram.grant(owner, f"user:{name}", cluster, role)
    return User.objects.get(pk=user.pk)


def attached_node(cluster: Cluster, name: str = "n1", address: str = "10.250.64.2") -> Node:
    """A node the attach script made, on the cluster's CA as it is now (its row only)."""
    ca, cert, key = authority.berth_client(cluster)
    return Node.objects.create(
        cluster=cluster,
        name=name,
        endpoint=f"tcp://{address}:2376",
        publish_ip=address,
        provider=Node.Provider.ATTACH,
        engine_id=f"ENGINE-{name}",
        state=Node.State.READY,
        tls_ca=ca,
        tls_cert=cert,
        tls_key_sealed=authority.seal(key),
    )


def rotate(user: User, cluster: Cluster) -> int:
    return client_for(user).post(f"/api/v1/clusters/{cluster.pk}/rotate-ca").status_code


@pytest.mark.parametrize("role", ["read-only", "developer", "operator"])
def test_only_the_primary_account_and_cluster_admins_may_rotate_the_ca(
    owner: User, cluster: Cluster, role: str
) -> None:
    before = cluster.ca_cert
    assert rotate(with_role(owner, cluster, "someone", role), cluster) == 403
    cluster.refresh_from_db()
    assert cluster.ca_cert == before and not NodeTask.objects.exists()
    assert rotate(with_role(owner, cluster, "boss", "admin"), cluster) == 202
    cluster.refresh_from_db()
    assert cluster.ca_cert != before and cluster.retired_ca_fingerprints == [pki.fingerprint(before)]
    assert rotate(owner, cluster) == 409  # the first rotation is still re-certifying the nodes
    entry = OperationLog.objects.get(action="cs:RotateClusterCertificates", outcome="accepted")
    assert entry.parameters["old_ca"] == pki.fingerprint(before)


def test_a_rotation_ends_the_old_cas_certificates_and_attach_commands(owner: User, cluster: Cluster) -> None:
    certificates.issue(owner, cluster)
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    old_client = cluster.client_cert
    assert rotate(owner, cluster) == 202
    cluster.refresh_from_db()
    record = UserCertificate.objects.get()
    assert record.revoked_at is not None and "rotated" in record.revoked_reason
    listed = client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/certificates").json()["results"]
    assert [c["status"] for c in listed] == ["revoked"]
    answer = APIClient().post(f"/api/v1/attach/{token}/certificates", {"address": "10.250.65.2"})
    assert answer.status_code == 403 and b"PRIVATE KEY" not in answer.content
    # Berth's own client certificate is of the new CA; a new user certificate too.
    assert cluster.client_cert != old_client
    pki.check_bundle(
        ca_pem=cluster.ca_cert,
        cert_pem=cluster.client_cert,
        key_pem=authority.unseal(cluster.client_key_sealed),
    )


def test_the_console_confirms_a_rotation_and_shows_it_only_to_those_who_may(owner: User, cluster: Cluster) -> None:
    reader = with_role(owner, cluster, "reader", "read-only")
    page = Client()
    page.force_login(reader)
    assert b"Rotate the CA" not in page.get(f"/clusters/{cluster.pk}/").content
    assert page.post(f"/clusters/{cluster.pk}/rotate-ca/", {"confirm": "on"}).status_code == 403
    page.force_login(owner)
    shown = page.get(f"/clusters/{cluster.pk}/").content.decode()
    assert "Rotate the CA" in shown and 'name="confirm"' in shown and "return confirm(" in shown
    before = cluster.ca_cert
    page.post(f"/clusters/{cluster.pk}/rotate-ca/")  # without the confirmation: nothing happens
    cluster.refresh_from_db()
    assert cluster.ca_cert == before and not NodeTask.objects.exists()
    assert page.post(f"/clusters/{cluster.pk}/rotate-ca/", {"confirm": "on"}).status_code == 302
    cluster.refresh_from_db()
    assert cluster.ca_cert != before and NodeTask.objects.get().kind == NodeTask.Kind.ROTATE


def test_nodes_on_the_old_ca_are_shown_with_a_renew_command_bound_to_them(owner: User, cluster: Cluster) -> None:
    node = attached_node(cluster)
    assert node.ca_standing(cluster) == "current"
    assert rotate(owner, cluster) == 202
    NodeTask.objects.update(status=NodeTask.Status.SUCCESSFUL)  # the worker's part is the integration test's
    cluster.refresh_from_db()
    node.refresh_from_db()
    assert node.ca_standing(cluster) == "old"
    listed = client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/nodes").json()["results"]
    assert [(n["name"], n["ca"]) for n in listed] == [("n1", "old")]
    page = Client()
    page.force_login(owner)
    assert 'data-testid="old-ca-node-n1"' in page.get(f"/clusters/{cluster.pk}/").content.decode()
    assert "old CA" in page.get(f"/clusters/nodes/{node.pk}/").content.decode()

    reader = with_role(owner, cluster, "reader", "read-only")
    url = f"/api/v1/clusters/{cluster.pk}/nodes/n1/renew-command"
    assert client_for(reader).post(url).status_code == 403
    made = client_for(owner).post(url, {"console_url": "http://127.0.0.1:8000"}, format="json")
    assert made.status_code == 201
    token = made.json()["command"].split("'")[1].rsplit("/", 2)[1]
    found = AttachToken.objects.get(purpose="renew")
    assert found.node == node and found.bound_address == "10.250.64.2"
    assert "MODE='renew'" in APIClient().get(f"/api/v1/attach/{token}/script").content.decode()
    # The token gives a certificate for its node's address only.
    other = APIClient().post(f"/api/v1/attach/{token}/certificates", {"address": "10.250.64.9"})
    assert other.status_code == 403 and b"another host" in other.content
    mine = APIClient().post(f"/api/v1/attach/{token}/certificates", {"address": "10.250.64.2"})
    assert mine.status_code == 200


def test_a_node_on_the_current_ca_gets_no_renew_command(owner: User, cluster: Cluster) -> None:
    attached_node(cluster)
    made = client_for(owner).post(f"/api/v1/clusters/{cluster.pk}/nodes/n1/renew-command")
    assert made.status_code == 400 and not AttachToken.objects.exists()
