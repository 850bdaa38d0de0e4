"""Host providers: something that can create and destroy a Docker host for a cluster.

A provider implements ``create_host(cluster, name, ca) -> MadeHost`` (a reachable engine on
``tcp://ADDRESS:2376`` whose server certificate is issued by the cluster's CA, requiring client
certificates from the same CA) and ``destroy_host(ref)``. The built-in ``local`` provider starts a
new dockerd in a new network namespace on the Berth machine (demos, tests, one-machine installs).
docs/providers.md explains how a cloud provider (for example an Apache Libcloud driver) plugs in.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from clusters import docker_host as host
from clusters import pki

log = logging.getLogger(__name__)
SCRIPT = Path(settings.BASE_DIR) / "scripts" / "netns-node.sh"


@dataclass(frozen=True)
class MadeHost:
    """A host a provider started: its id for the provider, its engine endpoint and its address."""

    ref: str
    endpoint: str
    address: str


class Provider(Protocol):
    """What a host provider offers Berth; ``on_this_machine`` providers need the operator's grant to a tenant."""

    name: str
    on_this_machine: bool

    def create_host(self, cluster: Any, name: str, ca: pki.KeyPair) -> MadeHost: ...

    def destroy_host(self, ref: str) -> None: ...

    def seed_images(self) -> list[str]: ...

    def copy_image(self, image: str, node: Any) -> None: ...


class LocalProvider:
    """A dockerd in a fresh network namespace of this machine (``scripts/netns-node.sh``), TLS on port 2376."""

    name = "local"
    on_this_machine = True  # its engines run on the machine Berth runs on: the operator's grant (hostaccess)
    first, last = 100, 200  # namespace numbers 100-200; tests use lower numbers

    def _free_number(self) -> int:
        from clusters.models import Node

        used = {
            int(r)
            for r in Node.objects.filter(provider="local")
            .exclude(state="removed")
            .values_list("provider_ref", flat=True)
            if r.isdigit()
        }
        for number in range(self.first, self.last + 1):
            if number not in used and not Path(f"/run/netns/berth-n{number}").exists():
                return number
        raise host.HostError("the local provider has no free network namespace left (100-200)")

    def create_host(self, cluster: Any, name: str, ca: pki.KeyPair) -> MadeHost:
        number = self._free_number()
        address = f"10.250.{number}.2"
        cert_dir = Path(settings.DATA_DIR) / "providers" / "local" / str(number)
        cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        server = pki.issue_server(ca, common_name=address, ips=[address])
        for filename, text in (("ca.pem", ca.cert_pem), ("cert.pem", server.cert_pem), ("key.pem", server.key_pem)):
            path = cert_dir / filename
            path.write_text(text)
            path.chmod(0o600)
        result = subprocess.run(
            [str(SCRIPT), "up", str(number), "--tls", str(cert_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise host.HostError(f"the local provider could not start a host: {result.stderr.strip()[-500:]}")
        return MadeHost(ref=str(number), endpoint=f"tcp://{address}:2376", address=address)

    def destroy_host(self, ref: str) -> None:
        subprocess.run([str(SCRIPT), "down", ref], capture_output=True, timeout=120, check=False)
        shutil.rmtree(Path(settings.DATA_DIR) / "providers" / "local" / ref, ignore_errors=True)

    def seed_images(self) -> list[str]:
        return list(settings.BERTH_LOCAL_PROVIDER_IMAGES)

    def copy_image(self, image: str, node: Any) -> None:
        """Copy an image from this machine's engine (no registry needed), like ``docker save | docker load``."""
        local = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL)
        if not host.image_present(local, image):
            return
        host.copy_image(local, host.Endpoint.of(node), image)


PROVIDERS: dict[str, Provider] = {"local": LocalProvider()}
