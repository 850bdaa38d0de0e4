"""A RAM request on a user, group or policy the caller may see but may not change is a 403 that names the action
it asked for, and the refusal is logged under that action (issue 11): the nested routes looked the object up with
their list action, so a read-only sub-account's ``POST /ram/users/<self>/access-keys`` answered 404 "Not found."
and was logged as ``ram:ListAccessKeys``. One's own user is always visible to oneself; another tenant's objects
are still not found, and never named."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import AccessKey, Policy, User
from console.models import OperationLog
from tests.conftest import PASSWORD, make_tenant

SEES_RAM: dict[str, Any] = {  # may see users, groups and policies, and change nothing
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": ["ram:GetUser", "ram:ListGroups", "ram:ListPolicies"], "Resource": "*"}
    ],
}


@pytest.fixture
def viewer(owner: User) -> User:
    user = ram.create_subaccount(owner, name="viewer", password=PASSWORD)
    ram.create_subaccount(owner, name="bob", password=PASSWORD)
    ram.create_group(owner, name="devs")
    custom = ram.create_policy(owner, name="sees-ram", document=SEES_RAM)
    ram.attach_policy(owner, custom, user=user)
    ram.attach_policy(owner, Policy.objects.get(name="AliyunCSReadOnlyAccess"), user=User.objects.get(name="bob"))
    return user


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def refused_as(response: Any, action: str) -> None:
    assert response.status_code == 403, (response.status_code, response.content)
    assert response.json() == {"detail": f"You are not permitted to perform {action}."}
    entry = OperationLog.objects.filter(outcome="denied").latest("id")
    assert entry.action == action, entry.action


def test_read_only_subaccount_creating_its_own_access_key_is_refused_403_as_create_access_key(owner: User) -> None:
    reader = ram.create_subaccount(owner, name="reader", password=PASSWORD)
    ram.attach_policy(owner, Policy.objects.get(name="AliyunCSReadOnlyAccess"), user=reader)
    refused_as(api_for(reader).post("/api/v1/ram/users/reader/access-keys"), "ram:CreateAccessKey")
    refused_as(api_for(reader).get("/api/v1/ram/users/reader/access-keys"), "ram:ListAccessKeys")
    assert not AccessKey.objects.filter(user=reader).exists()
    other = make_tenant("globex")  # another tenant's user is still not found, and not named in the refusal
    ram.create_subaccount(other, name="carol", password=PASSWORD)
    response = api_for(reader).post("/api/v1/ram/users/carol/access-keys")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert not OperationLog.objects.filter(tenant=owner.tenant, resource__contains="carol").exists()


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        ("post", "/api/v1/ram/users/bob/access-keys", None, "ram:CreateAccessKey"),
        ("post", "/api/v1/ram/users/bob/policies", {"policy": "sees-ram"}, "ram:AttachPolicyToUser"),
        ("delete", "/api/v1/ram/users/bob/policies/AliyunCSReadOnlyAccess", None, "ram:DetachPolicyFromUser"),
        ("post", "/api/v1/ram/groups/devs/policies", {"policy": "sees-ram"}, "ram:AttachPolicyToGroup"),
        ("delete", "/api/v1/ram/groups/devs/policies/sees-ram", None, "ram:DetachPolicyFromGroup"),
        ("post", "/api/v1/ram/policies/sees-ram/versions", {"document": SEES_RAM}, "ram:CreatePolicyVersion"),
        ("delete", "/api/v1/ram/groups/devs", None, "ram:DeleteGroup"),
        ("delete", "/api/v1/ram/policies/sees-ram", None, "ram:DeletePolicy"),
    ],
)
def test_a_change_to_a_visible_ram_object_is_refused_403_naming_the_action_asked(
    viewer: User, method: str, path: str, body: Any, action: str
) -> None:
    before = (AccessKey.objects.count(), Policy.objects.get(name="sees-ram").versions.count())
    refused_as(getattr(api_for(viewer), method)(path, body, format="json"), action)
    assert (AccessKey.objects.count(), Policy.objects.get(name="sees-ram").versions.count()) == before
