"""Attack tests: a read-only sub-account cannot get root on the cluster's TLS nodes; cluster certificates are
their own action, short-lived, recorded by serial and revocable (security issue 9, item 2)."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from django.conf import settings
from django.utils import timezone

from accounts import operations as ram
from accounts.models import Policy, User
from clusters import certificates
from clusters import operations as ops
from clusters.models import Cluster, UserCertificate
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


def certificate_in(response: object) -> x509.Certificate:
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:  # type: ignore[attr-defined]
        return x509.load_pem_x509_certificate(bundle.read("cert.pem"))


@pytest.mark.parametrize("role", ["read-only", "developer", "operator"])
def test_read_only_subaccount_cannot_issue_cluster_certificate(owner: User, cluster: Cluster, role: str) -> None:
    user = with_role(owner, cluster, "someone", role)
    response = client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs")
    assert response.status_code == 403
    assert b"PRIVATE KEY" not in response.content and response["Content-Type"] != "application/zip"
    assert not UserCertificate.objects.exists()
    # The console page does not offer it either.
    page = client_for(user)
    page.force_login(user)
    assert b"Download client certificates" not in page.get(f"/clusters/{cluster.pk}/").content


def test_the_aliyun_read_only_policy_cannot_issue_cluster_certificate(owner: User, cluster: Cluster) -> None:
    ram.ensure_system_policies()
    user = ram.create_subaccount(owner, name="auditor", password=PASSWORD)
    ram.attach_policy(owner, Policy.objects.get(tenant=None, name="AliyunCSReadOnlyAccess"), user=user)
    user = User.objects.get(pk=user.pk)
    assert client_for(user).get(f"/api/v1/clusters/{cluster.pk}").status_code == 200  # it does read the cluster
    assert client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs").status_code == 403


@pytest.mark.parametrize("who", ["primary", "admin"])
def test_a_cluster_certificate_is_short_lived_and_recorded_by_serial(owner: User, cluster: Cluster, who: str) -> None:
    user = owner if who == "primary" else with_role(owner, cluster, "boss", "admin")
    response = client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    cert = certificate_in(response)
    lifetime = cert.not_valid_after_utc - timezone.now()
    assert lifetime <= timedelta(hours=24)
    assert lifetime <= timedelta(hours=settings.BERTH_USER_CERT_HOURS) <= timedelta(hours=24)
    record = UserCertificate.objects.get(serial=format(cert.serial_number, "x"))
    assert record.user == user and record.cluster == cluster and record.not_after == cert.not_valid_after_utc
    entry = OperationLog.objects.get(action="cs:IssueClusterCertificate", outcome="success")
    assert entry.actor == user and entry.parameters["serial"] == record.serial
    listed = client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/certificates").json()["results"]
    assert [(c["serial"], c["user"], c["status"]) for c in listed] == [(record.serial, user.login, "valid")]
    assert "PRIVATE" not in str(listed)


def test_a_revoked_certificate_is_recorded_and_shown_and_readers_cannot_revoke(owner: User, cluster: Cluster) -> None:
    reader = with_role(owner, cluster, "reader", "read-only")
    serial = format(certificate_in(client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/certs")).serial_number, "x")
    assert client_for(reader).delete(f"/api/v1/clusters/{cluster.pk}/certificates/{serial}").status_code == 403
    revoked = client_for(owner).delete(
        f"/api/v1/clusters/{cluster.pk}/certificates/{serial}", {"reason": "laptop lost"}, format="json"
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    record = UserCertificate.objects.get(serial=serial)
    assert record.revoked_at is not None and record.revoked_reason == "laptop lost"
    entry = OperationLog.objects.get(action="cs:RevokeClusterCertificate", outcome="success")
    assert entry.parameters == {"serial": serial, "holder": "admin@acme", "reason": "laptop lost"}
    assert entry.actor == owner and entry.target.startswith(serial)
    shown = client_for(reader).get(f"/api/v1/clusters/{cluster.pk}/certificates").json()["results"]
    assert shown[0]["status"] == "revoked"


def test_certificates_of_a_holder_who_loses_the_grant_or_is_deleted_count_as_revoked(
    owner: User, cluster: Cluster
) -> None:
    boss = with_role(owner, cluster, "boss", "admin")
    temp = with_role(owner, cluster, "temp", "admin")
    for user in (boss, temp):
        assert client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs").status_code == 200
    ram.revoke(owner, "user:boss", cluster)
    ram.delete_subaccount(owner, User.objects.get(pk=temp.pk))
    listed = {
        c["user"]: c for c in client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/certificates").json()["results"]
    }
    assert {login: c["status"] for login, c in listed.items()} == {"boss@acme": "revoked", "temp@acme": "revoked"}
    assert all(c["status_reason"] == certificates.HOLDER_GONE for c in listed.values())
    assert certificates.sweep() == 2  # the periodic task records it
    assert UserCertificate.objects.filter(revoked_at__isnull=False).count() == 2
    assert (
        OperationLog.objects.filter(action="cs:RevokeClusterCertificate", source="system", outcome="success").count()
        == 2
    )
    assert certificates.sweep() == 0


def test_revoke_certificates_of_a_user_revokes_every_live_one(owner: User, cluster: Cluster) -> None:
    other = ops.create_cluster(owner, name="other")
    boss = with_role(owner, cluster, "boss", "admin")
    ram.grant(owner, "user:boss", other, "admin")
    boss = User.objects.get(pk=boss.pk)
    for target in (cluster, other):
        certificates.issue(boss, target)
    assert certificates.revoke_certificates_for_cluster(boss, other, "role on other revoked") == 1
    assert certificates.revoke_certificates_of(boss, "user disabled") == 1
    assert set(UserCertificate.objects.values_list("revoked_reason", flat=True)) == {
        "role on other revoked",
        "user disabled",
    }


# --- F6: "still may issue" is judged apart from any request; the list is a constant number of queries -----------


def with_policy(owner: User, cluster: Cluster, name: str, statements: list[dict]) -> User:
    user = ram.create_subaccount(owner, name=name, password=PASSWORD)
    policy = ram.create_policy(owner, name=f"p-{name}", document={"Version": "1", "Statement": statements})
    ram.attach_policy(owner, policy, user=User.objects.get(pk=user.pk))
    return User.objects.get(pk=user.pk)


def office_only(cluster: Cluster) -> list[dict]:
    """Issue certificates for the cluster (and read it), from the office network only."""
    return [
        {"Effect": "Allow", "Action": ["cs:Describe*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [certificates.ISSUE],
            "Resource": cluster.resource_name,
            "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
        },
    ]


def test_a_source_ip_condition_does_not_revoke_certificates_in_the_sweep(owner: User, cluster: Cluster) -> None:
    user = with_policy(owner, cluster, "remote", office_only(cluster))
    response = client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs", REMOTE_ADDR="192.0.2.7").status_code == 403
    assert certificates.sweep() == 0  # the beat has no request, hence no address: the holder still may issue
    assert UserCertificate.objects.get().revoked_at is None
    # A Deny that holds whatever the request still counts at once.
    deny = ram.create_policy(
        owner,
        name="p-no-certs",
        document={"Version": "1", "Statement": [{"Effect": "Deny", "Action": certificates.ISSUE, "Resource": "*"}]},
    )
    ram.attach_policy(owner, deny, user=user)
    assert certificates.sweep() == 1
    assert UserCertificate.objects.get().revoked_reason == certificates.HOLDER_GONE


def test_the_viewers_address_does_not_change_a_certificates_status(owner: User, cluster: Cluster) -> None:
    user = with_policy(owner, cluster, "remote", office_only(cluster))
    assert client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs", REMOTE_ADDR="10.1.2.3").status_code == 200
    listed = (
        client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/certificates", REMOTE_ADDR="192.0.2.7").json()["results"]
    )
    assert [c["status"] for c in listed] == ["valid"]
    page = client_for(owner)
    page.force_login(owner)
    shown = page.get(f"/clusters/{cluster.pk}/", REMOTE_ADDR="192.0.2.7").content.decode()
    assert certificates.HOLDER_GONE not in shown


def test_the_certificate_list_takes_a_constant_number_of_queries(
    owner: User, cluster: Cluster, django_assert_num_queries: Any, django_assert_max_num_queries: Any
) -> None:
    from django.db import reset_queries

    api = client_for(owner)
    url = f"/api/v1/clusters/{cluster.pk}/certificates"

    def holders(count: int, start: int) -> None:
        """``count`` more holders, each with a certificate: half by a role, half by a conditioned policy."""
        for number in range(start, start + count):
            if number % 2:
                certificates.issue(with_role(owner, cluster, f"holder{number}", "admin"), cluster)
                continue
            user = with_policy(owner, cluster, f"holder{number}", office_only(cluster))
            assert (
                client_for(user).get(f"/api/v1/clusters/{cluster.pk}/certs", REMOTE_ADDR="10.0.0.9").status_code == 200
            )

    holders(2, 0)
    api.get(url)  # a first request writes what the key's first use writes
    reset_queries()  # each request starts with an empty query log: count from there
    with django_assert_max_num_queries(100) as two:
        assert len(api.get(url).json()["results"]) == 2
    listed = len(two.captured_queries)  # read before the log is reset again
    holders(6, 2)
    reset_queries()
    with django_assert_num_queries(listed):
        assert len(api.get(url).json()["results"]) == 8
    page = client_for(owner)
    page.force_login(owner)
    page.get(f"/clusters/{cluster.pk}/")
    reset_queries()
    with django_assert_max_num_queries(100) as eight:
        assert page.get(f"/clusters/{cluster.pk}/").status_code == 200
    shown = len(eight.captured_queries)
    holders(4, 8)
    reset_queries()
    with django_assert_num_queries(shown):
        assert page.get(f"/clusters/{cluster.pk}/").status_code == 200
