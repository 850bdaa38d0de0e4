"""Environment values are secrets until shown otherwise (issue 9, item 6): the API shows them only to callers
who may change the application, and a config set's secret values to nobody."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps.models import Release
from clusters.models import Cluster
from tests.security.app_world import client_for, deploy_url, make_cluster, subaccount

pytestmark = pytest.mark.django_db

COMPOSE = """
services:
  web:
    image: local/busybox:1
    command: sleep 3600
    environment:
      API_TOKEN: tok-literal-4711
      GREETING: ${GREETING}
"""


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return make_cluster(owner)


@pytest.fixture
def reader(owner: User, cluster: Cluster) -> User:
    return subaccount(owner, "reader", cluster, "read-only")


def test_read_only_subaccount_cannot_read_environment_values(owner: User, reader: User, cluster: Cluster) -> None:
    image_app = {
        "name": "billing",
        "image": "local/busybox:1",
        "environment": {"DATABASE_URL": "postgres://app:pg-pass-2231@db/billing", "MODE": "fast"},
    }
    assert client_for(owner).post(deploy_url(cluster), image_app, format="json").status_code == 202
    for url in (deploy_url(cluster), f"{deploy_url(cluster)}/billing"):
        body = client_for(reader).get(url)
        assert body.status_code == 200
        assert "pg-pass-2231" not in body.content.decode() and "fast" not in body.content.decode()
    shown = client_for(reader).get(f"{deploy_url(cluster)}/billing").json()["services"][0]["environment"]
    assert shown == {"DATABASE_URL": "****", "MODE": "****"}  # the names, never the values
    owner_view = client_for(owner).get(f"{deploy_url(cluster)}/billing").json()["services"][0]["environment"]
    assert owner_view["MODE"] == "fast"  # who may change the application sees what it runs with


def test_read_only_subaccount_cannot_read_the_versions_text_or_variables(
    owner: User, reader: User, cluster: Cluster
) -> None:
    body = {"name": "shop", "compose": COMPOSE, "variables": {"GREETING": "hello-from-v1"}}
    assert client_for(owner).post(deploy_url(cluster), body, format="json").status_code == 202
    response = client_for(reader).get(f"{deploy_url(cluster)}/shop/versions")
    assert response.status_code == 200
    text = response.content.decode()
    assert "tok-literal-4711" not in text and "hello-from-v1" not in text
    assert response.json()["results"][0]["variables"] == {"GREETING": None}
    assert response.json()["results"][0]["compose"] is None
    mine = client_for(owner).get(f"{deploy_url(cluster)}/shop/versions").json()["results"][0]
    assert mine["variables"] == {"GREETING": "hello-from-v1"} and "tok-literal-4711" in mine["compose"]


def test_a_config_set_secret_is_shown_to_nobody_not_even_the_primary_account(owner: User, cluster: Cluster) -> None:
    api = client_for(owner)
    made = api.post(
        "/api/v1/config-sets",
        {"name": "prod", "variables": {"DB_PASSWORD": {"value": "sealed-8812", "secret": True}}},
        format="json",
    )
    assert made.status_code == 201
    text = "services:\n  db:\n    image: local/busybox:1\n    command: [echo, '${DB_PASSWORD}']\n"
    text += "    environment: ['PASSWORD=${DB_PASSWORD}']\n"
    deployed = api.post(deploy_url(cluster), {"name": "db", "compose": text, "config_set": "prod"}, format="json")
    assert deployed.status_code == 202, deployed.content
    Release.objects.update(status=Release.Status.SUCCESSFUL)
    for url in (deploy_url(cluster), f"{deploy_url(cluster)}/db", f"{deploy_url(cluster)}/db/versions"):
        response = api.get(url)
        assert response.status_code == 200
        assert "sealed-8812" not in response.content.decode(), url
    service = api.get(f"{deploy_url(cluster)}/db").json()["services"][0]
    assert service["environment"] == {"PASSWORD": "****"} and service["command"] == ["echo", "****"]
