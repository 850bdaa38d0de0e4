"""A read-only sub-account cannot delete a config set (issue 11: the delete happened in the API view, with no
operation and no log entry, and the console had no way to do it): the page and the API go through
``apps.library.delete_config_set``, whose refusal is on record."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from apps.models import ConfigSet
from console.models import OperationLog
from tests.security.app_world import client_for, make_cluster, subaccount

pytestmark = pytest.mark.django_db

READS = [{"Effect": "Allow", "Action": ["cs:Describe*", "cs:Get*", "cs:List*"], "Resource": "*"}]


def test_read_only_subaccount_cannot_delete_a_config_set_from_the_page_or_the_api(owner: User) -> None:
    ConfigSet.objects.create(tenant=owner.tenant, name="prod", variables={"MODE": {"value": "x", "secret": False}})
    reader = subaccount(owner, "reader", make_cluster(owner), "read-only", READS)
    browser = Client()
    browser.force_login(reader)

    shown = browser.get("/config-sets/prod/").content.decode()
    assert 'data-testid="config-set-delete" disabled' in shown  # offered disabled, saying which action it needs
    assert browser.post("/config-sets/prod/delete/").status_code == 403
    assert client_for(reader).delete("/api/v1/config-sets/prod").status_code == 403

    assert ConfigSet.objects.filter(name="prod").exists()
    denied = OperationLog.objects.filter(actor=reader, outcome="denied").order_by("seq")
    assert [(e.action, e.source) for e in denied] == [("cs:DeleteConfigSet", "ui"), ("cs:DeleteConfigSet", "api")]
    assert not OperationLog.objects.filter(action="cs:DeleteConfigSet").exclude(outcome="denied").exists()
