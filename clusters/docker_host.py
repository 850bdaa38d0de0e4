"""The one door to Docker: a client per node and the few host operations the rest of Berth uses.

No other module builds a ``docker.DockerClient``. Functions here take plain values and raise
:class:`HostError` with Docker's reason in words.

Every connection to a node goes through :meth:`Endpoint.of`, which reads the node's row afresh and refuses
(:class:`HostRefused`) a node that was removed, a node whose engine ID is not known yet (only the health check
may reach it, to identify it), and a node on this machine (a ``unix://`` socket, a provider on this machine, or
this machine's engine ID) whose tenant lacks the operator's grant; a client then refuses an engine whose ID is not
the node's. So no task, page or endpoint reaches an engine the tenant may not use, whatever path it takes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker
import docker.auth
import docker.constants
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.utils.proxy import ProxyConfig
from requests.adapters import HTTPAdapter
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout
from urllib3.exceptions import ReadTimeoutError

from clusters import registries, transport
from clusters.models import PROVIDERS_ON_THIS_MACHINE, Node
from clusters.pki import unseal
from clusters.pulls import PullFailed, PullProgress
from console.errors import HostFailure

log = logging.getLogger(__name__)
MANAGED_LABEL = "berth.managed"
INSTANCE_LABEL = "berth.instance"


def managed() -> dict[str, str]:
    """The labels of everything this Berth installation creates (another installation on the same
    engine, such as a test run, carries a different ``berth.instance`` and is never touched)."""
    return {MANAGED_LABEL: "true", INSTANCE_LABEL: settings.BERTH_INSTANCE}


class HostError(HostFailure):
    """A Docker host refused or failed an operation; ``str()`` is the reason for people (the API answers 502)."""


class HostUnreachable(HostError):
    """The engine did not answer in time."""


class NetworkInUse(HostError):
    """The engine will not remove a network: it still counts an endpoint on it. After its containers are gone this is
    Docker 20.10's leaked endpoint count (moby/moby#43286): only an engine restart frees the network."""


class EngineMismatch(HostError):
    """Another engine than the node's own answers at its endpoint (its engine ID differs)."""


class ImageNotPulled(HostError):
    """A pull of ``image`` failed; ``reason`` says why in words a tenant may read (``pull_reason``)."""

    def __init__(self, image: str, reason: str) -> None:
        super().__init__(f"could not pull {image}: {reason}")
        self.image = image
        self.reason = reason


class HostRefused(HostError):
    """Berth may not reach this node now (removed, not identified yet, or on this machine without the operator's
    grant); ``str()`` says which, without naming anything of another tenant."""


LOCAL_ENGINE_TTL = 60.0  # a good answer of this machine's engine ID is kept this long
LOCAL_ENGINE_RETRY = 5.0  # after no answer, ask again at most this often
_local_lock = threading.Lock()
_local_cache: tuple[float, str] = (0.0, "")


def local_engine_id() -> str:
    """The engine ID of this machine's engine (behind BERTH_LOCAL_DOCKER_URL); "" while it does not answer."""
    global _local_cache
    with _local_lock:
        read_at, cached = _local_cache
        age = time.monotonic() - read_at
        if read_at and age < (LOCAL_ENGINE_TTL if cached else LOCAL_ENGINE_RETRY):
            return cached
        try:
            found = ping(Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL, timeout=5.0)).get("engine_id", "")
        except HostError as exc:
            log.warning("this machine's engine did not answer: %s", exc)
            found = ""
        _local_cache = (time.monotonic(), found)
        return found


def on_this_machine(endpoint: str, provider: str, engine_id: str) -> bool:
    """Whether a node with these facts is an engine of the machine Berth runs on: a ``unix://`` socket, a provider
    that starts engines here (``PROVIDERS_ON_THIS_MACHINE``: the built-in node, the ``local`` provider), or this
    machine's own engine reached another way (its engine ID)."""
    if endpoint.startswith("unix://") or provider in PROVIDERS_ON_THIS_MACHINE:
        return True
    return bool(engine_id) and engine_id == local_engine_id()


def admit(node: Any, *, identify: bool = False) -> dict[str, Any]:
    """The node's row as it is now, if Berth may connect to its engine; HostRefused otherwise.

    Refused: a node that is not (or no longer) in its cluster; a node on this machine whose tenant lacks the
    operator's grant; a node whose engine ID is not known yet, unless ``identify`` (the health check, which reads
    the ID and adopts it or retires the node: ``clusters.hostaccess.check_node``).
    """
    pk = getattr(node, "pk", None)
    row = (
        Node.objects.filter(pk=pk)
        .values(
            "pk",
            "state",
            "endpoint",
            "provider",
            "engine_id",
            "tls_ca",
            "tls_cert",
            "tls_key_sealed",
            "cluster__tenant_id",
            "cluster__tenant__host_grant",
        )
        .first()
        if pk is not None
        else None
    )
    if row is None or row["state"] == Node.State.REMOVED:
        raise HostRefused("the node is not in its cluster any more")
    if (
        on_this_machine(row["endpoint"], row["provider"], row["engine_id"])
        and row["cluster__tenant__host_grant"] is None
    ):
        log.info(
            "refused a connection to node %s: on this machine, tenant %s has no grant", pk, row["cluster__tenant_id"]
        )
        raise HostRefused(
            "this node is an engine of the machine Berth runs on, which only the operator can let a tenant use"
        )
    if not row["engine_id"] and not identify:
        raise HostRefused("the node's engine is not identified yet (the health check identifies it when it answers)")
    return row


