"""One conflict error, one answer (issue 10): an operation refused because of the object's state is a 409 with a
message that says why, in the API, and a message on the console page."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from console.errors import OperationConflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(owner: User) -> Cluster:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="prod")
    Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop", status="running")
    return cluster


def test_deleting_a_cluster_with_applications_is_a_409_that_names_them(owner: User, busy: Cluster) -> None:
    api = APIClient()
    api.force_authenticate(owner)
    response = api.delete(f"/api/v1/clusters/{busy.pk}")
    assert response.status_code == 409
    assert "still has applications (shop)" in response.json()["detail"]
    assert Cluster.objects.filter(pk=busy.pk).exists()


def test_the_console_page_shows_the_same_conflict(owner: User, busy: Cluster) -> None:
    browser = Client()
    browser.force_login(owner)
    response = browser.post(f"/clusters/{busy.pk}/delete/", follow=True)
    assert response.status_code == 200
    assert "still has applications (shop)" in response.content.decode()
    assert Cluster.objects.filter(pk=busy.pk).exists()


def test_clusters_and_applications_raise_the_one_conflict_error() -> None:
    from apps import operations as app_operations
    from clusters import operations as cluster_operations

    assert app_operations.OperationConflict is cluster_operations.OperationConflict is OperationConflict
