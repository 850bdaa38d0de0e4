"""Attack tests: the operator's registry credentials never reach a tenant's engine, and a tenant's credentials
are used only for pulls on that tenant's nodes (security issue 9, item 4)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from django.conf import settings

from accounts.models import User
from clusters import docker_host as host
from clusters import operations as ops
from clusters.models import Node, RegistryCredential
from console.models import OperationLog
from tests.registry import Registry, build_image
from tests.security.node_door_support import client_for

pytestmark = pytest.mark.django_db
ACME = ("acme-user", "acme-pass-31337")
GLOBEX = ("globex-user", "globex-pass-4242")
OPERATOR = ("operator", "operator-pass-9999")


def basic(login: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()


@pytest.fixture
def private_registry(services: None) -> Iterator[Registry]:
    """A registry on 127.0.0.1 that wants a login: acme's, globex's or the operator's are all valid there."""
    registry = Registry(rate=8 * 1024 * 1024, logins={ACME, GLOBEX, OPERATOR}).start()
    registry.push("berth/private", "1", build_image((10_000,), marker="private", seed=5))
    address = registry.host
    try:
        yield registry
    finally:
        registry.stop()
        client = docker.from_env()
        for image in client.images.list():
            if any(t.startswith(address + "/") for t in image.tags + (image.attrs.get("RepoDigests") or [])):
                client.images.remove(image.id, force=True)
        client.close()


@pytest.fixture
def local_node(services: None, owner: User) -> Node:
    """The first tenant's node: this machine's engine (its cluster "local")."""
    cluster = ops.ensure_local_cluster(owner.tenant, actor=owner)
    node = cluster.nodes.get()
    host.forget(host.Endpoint.of(node))  # new clients: they must not pick up anything from the environment
    return node


@pytest.fixture
def operators_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_registry: Registry) -> Path:
    """The Berth process's own Docker configuration, with the operator's login for the registry."""
    folder = tmp_path / ".docker"
    folder.mkdir()
    config = {
        "auths": {private_registry.host: {"auth": base64.b64encode(":".join(OPERATOR).encode()).decode()}},
        "HttpHeaders": {"X-Operator-Header": "operator"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path))
    return folder


def pull(node: Node, image: str) -> str:
    """Pull as Berth does on ``node``; "" when it worked, else the error."""
    try:
        host.pull_image(host.Endpoint.of(node), image)
    except host.HostError as exc:
        return str(exc)
    return ""


def test_pulls_never_send_the_berth_processs_docker_credentials(
    local_node: Node, private_registry: Registry, operators_docker_config: Path
) -> None:
    error = pull(local_node, private_registry.ref("berth/private"))
    assert error, "without a credential of the tenant the pull must fail"
    assert basic(OPERATOR) not in private_registry.authorizations
    assert private_registry.pulls_of("blobs") == 0


def test_a_tenants_registry_credential_is_used_only_on_its_own_nodes(
    local_node: Node, outsider: User, owner: User, private_registry: Registry, operators_docker_config: Path
) -> None:
    theirs = client_for(outsider).post(
        "/api/v1/registry-credentials",
        {"registry": private_registry.host, "username": GLOBEX[0], "password": GLOBEX[1]},
        format="json",
    )
    assert theirs.status_code == 201, theirs.content
    # Another tenant's credential for the same registry is never sent from acme's node.
    assert pull(local_node, private_registry.ref("berth/private"))
    assert basic(GLOBEX) not in private_registry.authorizations

    api = client_for(owner)
    made = api.post(
        "/api/v1/registry-credentials",
        {"registry": private_registry.host, "username": ACME[0], "password": ACME[1]},
        format="json",
    )
    assert made.status_code == 201 and ACME[1] not in made.content.decode()
    assert pull(local_node, private_registry.ref("berth/private")) == ""
    assert basic(ACME) in private_registry.authorizations
    assert set(private_registry.authorizations) == {basic(ACME)}  # neither globex's nor the operator's, ever


def test_registry_passwords_are_write_only_and_stay_out_of_the_log(owner: User, outsider: User) -> None:
    api = client_for(owner)
    made = api.post(
        "/api/v1/registry-credentials",
        {"registry": "Registry.Example.com:5000", "username": ACME[0], "password": ACME[1]},
        format="json",
    )
    assert made.status_code == 201
    body = made.json()
    assert body["registry"] == "registry.example.com:5000" and "password" not in body
    changed = api.patch(f"/api/v1/registry-credentials/{body['id']}", {"password": "new-" + ACME[1]}, format="json")
    assert changed.status_code == 200
    responses = [
        made,
        changed,
        api.get("/api/v1/registry-credentials"),
        api.get(f"/api/v1/registry-credentials/{body['id']}"),
    ]
    page = client_for(owner)
    page.force_login(owner)
    responses.append(page.get("/clusters/registry-credentials/"))
    for response in responses:
        assert response.status_code == 200 or response.status_code == 201
        assert ACME[1] not in response.content.decode()
    stored = RegistryCredential.objects.get()
    assert ACME[1] not in stored.password_sealed
    for entry in OperationLog.objects.all():
        assert ACME[1] not in json.dumps(entry.parameters) + entry.error
    assert {e.action for e in OperationLog.objects.filter(outcome="success")} >= {
        "cs:CreateRegistryCredential",
        "cs:UpdateRegistryCredential",
    }
    # Another tenant neither sees nor deletes it.
    other = client_for(outsider)
    assert other.get("/api/v1/registry-credentials").json()["results"] == []
    assert other.delete(f"/api/v1/registry-credentials/{body['id']}").status_code == 404
    assert api.delete(f"/api/v1/registry-credentials/{body['id']}").status_code == 204
    assert not RegistryCredential.objects.exists()


def test_the_sdk_client_reads_nothing_from_the_processs_docker_config(
    operators_docker_config: Path, private_registry: Registry
) -> None:
    endpoint = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL)
    host.forget(endpoint)
    api = host.client(endpoint).api
    assert api._auth_configs.resolve_authconfig(private_registry.host) is None
    assert api._general_configs == {} and "X-Operator-Header" not in api.headers
