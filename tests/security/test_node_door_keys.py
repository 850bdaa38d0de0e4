"""Attack test: private keys of TLS connections to nodes are never left on disk (security issue 9, item 13)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import User
from clusters import docker_host as host
from clusters import health, pki
from clusters import operations as ops
from clusters.models import Node
from tests.security.node_door_support import client_for, client_material, netns_node, tls_dir_for

pytestmark = pytest.mark.django_db


def key_files_since(folder: Path, started: float) -> list[Path]:
    """Files under ``folder`` written since ``started`` that hold a private key."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                if path.stat().st_mtime >= started and b"PRIVATE KEY" in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def test_no_private_key_file_remains_after_tls_connections_and_a_refused_registration(
    services: None, owner: User, tmp_path: Path
) -> None:
    started = time.time() - 1
    cluster = ops.create_cluster(owner, name="tls")
    address = "10.250.62.2"
    with netns_node(62, tls_dir_for(cluster, address, tmp_path / "n62")) as node:
        api = client_for(owner)
        made = api.post(
            f"/api/v1/clusters/{cluster.pk}/nodes",
            {"name": "n62", "endpoint": node.endpoint, "publish_ip": address, "tls": client_material(cluster)},
            format="json",
        )
        assert made.status_code == 201, made.content
        # A refused registration: material of another CA.
        stranger = pki.new_ca("someone else")
        client = pki.issue_client(stranger, common_name="x")
        refused = api.post(
            f"/api/v1/clusters/{cluster.pk}/nodes",
            {
                "name": "again",
                "endpoint": node.endpoint,
                "publish_ip": address,
                "tls": {"ca": stranger.cert_pem, "cert": client.cert_pem, "key": client.key_pem},
            },
            format="json",
        )
        assert refused.status_code == 400
        # Connections after registration: the health check and a listing over mutual TLS.
        row = Node.objects.get(cluster=cluster, name="n62")
        assert health.check_all()["checked"] >= 1
        assert host.list_containers(host.Endpoint.of(row), host.managed()) == []
        host.forget(host.Endpoint.of(row))
    leftovers = key_files_since(Path(settings.DATA_DIR), started)
    leftovers += [p for p in Path(tempfile.gettempdir()).glob("berth-tls-*/**/*") if p.is_file()]
    assert leftovers == []
    assert not any((Path(settings.DATA_DIR) / "tls").glob("*/key.pem"))
