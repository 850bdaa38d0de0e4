"""Container inspect follows the one disclosure rule (review F4). Inspect went through a masker that hid only
config-set secrets and secret-named variables; the Docker door dropped every ``Config.Env`` value for everyone,
so who may change the application read none, while a value that reappears elsewhere (the command: ``Cmd``,
``Args``, and the API's service command) reached read-only callers whole (``https://abc1234key@…``). Now
environment values are shown only to callers who may change the application, everywhere they appear
(apps.disclosure): the application and versions endpoints, inspect through the API and the container page."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import docker
import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from apps.models import Application, Container
from apps.operations import ImageAppSpec, deploy_application
from clusters.models import Cluster
from clusters.operations import ensure_local_cluster
from tests.security.app_world import client_for, subaccount

pytestmark = pytest.mark.django_db

DSN = "https://abc1234key@sentry.example/42"
ENVIRONMENT = {"SENTRY_DSN": DSN, "AUTH": "plain-auth-value-5521", "MODE": "fast"}
COMMAND = f"sh -c 'exec sleep 600' report-to {DSN}"  # the value reappears in the command (Cmd, Args)


@pytest.fixture
def cluster(services: None, owner: User) -> Cluster:
    return ensure_local_cluster(owner.tenant, actor=owner)


@pytest.fixture
def reader(owner: User, cluster: Cluster) -> User:
    return subaccount(owner, "reader", cluster, "read-only")


@pytest.fixture
def running(owner: User, cluster: Cluster, clean_engine: None) -> Iterator[Container]:
    """An application whose one container really runs on the local engine with ``ENVIRONMENT``."""
    spec = ImageAppSpec(name="billing", image="local/busybox:1", command=COMMAND, environment=ENVIRONMENT)
    release = deploy_application(owner, cluster, spec)
    app = Application.objects.get(pk=release.application_id)
    engine = docker.from_env()
    made = engine.containers.run(
        "local/busybox:1",
        shlex.split(COMMAND),
        name=f"{settings.BERTH_INSTANCE}-inspect-billing",
        environment=ENVIRONMENT,
        labels={"berth.managed": "true", "berth.instance": settings.BERTH_INSTANCE},
        network_mode="none",
        detach=True,
    )
    try:
        yield Container.objects.create(
            service=app.services.get(),
            node=cluster.nodes.get(),
            index=1,
            name="billing_billing_1",
            docker_id=made.id,
            state="running",
        )
    finally:
        made.remove(force=True)
        engine.close()


def inspect_url(container: Container) -> str:
    app = container.service.application
    return f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}/containers/{container.name}"


def test_read_only_subaccount_cannot_read_environment_values_through_container_inspect(
    reader: User, running: Container
) -> None:
    response = client_for(reader).get(inspect_url(running))
    assert response.status_code == 200, response.content
    body = response.content.decode()
    for value in ("abc1234key", "plain-auth-value-5521", "fast"):
        assert value not in body, value
    env = response.json()["inspect"]["Config"]["Env"]
    assert {"SENTRY_DSN=****", "AUTH=****", "MODE=****"} <= set(env)  # the names, never the values


def test_read_only_subaccount_cannot_read_environment_values_on_the_container_page(
    reader: User, running: Container
) -> None:
    page = Client()
    page.force_login(reader)
    response = page.get(f"/applications/{running.service.application_id}/containers/{running.name}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "SENTRY_DSN=****" in html
    for value in ("abc1234key", "plain-auth-value-5521"):
        assert value not in html, value


def test_read_only_subaccount_cannot_read_an_environment_value_where_it_reappears(
    reader: User, running: Container
) -> None:
    app = running.service.application
    body = client_for(reader).get(f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}")
    assert body.status_code == 200
    assert "abc1234key" not in body.content.decode()
    assert body.json()["services"][0]["command"] == ["sh", "-c", "exec sleep 600", "report-to", "****"]


def test_who_may_change_the_application_reads_what_its_containers_run_with(owner: User, running: Container) -> None:
    env = client_for(owner).get(inspect_url(running)).json()["inspect"]["Config"]["Env"]
    assert "AUTH=plain-auth-value-5521" in env and "MODE=fast" in env