@dataclass(frozen=True)
class Tls:
    """Mutual TLS material for an engine: the CA that signed it, and the client certificate and key Berth shows.

    The key stays in memory: :meth:`context` loads it into an SSL context and no file keeps it.
    """

    ca_pem: str
    cert_pem: str
    key_pem: str = field(repr=False)

    def context(self) -> Any:
        """The ``ssl.SSLContext`` of this material (cached per material)."""
        return transport.ssl_context(self.ca_pem, self.cert_pem, self.key_pem)


@dataclass(frozen=True)
class Endpoint:
    """How to reach one engine: its URL, TLS material, and for a node its row id and the engine ID it must have."""

    url: str
    timeout: float = 30.0
    api_version: str = "auto"
    tls: Tls | None = None
    node_id: int | None = None  # whose tenant's registry credentials a pull may use
    engine_id: str = ""  # when set, a client refuses an engine with another ID

    @classmethod
    def of(cls, node: Any, timeout: float | None = None, *, identify: bool = False) -> Endpoint:
        """The endpoint of a node as its row is now (its TLS key decrypted in memory only); HostRefused when Berth
        may not reach it (:func:`admit`). ``identify`` is for the health check only."""
        row = admit(node, identify=identify)
        tls = None
        if row["tls_cert"]:
            key = unseal(row["tls_key_sealed"], secret=settings.BERTH_ENCRYPTION_KEY)
            tls = Tls(ca_pem=row["tls_ca"], cert_pem=row["tls_cert"], key_pem=key)
        return cls(
            url=row["endpoint"],
            timeout=timeout or settings.BERTH_DOCKER_TIMEOUT,
            tls=tls,
            node_id=row["pk"],
            engine_id=row["engine_id"],
        )

    @property
    def is_local(self) -> bool:
        """Whether this is the operator's own engine (BERTH_LOCAL_DOCKER_URL)."""
        return self.url == settings.BERTH_LOCAL_DOCKER_URL

    def base_url(self) -> str:
        """The URL the docker SDK wants (``tcp://`` becomes ``https://`` with TLS)."""
        if self.tls is not None and self.url.startswith("tcp://"):
            return "https://" + self.url[len("tcp://") :]
        return self.url

    def adapter(self) -> HTTPAdapter | None:
        """The transport of a ``tcp://`` endpoint: TLS from memory, and unless it is the operator's own engine,
        connections only to addresses a node may have (``clusters.netpolicy``), pinned for the client's life."""
        if not self.url.startswith("tcp://"):
            return None
        pin = None if self.is_local else transport.AddressPin()
        return transport.EngineAdapter(self.tls.context() if self.tls is not None else None, pin)

    def make_client(self, timeout: float | None | object = ...) -> docker.DockerClient:
        """A new client for this endpoint (``timeout=None`` for streams); refuses an engine with another ID.

        The engine's ID and API version are asked once per ENGINE_CHECK_SECONDS and endpoint in this process, not
        once per client: a release's pool opens a client per thread, and every ``/info`` costs the engine more than
        a container creation (clients already made keep their check for their life, as before).
        """
        known = _engine_checked(self)
        made = docker.DockerClient.__new__(docker.DockerClient)
        made.api = _IsolatedAPIClient(
            base_url=self.base_url(),
            version=known or self.api_version,
            timeout=self.timeout if timeout is ... else timeout,
            adapter=self.adapter(),
        )
        if self.engine_id and not known:
            try:
                found = made.api.info().get("ID", "")
            except DockerException:
                made.close()
                raise
            if found != self.engine_id:
                made.close()
                log.warning("engine at %s has ID %r, the node was registered with %r", self.url, found, self.engine_id)
                raise EngineMismatch("another engine than the registered one answers at this endpoint")
        if self.engine_id:
            with _lock:
                _checked[(self.base_url(), self.engine_id)] = (time.monotonic(), made.api.api_version)
        return made


ENGINE_CHECK_SECONDS = 60.0
"""How long this process trusts that an endpoint's engine has the node's engine ID, for new clients."""
_checked: dict[tuple[str, str], tuple[float, str]] = {}  # (base URL, engine ID) → (when checked, its API version)


def _engine_checked(endpoint: Endpoint) -> str:
    """The API version of the endpoint's engine if it showed the node's engine ID within ENGINE_CHECK_SECONDS."""
    if not endpoint.engine_id:
        return ""
    with _lock:
        at, version = _checked.get((endpoint.base_url(), endpoint.engine_id), (0.0, ""))
    return version if at and time.monotonic() - at < ENGINE_CHECK_SECONDS else ""


class _NoRegistryAuth(docker.auth.AuthConfig):
    """Registry credentials of the Berth process: none, ever. The SDK would read ``~/.docker/config.json`` (or
    ``$DOCKER_CONFIG``) and its credential helpers, and send the operator's registry password to any engine."""

    def __init__(self) -> None:
        super().__init__({})

    @property
    def is_empty(self) -> bool:  # the SDK loads the process's file again when this is empty
        return False

    def __bool__(self) -> bool:
        return True

    def resolve_authconfig(self, registry: str | None = None) -> None:
        return None

    def get_all_credentials(self) -> dict[str, Any]:
        return {}

    def add_auth(self, reg: str, data: Any) -> None:
        pass


