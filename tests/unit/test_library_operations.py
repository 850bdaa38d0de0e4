"""Templates and config sets change through their operations (apps.library), from the pages and the API alike:
each change is on the operation log, a refusal too."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps.models import Application, ConfigSet, Template
from clusters.models import Cluster
from console.models import OperationLog

pytestmark = pytest.mark.django_db

COMPOSE = "services:\n  web:\n    image: local/busybox:1\n"


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_of(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def entries(action: str) -> list[tuple[str, str, str]]:
    """(target, outcome, source) of the log entries of ``action``, oldest first."""
    rows = OperationLog.objects.filter(action=action).order_by("seq")
    return list(rows.values_list("target", "outcome", "source"))


def test_deleting_a_config_set_from_the_page_is_on_the_operation_log(owner: User) -> None:
    ConfigSet.objects.create(tenant=owner.tenant, name="prod", variables={"MODE": {"value": "x", "secret": False}})

    page = browser(owner).post("/config-sets/prod/delete/")

    assert page.status_code == 302 and page["Location"] == "/config-sets/"
    assert not ConfigSet.objects.filter(name="prod").exists()
    assert entries("cs:DeleteConfigSet") == [("prod", "success", "ui")]
    entry = OperationLog.objects.get(action="cs:DeleteConfigSet")
    assert entry.actor == owner and entry.resource == f"acs:cs:*:{owner.tenant_id}:configset/prod"


def test_deleting_a_config_set_through_the_api_is_on_the_operation_log(owner: User) -> None:
    ConfigSet.objects.create(tenant=owner.tenant, name="prod")
    assert api_of(owner).delete("/api/v1/config-sets/prod").status_code == 204
    assert entries("cs:DeleteConfigSet") == [("prod", "success", "api")]


def test_a_config_set_in_use_is_not_deleted_and_the_refusal_is_on_record(owner: User) -> None:
    used = ConfigSet.objects.create(tenant=owner.tenant, name="prod")
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop", config_set=used)

    page = browser(owner).post("/config-sets/prod/delete/", follow=True)
    assert "Applications still use this config set: shop." in page.content.decode()
    answer = api_of(owner).delete("/api/v1/config-sets/prod")
    assert (answer.status_code, answer.json()) == (400, {"name": ["Applications still use this config set: shop."]})

    assert ConfigSet.objects.filter(name="prod").exists()
    assert entries("cs:DeleteConfigSet") == [("prod", "failure", "ui"), ("prod", "failure", "api")]


def test_template_and_config_set_changes_from_the_pages_are_on_the_operation_log(owner: User) -> None:
    client = browser(owner)
    assert client.post("/templates/new/", {"name": "tpl", "compose": COMPOSE}).status_code == 302
    template = Template.objects.get(name="tpl")
    assert client.post(f"/templates/{template.pk}/", {"name": "tpl2", "compose": COMPOSE}).status_code == 302
    assert client.post(f"/templates/{template.pk}/delete/").status_code == 302
    assert client.post("/config-sets/", {"name": "cfg", "variables": "A=1"}).status_code == 302
    assert client.post("/config-sets/cfg/", {"name": "cfg", "variables": "A=2"}).status_code == 302

    assert entries("cs:CreateTemplate") == [("tpl", "success", "ui")]
    assert entries("cs:UpdateTemplate") == [("tpl2", "success", "ui")]
    assert OperationLog.objects.get(action="cs:UpdateTemplate").parameters == {"renamed_from": "tpl"}
    assert entries("cs:DeleteTemplate") == [("tpl2", "success", "ui")]
    assert entries("cs:CreateConfigSet") == [("cfg", "success", "ui")]
    assert entries("cs:UpdateConfigSet") == [("cfg", "success", "ui")]
