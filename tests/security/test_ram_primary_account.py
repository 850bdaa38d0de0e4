"""Nobody but the primary account touches its credentials, and RAM operations never reach another tenant's
users (issue 9, item 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import AccessKey, User
from console.models import OperationLog
from tests.conftest import PASSWORD

NEW_PASSWORD = "Stolen-Horse-42"
USER_MANAGER: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ram:ListUsers",
                "ram:GetUser",
                "ram:UpdateUser",
                "ram:UpdateLoginProfile",
                "ram:ListAccessKeys",
                "ram:CreateAccessKey",
                "ram:UpdateAccessKey",
                "ram:DeleteAccessKey",
                "ram:DeleteVirtualMFADevice",
            ],
            "Resource": "acs:ram:*:*:user/*",
        }
    ],
}


@pytest.fixture
def manager(owner: User) -> User:
    """A sub-account allowed to manage users (passwords, access keys) but not to attach policies."""
    user = ram.create_subaccount(owner, name="helpdesk", password=PASSWORD)
    ram.attach_policy(owner, ram.create_policy(owner, name="user-managers", document=USER_MANAGER), user=user)
    ram.create_subaccount(owner, name="dev", password=PASSWORD)
    return User.objects.get(pk=user.pk)


def api(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def test_user_manager_cannot_create_an_access_key_for_the_primary_account(owner: User, manager: User) -> None:
    client = api(manager)
    response = client.post(f"/api/v1/ram/users/{owner.name}/access-keys")
    assert response.status_code == 403
    assert "secret" not in response.json()
    assert not AccessKey.objects.filter(user=owner).exists()
    # The takeover's next step needed that key: attaching AdministratorAccess to itself stays impossible.
    assert client.post("/api/v1/ram/users/helpdesk/policies", {"policy": "AdministratorAccess"}).status_code == 404
    # The same permission still works on a sub-account.
    assert client.post("/api/v1/ram/users/dev/access-keys").status_code == 201
    entry = OperationLog.objects.get(actor=manager, action="ram:CreateAccessKey", outcome="denied")
    assert entry.target == owner.login


def test_user_manager_cannot_change_the_primary_accounts_password(owner: User, manager: User) -> None:
    response = api(manager).patch(f"/api/v1/ram/users/{owner.name}", {"password": NEW_PASSWORD}, format="json")
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD) and not owner.check_password(NEW_PASSWORD)
    assert api(manager).patch("/api/v1/ram/users/dev", {"password": NEW_PASSWORD}, format="json").status_code == 200


def test_user_manager_cannot_disable_or_delete_the_primary_accounts_access_keys(owner: User, manager: User) -> None:
    key, _secret = AccessKey.objects.issue(owner)
    client = api(manager)
    url = f"/api/v1/ram/users/{owner.name}/access-keys/{key.key_id}"
    assert client.patch(url, {"active": False}, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    key.refresh_from_db()
    assert key.is_active


def test_console_refuses_the_same_on_the_primary_account(owner: User, manager: User) -> None:
    browser = Client()
    browser.force_login(manager)
    assert browser.post(f"/ram/users/{owner.name}/access-key/").status_code == 403
    assert browser.post(f"/ram/users/{owner.name}/password/", {"password": NEW_PASSWORD}).status_code == 403
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)
    assert not AccessKey.objects.filter(user=owner).exists()


def test_primary_account_still_manages_its_own_credentials(owner: User) -> None:
    key, _secret = ram.create_access_key(owner, owner)
    ram.set_access_key_active(owner, key, False)
    ram.change_password(owner, owner, NEW_PASSWORD, current=PASSWORD)
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    with pytest.raises(PermissionDenied):  # MFA reset of the primary account by someone else: never
        ram.disable_mfa(ram.create_subaccount(owner, name="x", password=PASSWORD), owner)


def test_ram_operations_never_reach_users_of_another_tenant(owner: User, outsider: User) -> None:
    admin = ram.create_subaccount(owner, name="root-ish", password=PASSWORD)
    ram.attach_policy(owner, ram.find_policy(owner, "AdministratorAccess"), user=admin)
    admin = User.objects.get(pk=admin.pk)
    victim = ram.create_subaccount(outsider, name="victim", password=PASSWORD)
    victim_key, _secret = AccessKey.objects.issue(victim)
    attempts: list[Callable[[], Any]] = [
        lambda: ram.change_password(admin, victim, NEW_PASSWORD),
        lambda: ram.change_password(admin, outsider, NEW_PASSWORD),
        lambda: ram.create_access_key(admin, victim),
        lambda: ram.set_access_key_active(admin, victim_key, False),
        lambda: ram.delete_access_key(admin, victim_key),
        lambda: ram.update_subaccount(admin, victim, active=False),
        lambda: ram.delete_subaccount(admin, victim),
        lambda: ram.attach_policy(admin, ram.find_policy(admin, "AdministratorAccess"), user=victim),
    ]
    for attempt in attempts:
        with pytest.raises(Http404):
            attempt()
    victim.refresh_from_db()
    outsider.refresh_from_db()
    assert victim.is_active and victim.check_password(PASSWORD) and outsider.check_password(PASSWORD)
    assert AccessKey.objects.filter(user=victim).count() == 1 and AccessKey.objects.get(user=victim).is_active
    assert not victim.policy_attachments.exists()
    # The refusals are in the attacker's tenant log, and they name nothing of the other tenant.
    entries = OperationLog.objects.filter(actor=admin, outcome="denied")
    assert entries.count() == len(attempts)
    assert all(e.tenant_id == owner.tenant_id and "victim" not in e.target + e.resource for e in entries)
    assert not OperationLog.objects.filter(tenant=outsider.tenant, actor=admin).exists()
