"""Nodes behind TLS against real engines: they are live (issue 10, item 5) and a rotation of the cluster's CA ends
every certificate of the old CA on them while Berth keeps managing them (review of the node door, F5).

Netns node 64 (the attach script), and local-provider nodes (100-200, the provider picks)."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from docker.tls import TLSConfig
from rest_framework.test import APIClient

from accounts.models import User
from apps.operations import ImageAppSpec, deploy_application
from clusters import docker_host as host
from clusters import hostaccess
from clusters import operations as ops
from clusters.models import Cluster, Node, NodeTask
from clusters.providers import PROVIDERS
from tests import harness
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_task(task_id: int, timeout: float = 180) -> NodeTask:
    def done() -> NodeTask | None:
        task = NodeTask.objects.get(pk=task_id)
        return task if task.status in NodeTask.TERMINAL else None

    return harness.wait_until(done, timeout, 0.2, f"node task {task_id}")


@pytest.fixture
def cluster(stack: harness.Stack, owner: User) -> Cluster:
    made = ops.create_cluster(owner, name="tls")
    hostaccess.grant(owner.tenant, note="local provider test")
    return made


@pytest.fixture
def local_node(cluster: Cluster, api: APIClient) -> Iterator[Node]:
    """A node of the local provider: its own dockerd in a network namespace, mutual TLS on the cluster's CA."""
    response = api.post(f"/api/v1/clusters/{cluster.pk}/nodes", {"name": "fresh", "provider": "local"}, format="json")
    assert response.status_code == 202, response.content
    task = wait_task(response.json()["id"])
    assert task.status == "successful", task.error
    node = Node.objects.get(cluster=cluster, name="fresh")
    try:
        yield node
    finally:
        PROVIDERS["local"].destroy_host(node.provider_ref)  # its engine, namespace, data and certificates


def user_certificate(api: APIClient, cluster: Cluster, folder: Path) -> TLSConfig:
    """A user's client bundle of the cluster (``GET /certs``), as docker's own TLS settings."""
    response = api.get(f"/api/v1/clusters/{cluster.pk}/certs")
    assert response.status_code == 200
    folder.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        bundle.extractall(folder)
    return TLSConfig(
        client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")), ca_cert=str(folder / "ca.pem"), verify=True
    )


def opens(endpoint: str, tls: TLSConfig) -> bool:
    """Whether the engine at ``endpoint`` accepts the certificate (the way a user's ``docker --tlsverify`` does)."""
    client = docker.DockerClient(base_url=endpoint.replace("tcp://", "https://"), tls=tls, timeout=5, version="1.41")
    client.api.trust_env = False  # REQUESTS_CA_BUNDLE would replace the bundle's CA
    try:
        return bool(client.version().get("Version"))
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False
    finally:
        client.close()


def state_in_api(api: APIClient, cluster: Cluster, name: str) -> str:
    body = api.get(f"/api/v1/clusters/{cluster.pk}/applications/{name}").json()
    return body["services"][0]["containers"][0]["state"]


def test_a_container_stopped_outside_berth_on_a_tls_node_shows_as_exited(
    owner: User, api: APIClient, cluster: Cluster, local_node: Node
) -> None:
    release = deploy_application(
        owner, cluster, ImageAppSpec(name="livetls", image="local/busybox:1", command="sleep 3600", scale=1)
    )
    assert wait_release(release.pk).status == "successful"
    assert state_in_api(api, cluster, "livetls") == "running"
    outside = docker.DockerClient(base_url=f"unix:///run/berth-node-{local_node.provider_ref}/docker.sock")
    try:
        outside.containers.get("livetls_livetls_1").stop(timeout=1)
    finally:
        outside.close()
    harness.wait_until(lambda: state_in_api(api, cluster, "livetls") == "exited", 8, 0.2, "the state to reach the API")
    page = APIClient()
    page.force_login(owner)
    shown = page.get(f"/applications/{release.application_id}/").content.decode()
    assert "exited" in shown


