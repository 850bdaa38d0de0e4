"""What the RAM endpoints and pages check is what the action catalogue says they need: a sub-account allowed
exactly the catalogued action gets the answer, one allowed everything but it gets nothing (issue 9, low item:
``GET /api/v1/ram/grants`` checked no action; GetGroup, GetPolicy and ListPoliciesForUser checked others)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import resolve
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.catalogue import usage
from accounts.models import AccessKey, Policy, User
from clusters.models import Cluster
from tests.conftest import PASSWORD

NAMES = {"/api/v1/ram/users/": "dev", "/api/v1/ram/groups/": "ops", "/api/v1/ram/policies/": "custom"}
PAGES = [
    "/ram/users/",
    "/ram/users/dev/",
    "/ram/groups/",
    "/ram/groups/ops/",
    "/ram/policies/",
    "/ram/policies/custom/",
    "/ram/authorizations/",
]


def ram_get_endpoints() -> list[tuple[str, str]]:
    """(action, path) of every catalogued ``GET`` endpoint of RAM with a protected answer, names filled in."""
    found = []
    for action, endpoints in usage()[1].items():
        for endpoint in endpoints:
            method, _sep, route = endpoint.partition(" ")
            if method != "GET" or not route.startswith("/api/v1/ram/") or action == "ram:ListActions":
                continue
            prefix = next((p for p in NAMES if route.startswith(p)), "")
            found.append((action, route.replace("{name}", NAMES.get(prefix, ""))))
    return sorted(found)


@pytest.fixture
def tenant(owner: User) -> tuple[Policy, User]:
    """Something to see behind every endpoint, and a sub-account (``probe``) whose policy each case sets."""
    dev = ram.create_subaccount(owner, name="dev", password=PASSWORD)
    custom = ram.create_policy(
        owner,
        name="custom",
        document={"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cs:Get*", "Resource": "*"}]},
    )
    ram.attach_policy(owner, custom, user=dev)
    group = ram.create_group(owner, name="ops", members=["dev"])
    ram.attach_policy(owner, custom, group=group)
    AccessKey.objects.issue(dev)
    ram.grant(owner, "user:dev", Cluster.objects.create(tenant=owner.tenant, name="prod"), "read-only")
    probe = ram.create_subaccount(owner, name="probe", password=PASSWORD)
    policy = ram.create_policy(owner, name="probe-policy", document=allowing("ram:Nothing"))
    ram.attach_policy(owner, policy, user=probe)
    return policy, probe


def allowing(action: str, *, all_but: bool = False) -> dict[str, Any]:
    if all_but:
        statements = [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": action, "Resource": "*"},
        ]
    else:
        statements = [{"Effect": "Allow", "Action": action, "Resource": "*"}]
    return {"Version": "1", "Statement": statements}


def as_probe(owner: User, tenant: tuple[Policy, User], document: dict[str, Any]) -> APIClient:
    policy, probe = tenant
    ram.add_policy_version(owner, policy, document)
    key, secret = AccessKey.objects.issue(User.objects.get(pk=probe.pk))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


@pytest.mark.parametrize(("action", "path"), ram_get_endpoints())
def test_ram_endpoint_checks_the_catalogued_action(
    owner: User, tenant: tuple[Policy, User], action: str, path: str
) -> None:
    allowed = as_probe(owner, tenant, allowing(action)).get(path)
    assert allowed.status_code == 200, (action, path, allowed.status_code)
    assert allowed.json(), (action, path)  # the answer carries what is there
    if "results" in allowed.json():  # a list: a page of rows
        assert allowed.json()["results"], (action, path)

    refused = as_probe(owner, tenant, allowing(action, all_but=True)).get(path)
    nothing = refused.status_code == 200 and refused.json().get("results") == []
    assert refused.status_code in (403, 404) or nothing, (action, path, refused.content[:200])


@pytest.mark.parametrize("path", PAGES)
def test_ram_page_opens_with_the_first_action_it_declares(owner: User, tenant: tuple[Policy, User], path: str) -> None:
    policy, probe = tenant
    action = resolve(path).func.berth_actions[0]
    ram.add_policy_version(owner, policy, allowing(action))
    browser = Client()
    browser.force_login(User.objects.get(pk=probe.pk))
    assert browser.get(path).status_code == 200, (path, action)