_NO_AUTH = _NoRegistryAuth()


class _IsolatedAPIClient(docker.APIClient):
    """The docker SDK's client, deaf to the process's environment and Docker configuration.

    * requests lets REQUESTS_CA_BUNDLE override a session's own CA, and proxy variables redirect it:
      ``trust_env`` is off.
    * The SDK reads the process's ``config.json`` (registry credentials, credential helpers, HTTP headers,
      proxies) and would send them to tenants' engines: those attributes read as empty here, whatever
      ``DOCKER_CONFIG`` or ``HOME`` say. A pull sends only the credential Berth passes (the tenant's own).
    * ``tcp://`` endpoints use ``adapter`` (TLS from memory, checked and pinned addresses), mounted before
      the first request (the API version is asked after it).
    """

    def __init__(self, *, base_url: str, version: str, timeout: Any, adapter: HTTPAdapter | None) -> None:
        auto = version in ("", "auto", None)
        floor = docker.constants.MINIMUM_DOCKER_API_VERSION
        super().__init__(base_url=base_url, version=floor if auto else version, timeout=timeout, tls=False)
        if adapter is not None:
            self.mount("http://", adapter)
            self.mount("https://", adapter)
        if auto:
            self._version = self._retrieve_server_version()

    @property  # type: ignore[override]
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        pass

    @property  # type: ignore[override]
    def _general_configs(self) -> dict[str, Any]:
        return {}

    @_general_configs.setter
    def _general_configs(self, value: Any) -> None:
        pass

    @property  # type: ignore[override]
    def _auth_configs(self) -> docker.auth.AuthConfig:
        return _NO_AUTH

    @_auth_configs.setter
    def _auth_configs(self, value: Any) -> None:
        pass

    @property  # type: ignore[override]
    def _proxy_configs(self) -> ProxyConfig:
        return ProxyConfig()

    @_proxy_configs.setter
    def _proxy_configs(self, value: Any) -> None:
        pass

    @property  # type: ignore[override]
    def credstore_env(self) -> dict[str, str]:
        return {}

    @credstore_env.setter
    def credstore_env(self, value: Any) -> None:
        pass

    def pull_following(
        self, repository: str, tag: str, stall_timeout: float, auth: dict[str, str] | None = None
    ) -> tuple[Any, Iterator[dict[str, Any]]]:
        """``pull(stream=True, decode=True)``, except that a read waiting longer than ``stall_timeout`` raises
        (the SDK streams pulls with no timeout at all, so a stalled registry would hang the caller), and that
        only ``auth`` (the tenant's credential for this registry, or None) is sent to the engine.
        Returns the response, to close, and its messages (dockerd cancels a transfer nobody watches)."""
        headers = {}
        if auth:
            headers["X-Registry-Auth"] = docker.auth.encode_header(auth)
        params = {"tag": tag, "fromImage": repository}
        url = self._url("/images/create")
        response = self._post(url, params=params, headers=headers, stream=True, timeout=stall_timeout)
        self._raise_for_status(response)
        return response, self._stream_helper(response, decode=True)


_clients: dict[tuple[Endpoint, int], docker.DockerClient] = {}
_lock = threading.Lock()


def client(endpoint: Endpoint) -> docker.DockerClient:
    """A client for the engine, one per (endpoint, thread): requests sessions are not thread-safe."""
    key = (endpoint, threading.get_ident())
    with _lock:
        existing = _clients.get(key)
    if existing is not None:
        return existing
    try:
        made = endpoint.make_client()
    except (DockerException, RequestsConnectionError, ReadTimeout) as exc:
        raise HostUnreachable(f"engine at {endpoint.url} did not answer: {_short_reason(exc)}") from exc
    alive = {t.ident for t in threading.enumerate()}
    with _lock:
        _clients[key] = made
        gone = [k for k in _clients if k[1] not in alive]  # clients of pool threads that ended
        closing = [_clients.pop(k) for k in gone]
    for old in closing:
        old.close()
    return made


def forget(endpoint: Endpoint) -> None:
    """Drop cached clients of an endpoint (after it failed), and what this process knew of its engine."""
    with _lock:
        for key in [k for k in _checked if k[0] == endpoint.base_url()]:
            _checked.pop(key)
        closing = [_clients.pop(k) for k in [k for k in _clients if k[0].url == endpoint.url]]
    for old in closing:
        old.close()


def _short_reason(exc: BaseException) -> str:
    """The OS-level reason buried in a requests/urllib3 error ("Connection refused", "timed out"); never text
    that whatever answered sent back (that could be another service's reply)."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if found:
        return found.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return "no valid answer"


def explain(exc: BaseException) -> str:
    """Docker's reason in words, without the HTTP noise."""
    if isinstance(exc, APIError):
        text = exc.explanation if isinstance(exc.explanation, str) else str(exc.explanation or exc)
        return text.strip() or str(exc)
    if isinstance(exc, RequestsConnectionError | ReadTimeout):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return "the engine's certificate does not verify against the cluster's CA"
        if "SSLError" in text or "SSL" in text and "alert" in text:
            return f"TLS handshake failed: {_short_reason(exc)}"
        return f"engine did not answer: {_short_reason(exc)}"
    return str(exc)