def test_a_rotation_ends_old_certificates_on_a_local_provider_node_and_berth_keeps_managing_it(
    owner: User, api: APIClient, cluster: Cluster, local_node: Node, tmp_path: Path
) -> None:
    release = deploy_application(
        owner, cluster, ImageAppSpec(name="keeps", image="local/busybox:1", command="sleep 3600", scale=1)
    )
    assert wait_release(release.pk).status == "successful"
    old = user_certificate(api, cluster, tmp_path / "old")
    assert opens(local_node.endpoint, old)  # before: the old CA's certificate opens the engine

    response = api.post(f"/api/v1/clusters/{cluster.pk}/rotate-ca")
    assert response.status_code == 202, response.content
    task = wait_task(response.json()["id"])
    assert task.status == "successful", task.error

    assert not opens(local_node.endpoint, old)  # after: refused by the rotated engine
    assert opens(local_node.endpoint, user_certificate(api, cluster, tmp_path / "new"))
    node = Node.objects.get(pk=local_node.pk)
    assert node.ca_state == "current"
    # Berth still manages it: the container came back by its restart policy, and a new release runs there.
    harness.wait_until(lambda: state_in_api(api, cluster, "keeps") == "running", 30, 0.3, "the container back")
    assert host.list_containers(
        host.Endpoint.of(node), {**host.managed(), "berth.application": str(release.application_id)}
    )
    again = deploy_application(
        owner, cluster, ImageAppSpec(name="after", image="local/busybox:1", command="sleep 3600", scale=1)
    )
    assert wait_release(again.pk).status == "successful"
    harness.wait_until(lambda: Node.objects.get(pk=node.pk).state == Node.State.READY, 10, 0.2, "ready")


def test_an_attached_node_accepts_old_certificates_until_its_renew_command_runs(
    stack: harness.Stack, owner: User, api: APIClient, cluster: Cluster, tmp_path: Path
) -> None:
    number = 64
    address = harness.run_script("netns-node.sh", "ns", str(number))
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "BERTH_NODE_ADDRESS": address,
        "BERTH_NODE_NAME": "attached",
        "BERTH_CERT_DIR": str(tmp_path / "certs"),
        "BERTH_DOCKERD_CMD": harness.run_script("netns-node.sh", "dockerd-cmd", str(number)),
    }

    def run(command: str) -> str:
        url = command.split("'")[1]
        result = subprocess.run(
            ["sh", "-c", f"curl -fsSL '{url}' | sh"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    try:
        made = api.post(f"/api/v1/clusters/{cluster.pk}/attach-command", {"console_url": stack.url}, format="json")
        assert "registered node attached" in run(made.json()["command"])
        node = Node.objects.get(cluster=cluster, name="attached")
        old = user_certificate(api, cluster, tmp_path / "old")
        assert opens(node.endpoint, old)

        response = api.post(f"/api/v1/clusters/{cluster.pk}/rotate-ca")
        assert wait_task(response.json()["id"]).status == "successful"
        node.refresh_from_db()
        assert node.ca_state == "old"  # shown as such, and still Berth's: its own old material reaches it
        assert host.ping(host.Endpoint.of(node))["engine_id"] == node.engine_id
        assert opens(node.endpoint, old)

        renew = api.post(
            f"/api/v1/clusters/{cluster.pk}/nodes/attached/renew-command", {"console_url": stack.url}, format="json"
        )
        assert renew.status_code == 201, renew.content
        run(renew.json()["command"])
        node.refresh_from_db()
        assert node.ca_state == "current" and Node.objects.filter(cluster=cluster).count() == 1
        assert not opens(node.endpoint, old)  # the old CA's certificate is refused now
        assert opens(node.endpoint, user_certificate(api, cluster, tmp_path / "new"))
        host.forget(host.Endpoint.of(node))
        assert host.ping(host.Endpoint.of(node))["engine_id"] == node.engine_id  # Berth reaches it on the new CA
    finally:
        harness.run_script("netns-node.sh", "down", str(number))
