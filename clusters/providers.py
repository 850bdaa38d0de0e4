"""Host providers: something that can create and destroy a Docker host for a cluster.

A provider implements ``create_host(cluster, name, ca) -> MadeHost`` (a reachable engine on
``tcp://ADDRESS:2376`` whose server certificate is issued by the cluster's CA, requiring client
certificates from the same CA), ``destroy_host(ref)`` (which raises HostError unless the host is gone: a node
task calls it again until it is), ``recertify_host(ref, ca)`` (a new server certificate of a rotated CA, the
engine restarted with it), and ``stop_host``/``start_host``. The built-in ``local`` provider starts a
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
from clusters.models import PROVIDERS_ON_THIS_MACHINE, Node

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

    def recertify_host(self, ref: str, ca: pki.KeyPair) -> None: ...

    def stop_host(self, ref: str) -> None: ...

    def start_host(self, ref: str, ca_pem: str) -> None: ...

    def seed_images(self) -> list[str]: ...

    def copy_image(self, image: str, node: Any) -> None: ...


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/netns-node.sh`` in a session of its own: a Ctrl-C of the worker's process group (honcho) does
    not interrupt it halfway."""
    try:
        return subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise host.HostError(f"the local provider did not finish {' '.join(args[:2])} in {timeout:.0f} s") from exc


class LocalProvider:
    """A dockerd in a fresh network namespace of this machine (``scripts/netns-node.sh``), TLS on port 2376.

    Its TLS material lives in ``DATA_DIR/providers/local/<number>/<CA fingerprint>/`` (one folder per CA, so a
    rotation writes the new one beside the old and the engine is restarted with it).
    """

    name = "local"
    on_this_machine = Node.Provider.LOCAL in PROVIDERS_ON_THIS_MACHINE  # the operator's grant (hostaccess)
    first, last = 100, 200  # namespace numbers 100-200; tests use lower numbers

    @staticmethod
    def address(ref: str) -> str:
        return f"10.250.{int(ref)}.2"

    @staticmethod
    def folder(ref: str) -> Path:
        return Path(settings.DATA_DIR) / "providers" / "local" / str(int(ref))

    def tls_dir(self, ref: str, ca_pem: str) -> Path:
        """Where the engine's material for the CA ``ca_pem`` is."""
        return self.folder(ref) / pki.fingerprint(ca_pem).replace(":", "")[:16]

    def write_tls(self, ref: str, ca: pki.KeyPair) -> Path:
        address = self.address(ref)
        server = pki.issue_server(ca, common_name=address, ips=[address])
        folder = self.tls_dir(ref, ca.cert_pem)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for filename, text in (("ca.pem", ca.cert_pem), ("cert.pem", server.cert_pem), ("key.pem", server.key_pem)):
            path = folder / filename
            path.write_text(text)
            path.chmod(0o600)
        return folder

    def _free_number(self) -> int:
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
        ref = str(number)
        folder = self.write_tls(ref, ca)
        result = _run("up", ref, "--tls", str(folder))
        if result.returncode != 0:
            raise host.HostError(f"the local provider could not start a host: {result.stderr.strip()[-500:]}")
        address = self.address(ref)
        return MadeHost(ref=ref, endpoint=f"tcp://{address}:2376", address=address)

    def destroy_host(self, ref: str) -> None:
        """Stop the engine and remove its namespace, mounts and data; HostError (the script says what is left)
        unless nothing of it remains. Safe to call again."""
        result = _run("down", str(int(ref)))
        if result.returncode != 0:
            raise host.HostError(f"host {ref} of the local provider is not gone yet: {result.stderr.strip()[-500:]}")
        shutil.rmtree(self.folder(ref), ignore_errors=True)

    def recertify_host(self, ref: str, ca: pki.KeyPair) -> None:
        """A server certificate of ``ca`` for the engine, which is restarted with it (so it accepts clients of that
        CA only); its containers come back by their restart policy (Berth's: ``unless-stopped``)."""
        folder = self.write_tls(ref, ca)
        result = _run("restart", str(int(ref)), "--tls", str(folder))
        if result.returncode != 0:
            raise host.HostError(f"host {ref} did not restart with its new certificate: {result.stderr.strip()[-500:]}")
        for other in self.folder(ref).iterdir():
            if other.is_dir() and other != folder:
                shutil.rmtree(other, ignore_errors=True)

    def stop_host(self, ref: str) -> None:
        """Stop the engine gracefully (its containers stop); namespace and data stay."""
        result = _run("shutdown", str(int(ref)))
        if result.returncode != 0:
            raise host.HostError(f"host {ref} did not stop: {result.stderr.strip()[-500:]}")

    def start_host(self, ref: str, ca_pem: str) -> None:
        """Start the engine again with its material for ``ca_pem`` (no-op when it answers already)."""
        folder = self.tls_dir(ref, ca_pem)
        if not (folder / "cert.pem").exists():
            raise host.HostError(f"host {ref} has no certificate for its CA any more")
        if not Path(f"/run/netns/berth-n{int(ref)}").exists():
            raise host.HostError(f"host {ref} has no network namespace any more")
        if Path(f"/run/berth-node-{int(ref)}/dockerd.pid").exists():
            return
        result = _run("start", str(int(ref)), "--tls", str(folder))
        if result.returncode != 0:
            raise host.HostError(f"host {ref} did not start: {result.stderr.strip()[-500:]}")

    def seed_images(self) -> list[str]:
        return list(settings.BERTH_LOCAL_PROVIDER_IMAGES)

    def copy_image(self, image: str, node: Any) -> None:
        """Copy an image from this machine's engine (no registry needed), like ``docker save | docker load``."""
        local = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL)
        if not host.image_present(local, image):
            return
        host.copy_image(local, host.Endpoint.of(node), image)


PROVIDERS: dict[str, Provider] = {"local": LocalProvider()}