def _call(endpoint: Endpoint, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (RequestsConnectionError, ReadTimeout) as exc:
        forget(endpoint)
        raise HostUnreachable(explain(exc)) from exc
    except DockerException as exc:
        raise HostError(explain(exc)) from exc


def ping(endpoint: Endpoint) -> dict[str, Any]:
    """Check that the engine answers; return its inventory (version, OS, CPUs, memory, labels)."""
    c = client(endpoint)
    info = _call(endpoint, c.info)
    version = _call(endpoint, c.version)
    return {
        "engine_version": version.get("Version", ""),
        "api_version": version.get("ApiVersion", ""),
        "os": info.get("OperatingSystem", ""),
        "kernel": info.get("KernelVersion", ""),
        "cpus": info.get("NCPU", 0),
        "memory": info.get("MemTotal", 0),
        "labels": info.get("Labels") or [],
        "hostname": info.get("Name", ""),
        "engine_id": info.get("ID", ""),
        "swarm": swarm_summary(info),
    }


def swarm_summary(info: dict[str, Any]) -> dict[str, Any]:
    """The engine's Swarm membership from ``docker info`` (``clusters.swarm.Membership`` reads it)."""
    swarm = info.get("Swarm") or {}
    return {
        "state": swarm.get("LocalNodeState") or "inactive",
        "node_id": swarm.get("NodeID") or "",
        "address": swarm.get("NodeAddr") or "",
        "manager": bool(swarm.get("ControlAvailable")),
        "swarm_id": ((swarm.get("Cluster") or {}).get("ID")) or "",
        "managers": [m.get("Addr", "") for m in swarm.get("RemoteManagers") or [] if m.get("Addr")],
        "error": swarm.get("Error") or "",
    }


def image_present(endpoint: Endpoint, image: str) -> bool:
    """Whether ``image`` exists on the engine."""
    try:
        client(endpoint).images.get(image)
        return True
    except ImageNotFound:
        return False
    except (RequestsConnectionError, ReadTimeout) as exc:
        raise HostUnreachable(explain(exc)) from exc
    except DockerException as exc:
        raise HostError(explain(exc)) from exc


def split_reference(image: str) -> tuple[str, str]:
    """``repo:tag`` → (repo, tag); ``repo@sha256:…`` → (repo, digest); no tag → ``latest``."""
    if "@" in image:
        repo, _, digest = image.partition("@")
        return repo, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = image.rpartition(":")
        return repo, tag
    return image, "latest"


# Docker's words for a registry it could not reach, one that has no such image, and one that refused the credential.
REGISTRY_UNREACHABLE = (
    "dial tcp",
    "no such host",
    "lookup ",
    "connection refused",
    "i/o timeout",
    "network is unreachable",
    "tls handshake timeout",
    "server misbehaving",
    "client.timeout",
    "request canceled",
)
REGISTRY_HAS_NO_IMAGE = ("manifest unknown", "not found", "repository does not exist", "no such image")
REGISTRY_REFUSED = ("unauthorized", "authentication required", "pull access denied", "denied")


def pull_reason(image: str, exc: BaseException) -> str:
    """Why a pull (or a registry lookup) of ``image`` failed, in words a tenant may read: the registry could not be
    reached, has no such image, or refused the pull. Docker's own text names this machine's resolver and addresses
    ("dial tcp: lookup … on 10.255.255.53:53"): it goes to the server log only."""
    text = explain(exc)
    log.warning("pull of %s failed: %s", image, text)
    registry = docker.auth.resolve_repository_name(split_reference(image)[0])[0]
    lowered = text.lower()
    if any(word in lowered for word in REGISTRY_UNREACHABLE):
        return f"the registry {registry} could not be reached"
    if any(word in lowered for word in REGISTRY_REFUSED):
        return f"the registry {registry} refused the pull (no such image, or a credential it does not accept)"
    if any(word in lowered for word in REGISTRY_HAS_NO_IMAGE):
        return f"the registry {registry} has no image {image}"
    return f"the registry {registry} did not give it"


def pull_image(
    endpoint: Endpoint,
    image: str,
    progress: Callable[[PullProgress, bool], None] | None = None,
    stall_timeout: float | None = None,
) -> PullProgress:
    """Pull ``image``, calling ``progress(state, milestone)`` on every message of Docker's stream.

    ``milestone`` is true when a layer has just finished or the pull has ended. The error names the
    image when no registry has it; a pull with no news for ``stall_timeout`` seconds (default
    BERTH_PULL_STALL_TIMEOUT) is given up, and dockerd cancels it. The only registry credential sent is the
    node's tenant's own for the image's registry (``clusters.registries``); never the Berth process's.
    """
    repo, tag = split_reference(image)
    state = PullProgress(image)
    stall = stall_timeout or settings.BERTH_PULL_STALL_TIMEOUT
    registry = docker.auth.resolve_repository_name(repo)[0]
    auth = registries.auth_for_node(endpoint.node_id, registry) if endpoint.node_id else None
    response = None
    try:
        api = client(endpoint).api
        response, messages = api.pull_following(repo, tag, stall, auth)
        for message in messages:
            milestone = state.feed(message)
            if progress is not None:
                progress(state, milestone)
    except (ReadTimeout, ReadTimeoutError, TimeoutError) as exc:  # the engine answers; the registry sends nothing
        raise HostError(
            f"the pull of {image} made no progress for {stall:.0f} s (the registry is slow or does not answer)"
        ) from exc
    except RequestsConnectionError as exc:
        raise HostUnreachable(explain(exc)) from exc
    except (DockerException, PullFailed) as exc:
        raise ImageNotPulled(image, pull_reason(image, exc)) from exc
    finally:
        if response is not None:
            response.close()
    return state


def ensure_network(endpoint: Endpoint, name: str, labels: dict[str, str]) -> str:
    """Create the bridge network ``name`` unless it exists; return its id."""
    c = client(endpoint)
    found = _call(endpoint, c.networks.list, names=[name])
    for net in found:
        if net.name == name:
            return net.id
    net = _call(endpoint, c.networks.create, name, driver="bridge", labels=labels, check_duplicate=True)
    return net.id


NETWORK_RELEASE_TRIES = 3
"""Tries to remove a network that still counts an endpoint (the engine frees the endpoints of containers it just
removed a moment later), a second apart; then ``NetworkInUse``."""


def _remove_one_network(endpoint: Endpoint, net: Any) -> bool:
    """Remove ``net``; False when it is already gone; ``NetworkInUse`` when the engine keeps counting an endpoint."""
    for attempt in range(NETWORK_RELEASE_TRIES):
        try:
            _call(endpoint, net.remove)
            return True
        except HostError as exc:
            reason = str(exc).lower()
            if "not found" in reason:
                return False
            if "active endpoints" not in reason:
                raise
            if attempt == NETWORK_RELEASE_TRIES - 1:
                raise NetworkInUse(str(exc)) from exc
            time.sleep(1)
    return False  # pragma: no cover - the loop returns or raises


def remove_network(endpoint: Endpoint, name: str) -> bool:
    """Remove the network ``name`` if present; return whether one was removed (``NetworkInUse``: see there)."""
    c = client(endpoint)
    removed = False
    for net in _call(endpoint, c.networks.list, names=[name]):
        if net.name == name:
            removed = _remove_one_network(endpoint, net) or removed
    return removed


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one container."""

    name: str
    image: str
    command: list[str] | None
    environment: dict[str, str]
    labels: dict[str, str]
    network: str
    network_aliases: list[str]
    ports: dict[str, tuple[str, int | None]]  # "80/tcp" -> (host ip, host port or None)
    init: bool = True
    stop_timeout: int = 10
    restart_policy: str = "unless-stopped"
    host_options: dict[str, Any] = field(default_factory=dict)  # more create_host_config arguments
    create_options: dict[str, Any] = field(default_factory=dict)  # more create_container arguments
    more_networks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (network, aliases) joined before start
    links: tuple[tuple[str, str], ...] = ()  # (container name, alias) on every network (Compose V1 links)


@dataclass(frozen=True)
class ContainerState:
    """What the engine says of one container."""

    id: str
    name: str
    state: str
    labels: dict[str, str]
    ports: dict[str, int]  # "80/tcp" -> published host port


def _state_of(raw: Any) -> ContainerState:
    """A container's state; its ports are those it publishes now, or, while it does not run, those its binding
    names (a port the engine would choose at the next start is not known before)."""
    attrs = raw.attrs
    ports: dict[str, int] = {}
    for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if bindings:
            ports[key] = int(bindings[0]["HostPort"])
    state = (attrs.get("State") or {}).get("Status") or raw.status
    if state != "running":
        for key, bindings in ((attrs.get("HostConfig") or {}).get("PortBindings") or {}).items():
            if bindings and str(bindings[0].get("HostPort") or "").isdigit():
                ports.setdefault(key, int(bindings[0]["HostPort"]))
    return ContainerState(id=raw.id, name=raw.name, state=state, labels=raw.labels, ports=ports)


PORTS_LABEL = "berth.ports"
"""The host ports Berth pinned in a container's binding (``80/tcp=32771,…``), readable from a listing even while
the container is stopped (the engine lists the ports of running containers only)."""


def ports_label(ports: dict[str, int]) -> str:
    """The ``berth.ports`` label of pinned ports (port key → host port)."""
    return ",".join(f"{key}={port}" for key, port in sorted(ports.items()))


def pinned_ports(labels: dict[str, str]) -> dict[str, int]:
    """The pinned ports a container's labels record (port key → host port)."""
    found: dict[str, int] = {}
    for item in (labels.get(PORTS_LABEL) or "").split(","):
        key, _sep, port = item.partition("=")
        if key and port.isdigit():
            found[key] = int(port)
    return found


def taken_ports(endpoint: Endpoint) -> set[int]:
    """Host ports a new container on the engine must not take: those its containers publish now, and those Berth
    pinned for containers that are stopped (their ``berth.ports`` label), of any Berth installation. One call."""
    taken: set[int] = set()
    for found in _call(endpoint, client(endpoint).api.containers, all=True):
        taken.update(int(p["PublicPort"]) for p in found.get("Ports") or [] if p.get("PublicPort"))
        taken.update(pinned_ports(found.get("Labels") or {}).values())
    return taken


def find_container(endpoint: Endpoint, name: str) -> ContainerState | None:
    """The container named ``name``, or None."""
    try:
        return _state_of(client(endpoint).containers.get(name))
    except NotFound:
        return None
    except (RequestsConnectionError, ReadTimeout) as exc:
        raise HostUnreachable(explain(exc)) from exc
    except DockerException as exc:
        raise HostError(explain(exc)) from exc


def create_container(endpoint: Endpoint, spec: ContainerSpec) -> str:
    """Create (not start) the container, joined to its networks; return its id."""
    c = client(endpoint)
    restart = {"Name": spec.restart_policy} if spec.restart_policy not in ("no", "") else None
    if spec.restart_policy.startswith("on-failure"):
        name, _sep, count = spec.restart_policy.partition(":")
        restart = {"Name": name, "MaximumRetryCount": int(count or 0)}
    host_config = c.api.create_host_config(
        port_bindings={key: (ip, port) if port else (ip,) for key, (ip, port) in spec.ports.items()},
        init=spec.init,
        restart_policy=restart,
        network_mode=spec.network,
        **spec.host_options,
    )
    networking = c.api.create_networking_config(
        {spec.network: c.api.create_endpoint_config(aliases=spec.network_aliases, links=list(spec.links) or None)}
    )
    created = _call(
        endpoint,
        c.api.create_container,
        image=spec.image,
        command=spec.command,
        name=spec.name,
        environment=spec.environment,
        labels=spec.labels,
        ports=[(int(k.split("/")[0]), k.split("/")[1]) for k in spec.ports],
        detach=True,
        host_config=host_config,
        networking_config=networking,
        stop_timeout=spec.stop_timeout,
        **spec.create_options,
    )
    for network, aliases in spec.more_networks:
        _call(
            endpoint,
            c.api.connect_container_to_network,
            created["Id"],
            network,
            aliases=list(aliases),
            links=list(spec.links) or None,
        )
    return created["Id"]


def ensure_volume(endpoint: Endpoint, name: str, labels: dict[str, str]) -> None:
    """Create the named volume unless it exists."""
    c = client(endpoint)
    try:
        c.volumes.get(name)
    except NotFound:
        _call(endpoint, c.volumes.create, name=name, labels=labels)
    except (RequestsConnectionError, ReadTimeout) as exc:
        raise HostUnreachable(explain(exc)) from exc


def remove_volumes(endpoint: Endpoint, labels: dict[str, str]) -> int:
    """Remove the volumes carrying ``labels``; return how many."""
    c = client(endpoint)
    found = _call(endpoint, c.volumes.list, filters={"label": [f"{k}={v}" for k, v in labels.items()]})
    for volume in found:
        _call(endpoint, volume.remove, force=True)
    return len(found)


def remove_networks(endpoint: Endpoint, labels: dict[str, str]) -> int:
    """Remove the networks carrying ``labels``; return how many."""
    c = client(endpoint)
    found = _call(endpoint, c.networks.list, filters={"label": [f"{k}={v}" for k, v in labels.items()]})
    for network in found:
        _remove_one_network(endpoint, network)
    return len(found)


def kill_container(endpoint: Endpoint, container_id: str) -> None:
    """SIGKILL the container (no grace period)."""
    try:
        _call(endpoint, client(endpoint).api.kill, container_id)
    except HostError as exc:
        text = str(exc).lower()
        if "is not running" not in text and "no such container" not in text:
            raise


def image_digest(endpoint: Endpoint, image: str) -> str:
    """The repo digest of an image (``repo@sha256:…``), or its id when it came from no registry."""
    try:
        found = client(endpoint).images.get(image)
    except DockerException as exc:
        raise HostError(explain(exc)) from exc
    digests = found.attrs.get("RepoDigests") or []
    repo = split_reference(image)[0]
    mine = [d for d in digests if d.partition("@")[0] == repo]
    return (mine or digests or [found.id])[0]


def container_logs(endpoint: Endpoint, container_id: str, tail: int = 200) -> str:
    """The last ``tail`` lines of the container's output (a quick read)."""
    raw = _call(endpoint, client(endpoint).api.logs, container_id, tail=tail, timestamps=True)
    return raw.decode("utf-8", errors="replace")


def container_output(endpoint: Endpoint, container_id: str, since: float) -> str:
    """A container's standard output since ``since`` (a UNIX time, fractions of a second count)."""
    raw = _call(endpoint, client(endpoint).api.logs, container_id, stdout=True, stderr=False, since=since)
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def inspect_container(endpoint: Endpoint, container_id: str) -> dict[str, Any]:
    """``docker inspect`` of one container, as the engine says it: environment values included, so whoever shows
    it must pass it through ``apps.disclosure.Disclosure.inspect`` (values only to who may change the app)."""
    return _call(endpoint, client(endpoint).api.inspect_container, container_id)


@dataclass(frozen=True)
class Health:
    """A container's run state and health as its engine sees them now (nothing else of its inspection)."""

    state: str  # running, exited, created, ... or "missing"
    exit_code: int | None = None
    health: str = ""  # starting, healthy, unhealthy; "" without a health check
    last_check: str = ""  # the output of the latest failed check, shortened


def container_health(endpoint: Endpoint, container_id: str) -> Health:
    """``Health`` of one container; state "missing" when it is gone."""
    try:
        raw = _call(endpoint, client(endpoint).api.inspect_container, container_id)
    except HostError as exc:
        if "no such container" in str(exc).lower():
            return Health("missing")
        raise
    state = raw.get("State") or {}
    health = state.get("Health") or {}
    failed = [entry for entry in health.get("Log") or [] if entry.get("ExitCode")]
    last = (failed[-1].get("Output") or "").strip()[:200] if failed else ""
    return Health(state.get("Status") or "unknown", state.get("ExitCode"), health.get("Status") or "", last)


def start_container(endpoint: Endpoint, container_id: str, *, inspect: bool = True) -> ContainerState:
    """Start the container and return its state; ``inspect`` reads back the host ports Docker chose.

    Without ``inspect`` the state is "running" as the engine acknowledged the start (a container that
    dies right away is reported by the events watcher).
    """
    c = client(endpoint)
    _call(endpoint, c.api.start, container_id)
    if not inspect:
        return ContainerState(id=container_id, name="", state="running", labels={}, ports={})
    return _state_of(_call(endpoint, c.containers.get, container_id))


def stop_container(endpoint: Endpoint, container_id: str, timeout: int) -> None:
    """Stop gracefully (TERM, then KILL after ``timeout`` seconds)."""
    try:
        _call(endpoint, client(endpoint).api.stop, container_id, timeout=timeout)
    except HostError as exc:
        if "no such container" not in str(exc).lower():
            raise


def restart_container(endpoint: Endpoint, container_id: str, timeout: int) -> ContainerState:
    """Restart and return the new state."""
    c = client(endpoint)
    _call(endpoint, c.api.restart, container_id, timeout=timeout)
    return _state_of(_call(endpoint, c.containers.get, container_id))


def remove_container(endpoint: Endpoint, container_id: str) -> bool:
    """Force-remove; return False when it was already gone."""
    try:
        _call(endpoint, client(endpoint).api.remove_container, container_id, force=True, v=False)
        return True
    except HostError as exc:
        if "no such container" in str(exc).lower() or "not found" in str(exc).lower():
            return False
        if "already in progress" in str(exc).lower():
            return True
        raise


def list_containers(endpoint: Endpoint, labels: dict[str, str], *, sparse: bool = False) -> list[ContainerState]:
    """All containers (running or not) that carry every label in ``labels``.

    ``sparse`` reads the engine's listing alone, one call however many containers match (without it, every
    container is inspected too): the states then name only the ports published now, enough for callers that
    need a container's id, name, state and labels.
    """
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    if sparse:
        listed = _call(endpoint, client(endpoint).api.containers, all=True, filters=filters)
        return [_state_of_listing(item) for item in listed]
    found = _call(endpoint, client(endpoint).containers.list, all=True, filters=filters)
    return [_state_of(c) for c in found]


def _state_of_listing(item: dict[str, Any]) -> ContainerState:
    """A container's state from one entry of the engine's listing (``GET /containers/json``)."""
    ports = {
        f"{p['PrivatePort']}/{p.get('Type', 'tcp')}": int(p["PublicPort"])
        for p in item.get("Ports") or []
        if p.get("PublicPort") and p.get("PrivatePort")
    }
    names = item.get("Names") or [""]
    return ContainerState(
        id=item["Id"],
        name=names[0].lstrip("/"),
        state=item.get("State") or "",
        labels=item.get("Labels") or {},
        ports=ports,
    )


def streaming_client(endpoint: Endpoint, timeout: float | None = None) -> docker.DockerClient:
    """A client of its own, with no read timeout unless asked, for a stream that lasts (events, a terminal); the
    caller closes it."""
    try:
        return endpoint.make_client(timeout=timeout)
    except (DockerException, RequestsConnectionError, ReadTimeout) as exc:
        raise HostUnreachable(f"engine at {endpoint.url} did not answer: {_short_reason(exc)}") from exc


@contextmanager
def streaming(endpoint: Endpoint) -> Iterator[docker.DockerClient]:
    """A streaming client (``streaming_client``) for the block, closed after it; what breaks the stream is a
    ``HostUnreachable`` (the connection) or a ``HostError`` (the engine's refusal)."""
    stream_client = streaming_client(endpoint)
    try:
        yield stream_client
    except (RequestsConnectionError, ReadTimeout, OSError) as exc:
        raise HostUnreachable(explain(exc)) from exc
    except DockerException as exc:
        raise HostError(explain(exc)) from exc
    finally:
        stream_client.close()


def events(
    endpoint: Endpoint, labels: dict[str, str], since: str | None = None, until: str | None = None
) -> Iterator[dict[str, Any]]:
    """Container events of Berth's containers, as the engine streams them (blocks); from ``since`` when given (what
    the engine still holds of the events since then comes first), and up to ``until`` (then it ends). Both are the
    engine's own times (``engine_time``)."""
    stream_client = streaming_client(endpoint)
    filters = {"type": "container", "label": [f"{k}={v}" for k, v in labels.items()]}
    try:
        yield from stream_client.api.events(decode=True, filters=filters, since=since, until=until)
    except (RequestsConnectionError, ReadTimeout, DockerException) as exc:
        raise HostUnreachable(explain(exc)) from exc
    finally:
        stream_client.close()


def engine_time(endpoint: Endpoint) -> str:
    """The engine's clock now, as ``since``/``until`` take it (``seconds.nanoseconds``): a node's clock may not be
    this machine's."""
    stamp = str(_call(endpoint, client(endpoint).api.info).get("SystemTime") or "")
    found = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$", stamp)
    if found is None:
        return f"{time.time():.9f}"
    whole, fraction, zone = found.groups()
    seconds = int(datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp())
    return f"{seconds}.{(fraction or '').ljust(9, '0')}"


LOG_STREAMS = {1: "stdout", 2: "stderr"}
LINE_LIMIT = 64 * 1024
"""Bytes of output without a newline that are passed on as a line (the collectors cut lines shorter still)."""


def _log_chunks(response: Any, tty: bool) -> Iterator[tuple[str, bytes]]:
    """The body of a logs answer as (stream, bytes): a TTY's is raw output; otherwise frames of an 8-byte header
    (stream, size) and their bytes (Docker's multiplexed stream)."""
    if tty:
        for chunk in response.iter_content(chunk_size=None):
            yield "stdout", chunk
        return
    while True:
        header = response.raw.read(8)
        if len(header) < 8:
            return
        kind, size = header[0], int.from_bytes(header[4:8], "big")
        data = response.raw.read(size) if size else b""
        if len(data) < size:
            return
        yield LOG_STREAMS.get(kind, "stdout"), data


def log_stream(
    endpoint: Endpoint, container_id: str, since: str | None = None, *, tty: bool = False, follow: bool = True
) -> Iterator[tuple[str, bytes]]:
    """A container's output, line by line, each with the engine's timestamp in front (``2026-12-02T10:00:00.1Z
    text``): ("stdout" | "stderr", line), following it while it runs (blocks; it ends when the container stops).
    ``since``: ``seconds.nanoseconds``, where to start (the engine gives lines at that moment too). One client and
    one open stream per call, closed at the end."""
    params: dict[str, Any] = {"follow": int(follow), "stdout": 1, "stderr": 1, "timestamps": 1, "tail": "all"}
    if since:
        params["since"] = since
    buffers = {"stdout": b"", "stderr": b""}
    with streaming(endpoint) as stream_client:
        api = stream_client.api
        response = api._get(api._url("/containers/{0}/logs", container_id), params=params, stream=True)
        api._raise_for_status(response)
        api._disable_socket_timeout(api._get_raw_response_socket(response))
        for name, chunk in _log_chunks(response, tty):
            *lines, buffers[name] = (buffers[name] + chunk).split(b"\n")
            for line in lines:
                yield name, line
            if len(buffers[name]) > LINE_LIMIT:  # output without a newline (a progress bar): a line of its own
                yield name, buffers[name]
                buffers[name] = b""
        for name, rest in buffers.items():
            if rest:
                yield name, rest


def exec_lines(endpoint: Endpoint, container_id: str, argv: list[str]) -> Iterator[bytes]:
    """The output of a command run inside the container, line by line as it comes (blocks until the command
    ends; standard output and error together). One client per call, closed at the end."""
    rest = b""
    with streaming(endpoint) as stream_client:
        made = stream_client.api.exec_create(container_id, argv, stdout=True, stderr=True)
        for chunk in stream_client.api.exec_start(made["Id"], stream=True):
            *lines, rest = (rest + chunk).split(b"\n")
            yield from lines
            if len(rest) > LINE_LIMIT:
                yield rest
                rest = b""
        if rest:
            yield rest


def disk_usage(endpoint: Endpoint) -> int:
    """Bytes the engine's data uses on its node: image layers, containers' writable layers and volumes (``docker
    system df``; the engine walks its data to answer, so callers ask rarely)."""
    found = _call(endpoint, client(endpoint).api.df)
    layers = int(found.get("LayersSize") or 0)
    containers = sum(int(c.get("SizeRw") or 0) for c in found.get("Containers") or [])
    volumes = sum(max(int((v.get("UsageData") or {}).get("Size") or 0), 0) for v in found.get("Volumes") or [])
    return layers + containers + volumes


def stats_stream(endpoint: Endpoint, container_id: str) -> Iterator[dict[str, Any]]:
    """A running container's resource figures as the engine streams them, one sample a second, until it stops
    (blocks); one client and one open stream per call, closed at the end."""
    with streaming(endpoint) as stream_client:
        yield from stream_client.api.stats(container_id, decode=True, stream=True)


def copy_image(source: Endpoint, target: Endpoint, image: str) -> None:
    """Copy an image between engines without a registry (``docker save`` streamed into ``docker load``)."""
    data = _call(source, client(source).api.get_image, image)
    _call(target, client(target).api.load_image, b"".join(data))


def registry_lookup(endpoint: Endpoint, image: str) -> str:
    """Ask the engine whether a registry has ``image`` (its manifest, fetched by the engine: a quick read, nothing
    is pulled), sending only the node's tenant's credential for that registry. Returns "" when the registry has it,
    else the reason in words (no registry answers, or it has no such image)."""
    registry = docker.auth.resolve_repository_name(split_reference(image)[0])[0]
    auth = registries.auth_for_node(endpoint.node_id, registry) if endpoint.node_id else None
    try:
        client(endpoint).api.inspect_distribution(image, auth_config=auth or {})
    except (RequestsConnectionError, ReadTimeout) as exc:
        forget(endpoint)
        raise HostUnreachable(explain(exc)) from exc
    except DockerException as exc:
        return pull_reason(image, exc)
    return ""
