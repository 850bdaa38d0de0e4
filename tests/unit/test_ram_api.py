"""The RAM API contract: users, groups, policies and versions, attachments, access keys, grants, simulator."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from clusters.models import Cluster
from console.models import OperationLog
from tests.conftest import PASSWORD

READ_ONLY_DOC: dict[str, Any] = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "cs:Describe*", "Resource": "*"}],
}


@pytest.fixture
def client(owner: User) -> APIClient:
    key, secret = AccessKey.objects.issue(owner)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return c


def as_user(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return c


def test_users_create_read_update_delete(client: APIClient, owner: User) -> None:
    created = client.post("/api/v1/ram/users", {"name": "alice", "password": PASSWORD}, format="json")
    assert created.status_code == 201 and created.json()["login"] == "alice@acme"
    assert "password" not in created.json()
    assert client.post("/api/v1/ram/users", {"name": "alice", "password": PASSWORD}, format="json").status_code == 400
    assert client.post(
        "/api/v1/ram/users", {"name": "bob", "password": PASSWORD, "admin": True}, format="json"
    ).json() == {"admin": ["Unknown field."]}
    assert client.patch("/api/v1/ram/users/alice", {"active": False}, format="json").json()["is_active"] is False
    assert client.get("/api/v1/ram/users/alice").json()["kind"] == "sub"
    assert client.delete("/api/v1/ram/users/alice").status_code == 204
    assert client.get("/api/v1/ram/users/alice").status_code == 404
    assert client.delete("/api/v1/ram/users/admin").status_code == 400  # the primary account stays
    entry = OperationLog.objects.get(action="ram:CreateUser")
    assert entry.parameters["password"] == "[redacted]"


def test_password_policy_applies_to_new_users(client: APIClient, owner: User) -> None:
    from accounts import operations

    operations.set_password_policy(
        owner, password_min_length=12, password_require_digit=True, password_require_symbol=True
    )
    refused = client.post("/api/v1/ram/users", {"name": "carol", "password": "Shortpass"}, format="json")
    assert refused.status_code == 400
    messages = " ".join(refused.json()["password"])
    assert "12" in messages and "digit" in messages and "symbol" in messages
    assert (
        client.post("/api/v1/ram/users", {"name": "carol", "password": "Long-enough-pass-1"}, format="json").status_code
        == 201
    )


def test_groups_membership_and_rename(client: APIClient, owner: User, member: User) -> None:
    body = client.post("/api/v1/ram/groups", {"name": "devs", "members": ["dev"]}, format="json").json()
    assert body["members"] == ["dev"]
    assert client.post("/api/v1/ram/groups", {"name": "x", "members": ["nobody"]}, format="json").status_code == 400
    renamed = client.patch("/api/v1/ram/groups/devs", {"name": "developers", "members": []}, format="json").json()
    assert renamed == {**renamed, "name": "developers", "members": []}
    assert client.get("/api/v1/ram/groups/devs").status_code == 404
    assert client.delete("/api/v1/ram/groups/developers").status_code == 204


def test_policy_versions_keep_five_with_one_default(client: APIClient) -> None:
    assert (
        client.post("/api/v1/ram/policies", {"name": "readers", "document": READ_ONLY_DOC}, format="json").status_code
        == 201
    )
    for i in range(6):
        doc = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": f"cs:Describe{i}*", "Resource": "*"}]}
        if i % 2:
            assert client.put("/api/v1/ram/policies/readers", {"document": doc}, format="json").status_code == 200
        else:
            assert (
                client.post("/api/v1/ram/policies/readers/versions", {"document": doc}, format="json").status_code
                == 201
            )
    body = client.get("/api/v1/ram/policies/readers").json()
    assert [v["version"] for v in body["versions"]] == ["v3", "v4", "v5", "v6", "v7"]
    assert body["default_version"] == "v7"
    assert body["document"]["Statement"][0]["Action"] == "cs:Describe5*"
    assert OperationLog.objects.filter(action="ram:CreatePolicyVersion").count() == 6


def test_malformed_policy_names_the_json_path(client: APIClient) -> None:
    bad = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cs:X", "Resource": "*"},
            {"Effect": "Maybe", "Action": "cs:Y", "Resource": "*"},
        ],
    }
    response = client.post("/api/v1/ram/policies", {"name": "broken", "document": bad}, format="json")
    assert response.status_code == 400
    assert response.json()["document"][0].startswith("$.Statement[1].Effect")
    assert client.get("/api/v1/ram/policies/broken").status_code == 404


def test_system_policies_cannot_change(client: APIClient) -> None:
    assert (
        client.put("/api/v1/ram/policies/AliyunCSFullAccess", {"document": READ_ONLY_DOC}, format="json").status_code
        == 400
    )
    assert client.delete("/api/v1/ram/policies/AdministratorAccess").status_code == 400


def test_attach_detach_and_the_effect(client: APIClient, owner: User, member: User) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    dev = as_user(member)
    assert dev.get("/api/v1/clusters").json()["results"] == []
    assert (
        client.post("/api/v1/ram/users/dev/policies", {"policy": "AliyunCSReadOnlyAccess"}, format="json").status_code
        == 201
    )
    assert (
        client.post("/api/v1/ram/users/dev/policies", {"policy": "AliyunCSReadOnlyAccess"}, format="json").status_code
        == 400
    )
    assert [c["name"] for c in dev.get("/api/v1/clusters").json()["results"]] == ["c1"]
    assert client.get("/api/v1/ram/users/dev/policies").json()["results"] == [
        {"name": "AliyunCSReadOnlyAccess", "kind": "system"}
    ]
    assert (
        client.post("/api/v1/ram/users/admin/policies", {"policy": "AliyunCSReadOnlyAccess"}, format="json").status_code
        == 400
    )  # policies are for sub-accounts
    # Through a group, a policy with an explicit Deny wins over the Allow.
    deny = {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "cs:*", "Resource": cluster.resource_name}]}
    client.post("/api/v1/ram/policies", {"name": "no-c1", "document": deny}, format="json")
    client.post("/api/v1/ram/groups", {"name": "g", "members": ["dev"]}, format="json")
    assert client.post("/api/v1/ram/groups/g/policies", {"policy": "no-c1"}, format="json").status_code == 201
    assert dev.get("/api/v1/clusters").json()["results"] == []
    assert client.delete("/api/v1/ram/groups/g/policies/no-c1").status_code == 204
    assert client.delete("/api/v1/ram/users/dev/policies/AliyunCSReadOnlyAccess").status_code == 204
    assert dev.get("/api/v1/clusters").json()["results"] == []
    assert client.delete("/api/v1/ram/policies/no-c1").status_code == 204


def test_access_keys_two_at_most_secret_once_disable(client: APIClient, member: User) -> None:
    first = client.post("/api/v1/ram/users/dev/access-keys").json()
    second = client.post("/api/v1/ram/users/dev/access-keys").json()
    assert first["secret"] and second["secret"]
    assert client.post("/api/v1/ram/users/dev/access-keys").status_code == 400
    listed = client.get("/api/v1/ram/users/dev/access-keys").json()["results"]
    assert {k["key_id"] for k in listed} == {first["key_id"], second["key_id"]}
    assert all("secret" not in k for k in listed)
    assert first["secret"] not in AccessKey.objects.get(key_id=first["key_id"]).secret_hash
    dev = APIClient()
    dev.credentials(HTTP_AUTHORIZATION=f"Bearer {first['key_id']}:{first['secret']}")
    assert dev.get("/api/v1/clusters").status_code == 200
    assert (
        client.patch(
            f"/api/v1/ram/users/dev/access-keys/{first['key_id']}", {"active": False}, format="json"
        ).status_code
        == 200
    )
    assert dev.get("/api/v1/clusters").status_code == 401
    assert client.delete(f"/api/v1/ram/users/dev/access-keys/{first['key_id']}").status_code == 204
    logged = OperationLog.objects.filter(action__startswith="ram:").values_list("parameters", "target")
    assert not any(first["secret"] in str(p) or first["secret"] in t for p, t in logged)


def test_self_service_lets_a_sub_account_manage_its_own_keys_only(client: APIClient, member: User) -> None:
    other = User.objects.create_user(member.tenant, "other", PASSWORD)
    client.post("/api/v1/ram/users/dev/policies", {"policy": "AliyunRAMSelfServiceAccess"}, format="json")
    dev = as_user(User.objects.get(pk=member.pk))
    assert dev.post("/api/v1/ram/users/dev/access-keys").status_code == 201
    assert dev.post(f"/api/v1/ram/users/{other.name}/access-keys").status_code == 404


def test_grants_api(client: APIClient, owner: User, member: User, outsider: User) -> None:
    mine = Cluster.objects.create(tenant=owner.tenant, name="mine")
    theirs = Cluster.objects.create(tenant=outsider.tenant, name="theirs")
    body = {"principal": "user:dev", "cluster": mine.pk, "role": "read-only"}
    assert client.post("/api/v1/ram/grants", body, format="json").status_code == 201
    assert client.post("/api/v1/ram/grants", {**body, "cluster": theirs.pk}, format="json").status_code == 400
    assert client.post("/api/v1/ram/grants", {**body, "role": "god"}, format="json").status_code == 400
    assert client.post("/api/v1/ram/grants", {**body, "principal": "user:ghost"}, format="json").status_code == 400
    client.post("/api/v1/ram/grants", {**body, "role": "operator"}, format="json")  # replaces read-only
    rows = client.get("/api/v1/ram/grants").json()["results"]
    assert [(r["principal"], r["cluster_name"], r["role"]) for r in rows] == [("user:dev", "mine", "operator")]
    assert client.delete(f"/api/v1/ram/grants/{rows[0]['id']}").status_code == 204
    assert client.get("/api/v1/ram/grants").json()["results"] == []
    assert OperationLog.objects.filter(action="cs:GrantPermissions", cluster_id=mine.pk).count() == 2


def test_simulator_names_what_decided(client: APIClient, owner: User, member: User) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="sim")
    doc = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "cs:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
            },
            {
                "Effect": "Deny",
                "Action": "cs:DeleteCluster",
                "Resource": cluster.resource_name,
                "Condition": {"Bool": {"acs:MFAPresent": "false"}},
            },
        ],
    }
    client.post("/api/v1/ram/policies", {"name": "office", "document": doc}, format="json")
    client.post("/api/v1/ram/users/dev/policies", {"policy": "office"}, format="json")

    def ask(action: str, ip: str, mfa: bool) -> dict[str, Any]:
        return client.post(
            "/api/v1/ram/simulate",
            {
                "user": "dev",
                "action": action,
                "resource": cluster.resource_name,
                "context": {"acs:SourceIp": ip, "acs:MFAPresent": mfa},
            },
            format="json",
        ).json()

    denied = ask("cs:DeleteCluster", "10.1.2.3", False)
    assert denied["decision"] == "deny"
    assert denied["reason"] == {
        **denied["reason"],
        "type": "policy",
        "effect": "Deny",
        "policy": "office",
        "version": "v1",
        "statement": 1,
    }
    allowed = ask("cs:DeleteCluster", "10.1.2.3", True)
    assert allowed["decision"] == "allow" and allowed["reason"]["statement"] == 0
    assert ask("cs:DescribeClusters", "192.168.1.1", True) == {"decision": "deny", "reason": {"type": "implicit-deny"}}
    client.post(
        "/api/v1/ram/grants", {"principal": "user:dev", "cluster": cluster.pk, "role": "read-only"}, format="json"
    )
    granted = ask("cs:DescribeClusters", "192.168.1.1", False)
    assert granted == {"decision": "allow", "reason": {"type": "grant", "role": "read-only", "cluster": cluster.pk}}
    bad = client.post(
        "/api/v1/ram/simulate",
        {"user": "dev", "action": "x", "resource": "*", "context": {"acs:Bogus": 1}},
        format="json",
    )
    assert bad.status_code == 400 and {"action", "context"} & set(bad.json())


def test_management_commands(owner: User, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    call_command("create_subaccount", "--tenant", "acme", "--name", "ops1", "--password-stdin")
    call_command("attach_policy", "--tenant", "acme", "--user", "ops1", "--policy", "AliyunCSFullAccess")
    call_command("create_access_key", "--tenant", "acme", "--user", "ops1")
    out = capsys.readouterr().out.strip().splitlines()
    key_id, secret = out[-1].split(":")
    key = AccessKey.objects.get(key_id=key_id)
    assert key.user.name == "ops1" and key.check_secret(secret)
    assert key.user.policy_attachments.get().policy.name == "AliyunCSFullAccess"
