"""A console page opens only with the action its request needs (review of issue 9, F3): the update page of an
application needs ``cs:UpdateApplication``, not only the right to describe the application, because it shows
the Compose text and every variable value. Pages declare the action of each method (``accounts.pages.page``) and
look up their object through the door with it; the catalogue walk below proves it for every page of the URL
configuration with a read-only sub-account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver

from accounts import operations as ram
from accounts.catalogue import _walk
from accounts.models import AccessKey, User
from accounts.pages import PageActions
from accounts.roles import is_read_action
from apps.models import Application, ConfigSet, Container, Template
from clusters import registries
from clusters.models import Cluster
from console.models import OperationLog
from routing import certificates
from tests.certs import self_signed
from tests.conftest import PASSWORD
from tests.security.app_world import client_for, deploy_url, make_cluster, subaccount

pytestmark = pytest.mark.django_db

DB_PASSWORD = "db-pass-5521-never-shown"
COMPOSE = """
services:
  web:
    image: local/busybox:1
    command: sleep 3600
    environment:
      DB_PASSWORD: ${DB_PASSWORD}
      LITERAL_TOKEN: literal-token-3318
"""
# Everything a read-only sub-account may do: the read-only role's actions and RAM's reads, everywhere.
READS = [
    {"Effect": "Allow", "Action": ["cs:Describe*", "cs:Get*", "cs:List*", "ram:Get*", "ram:List*"], "Resource": "*"}
]


@dataclass
class Tenant:
    """Something behind every page of the console, and who looks at it."""

    owner: User
    reader: User
    cluster: Cluster
    app: Application
    values: dict[str, Any]


@pytest.fixture
def tenant(owner: User) -> Tenant:
    cluster = make_cluster(owner, "prod")
    body = {"name": "shop", "compose": COMPOSE, "variables": {"DB_PASSWORD": DB_PASSWORD}}
    assert client_for(owner).post(deploy_url(cluster), body, format="json").status_code == 202
    app = Application.objects.get(name="shop")
    container = Container.objects.filter(service__application=app).first() or _container(app)
    template = Template.objects.create(tenant=owner.tenant, name="tpl", compose=COMPOSE)
    ConfigSet.objects.create(tenant=owner.tenant, name="cfg", variables={"MODE": {"value": "x", "secret": False}})
    credential = registries.create_credential(owner, registry="registry.example.com", username="u", password="p4ss")
    pair = self_signed(["www.example.test"], days=90)
    certificate = certificates.upload(owner, name="web", certificate=pair.cert_pem, key=pair.key_pem)
    dev = ram.create_subaccount(owner, name="dev", password=PASSWORD)
    ram.create_group(owner, name="ops", members=["dev"])
    ram.create_policy(owner, name="custom", document={"Version": "1", "Statement": READS})
    key, _secret = AccessKey.objects.issue(dev)
    reader = subaccount(owner, "reader", cluster, "read-only", READS)
    values = {
        ("clusters/nodes/", "pk"): cluster.nodes.first().pk,
        ("clusters/registry-credentials/", "pk"): credential.pk,
        ("certificates/", "pk"): certificate.pk,
        ("clusters/", "pk"): cluster.pk,
        ("clusters/", "serial"): "01",
        ("applications/", "pk"): app.pk,
        ("applications/", "container"): container.name,
        ("applications/", "release_id"): app.releases.latest("id").pk,
        ("templates/", "pk"): template.pk,
        ("templates/", "kind"): "template",
        ("templates/", "key"): template.pk,
        ("config-sets/", "name"): "cfg",
        ("ram/users/", "name"): "dev",
        ("ram/groups/", "name"): "ops",
        ("ram/policies/", "name"): "custom",
        ("account/access-keys/", "key_id"): key.key_id,
    }
    return Tenant(owner, reader, cluster, app, values)


def _container(app: Application) -> Container:
    service = app.services.first()
    return Container.objects.create(service=service, node=app.cluster.nodes.first(), index=1, name="shop_web_1")


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pages() -> list[tuple[str, Any]]:
    """Every console page of the URL configuration (route, view)."""
    return [(route, view) for route, view in _walk(get_resolver().url_patterns) if hasattr(view, "berth_page")]


def url_of(route: str, declared: PageActions, values: dict[tuple[str, str], Any]) -> tuple[str, dict[str, Any]]:
    """The route with every argument filled (objects of ``values``; a verb the page knows)."""
    kwargs: dict[str, Any] = {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == declared.verb and isinstance(declared.post, dict):
            kwargs[name] = next(iter(declared.post))
        else:
            found = [v for (prefix, param), v in values.items() if param == name and route.startswith(prefix)]
            assert found, f"no object for <{name}> of /{route}: add one to the tenant fixture"
            kwargs[name] = found[0]
        return str(kwargs[name])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route), kwargs


def test_read_only_subaccount_cannot_open_the_update_page_of_an_application(tenant: Tenant) -> None:
    response = browser(tenant.reader).get(f"/applications/{tenant.app.pk}/update/")
    assert response.status_code in (403, 404)
    body = response.content.decode()
    assert DB_PASSWORD not in body and "literal-token-3318" not in body and "${DB_PASSWORD}" not in body
    [entry] = OperationLog.objects.filter(actor=tenant.reader, outcome="denied")
    assert (entry.action, entry.target) == ("cs:UpdateApplication", "shop")

    # who may change the application opens it (and sees what it runs with)
    operator = subaccount(tenant.owner, "operator", tenant.cluster, "operator")
    opened = browser(operator).get(f"/applications/{tenant.app.pk}/update/")
    assert opened.status_code == 200 and DB_PASSWORD in opened.content.decode()


def test_no_page_whose_get_needs_a_change_opens_for_a_read_only_subaccount(tenant: Tenant) -> None:
    reader = browser(tenant.reader)
    walked = {"read": 0, "write": 0}
    for route, view in pages():
        declared: PageActions = view.berth_page
        url, kwargs = url_of(route, declared, tenant.values)
        action = declared.action("GET", kwargs)
        response = reader.get(url)
        if action is None:
            assert response.status_code == 405, (url, response.status_code)
            continue
        body = response.content.decode(errors="replace")
        assert DB_PASSWORD not in body, url
        if is_read_action(action):
            assert response.status_code == 200, (url, action, response.status_code)
            walked["read"] += 1
        else:
            assert response.status_code in (403, 404), (url, action, response.status_code)
            walked["write"] += 1
    assert walked["read"] >= 15 and walked["write"] >= 6, walked  # the walk reached the pages it is about


def test_every_change_whose_url_names_no_object_is_decided_before_the_page() -> None:
    """A page that changes something without an object in its URL declares where the change is decided
    (``scope``), or acts on the signed-in user's own account; otherwise the door would answer 500."""
    for route, view in pages():
        declared: PageActions = view.berth_page
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        kwargs = {name: "x" for name in names}
        for method in ("GET", "POST"):
            action = declared.action(method, kwargs)
            if action and declared.needs_scope(action, kwargs):
                assert action in declared.scope, f"/{route} {method}: {action} has no scope"
        assert declared.actions, f"/{route} declares no action"
        assert not declared.get or declared.actions[0] == declared.get, f"/{route}: the GET action comes first"


def test_a_page_answers_only_the_methods_it_declares(tenant: Tenant) -> None:
    owner = browser(tenant.owner)
    assert owner.post(f"/applications/{tenant.app.pk}/").status_code == 405  # a page that only shows
    assert owner.get(f"/applications/{tenant.app.pk}/stop/").status_code == 405  # a change, never by GET
    assert owner.post(f"/applications/{tenant.app.pk}/explode/").status_code == 404  # a verb it does not know
