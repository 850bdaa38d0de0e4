"""A refusal is on record even when it did not go through ``permissions.refuse`` (review of issue 9, F7): the
request middleware records every 403 answered to a signed-in user when nothing was noted, as it does for 404;
and the cluster's security policy, which only the primary account may change, is refused through the door."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from console.models import OperationLog
from tests.security.app_world import client_for, make_cluster, subaccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return make_cluster(owner, "prod")


def denied(user: User) -> list[OperationLog]:
    return list(OperationLog.objects.filter(actor=user, outcome="denied").order_by("seq"))


def test_a_subaccount_changing_the_security_policy_is_refused_on_record(owner: User, cluster: Cluster) -> None:
    admin = subaccount(owner, "clusteradmin", cluster, "admin")  # may modify the cluster, not what it allows
    response = client_for(admin).patch(
        f"/api/v1/clusters/{cluster.pk}", {"security_policy": {"allow_privileged": True}}, format="json"
    )
    assert response.status_code == 403
    assert "primary account" in response.json()["detail"]
    [entry] = denied(admin)
    assert (entry.action, entry.target, entry.cluster_id) == ("cs:ModifyCluster", "prod", cluster.pk)
    assert entry.resource == cluster.resource_name and entry.request_id == response["X-Request-Id"]
    cluster.refresh_from_db()
    assert not (cluster.security_policy or {}).get("allow_privileged")


def test_a_csrf_failure_is_not_recorded_as_a_refusal_of_the_pages_action(owner: User, cluster: Cluster) -> None:
    """A signed-in user's form post without its CSRF token (a page open too long, or a forged request) is refused
    by Django's CSRF check before any page or door runs: it refuses no permission, so it is not written as
    ``denied`` under the action the route maps to (issue 11; docs/security.md)."""
    operator = subaccount(owner, "operator", cluster, "operator")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop", status="running")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    response = browser.post(f"/applications/{app.pk}/stop/")
    assert response.status_code == 403 and b"This form has expired" in response.content
    assert denied(operator) == []


def test_a_noted_refusal_is_not_recorded_twice(owner: User, cluster: Cluster) -> None:
    reader = subaccount(owner, "reader", cluster, "read-only")
    app_list = f"/api/v1/clusters/{cluster.pk}/applications"
    assert client_for(reader).post(app_list, {"name": "web", "image": "local/busybox:1"}).status_code == 403
    assert len(denied(reader)) == 1
