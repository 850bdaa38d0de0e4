"""Converging an application's containers on its desired state: the work of deploy, start, update, scale and
redeploy releases.

For every service, in dependency order: containers past the desired scale are removed (highest indexes
first), containers made from another spec (or all, for a redeploy) are recreated on their node, and
missing replicas are placed by the scheduler and created. Nodes are prepared in parallel (images pulled
when missing or when asked, networks and named volumes created); containers are worked in a bounded
pool. Run twice, it converges to the same state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from apps.models import Application, Container, Release, Service
from clusters import docker_host as host
from clusters import network
from clusters.models import Network, Node
from clusters.pulls import PullProgress
from console.work import WorkFailed

log = logging.getLogger(__name__)

DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


NETWORKS_KEY = "x-berth-networks"
"""A service's networks as planned (``apps.stacks.prepare``): Compose key → ``{"name": ..., "external": bool}``."""


def attachments(app: Application, service: Service) -> list[tuple[str, tuple[str, ...]]]:
    """The networks a container of the service joins, each with the names it answers to there: ``<app>_<network>``
    (``<app>_default`` by default) or a shared network's own name; the service name, the Compose ``aliases`` of
    that network and the service's ``hostname``."""
    spec = service.spec or {}
    resolved = spec.get(NETWORKS_KEY) or {}
    hostname = spec.get("hostname")
    found = []
    for key, entry in (spec.get("networks") or {"default": None}).items():
        name = (resolved.get(key) or {}).get("name") or f"{app.name}_{key}"
        aliases = [service.name, *((entry or {}).get("aliases") or []), *([hostname] if hostname else [])]
        found.append((name, tuple(dict.fromkeys(aliases))))
    return found


def network_names(app: Application, service: Service) -> list[str]:
    """The names of the networks a container of the service joins (``attachments``)."""
    return [name for name, _aliases in attachments(app, service)]


def shared_networks(service: Service) -> list[str]:
    """The shared (external) networks the service joins."""
    resolved = (service.spec or {}).get(NETWORKS_KEY) or {}
    return sorted(v["name"] for v in resolved.values() if v.get("external"))


def links(app: Application, service: Service) -> tuple[tuple[str, str], ...]:
    """Compose V1 ``links`` (``db`` or ``db:alias``) as the engine's links: the first container of that service (its
    newest generation, after a rolling release replaced it) answers to the alias for this container, on every
    network it joins."""
    found = []
    for link in (service.spec or {}).get("links") or []:
        target, _sep, alias = str(link).partition(":")
        found.append((first_container_name(app, target), alias or target))
    return tuple(found)


def first_container_name(app: Application, service_name: str) -> str:
    """The name of the newest container of replica 1 of ``service_name`` (``<app>_<service>_1`` before any rolling
    release replaced it, or when the application has none yet)."""
    if app.pk is not None:
        newest = (
            Container.objects.filter(service__application=app, service__name=service_name, index=1)
            .order_by("-generation")
            .values_list("name", flat=True)
            .first()
        )
        if newest:
            return newest
    return f"{app.name}_{service_name}_1"


def volume_names(app: Application, service: Service) -> list[str]:
    """Named volumes of the service, per node: ``<app>_<volume>``."""
    return [
        f"{app.name}_{v['source']}"
        for v in (service.spec.get("volumes") or [])
        if v.get("type") == "volume" and v.get("source")
    ]


def _nanoseconds(value: Any) -> int | None:
    if value in (None, ""):
        return None
    found = DURATION_RE.match(str(value))
    if not found or not any(found.groups()):
        return None
    hours, minutes, seconds, millis = found.groups()
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0) + int(millis or 0) / 1000
    return int(total * 1_000_000_000)


def probe_healthcheck(spec: dict[str, Any]) -> dict[str, Any]:
    """Alibaba's ``aliyun.probe.*`` labels as a Docker healthcheck (used when the service has none).

    ``aliyun.probe.url`` ``http://container:PORT/PATH`` is fetched inside the container, ``tcp://container:PORT``
    is connected to, ``aliyun.probe.cmd`` is run; ``timeout_seconds`` and ``initial_delay_seconds`` carry over.
    """
    labels = spec.get("labels") or {}
    url, cmd = labels.get("aliyun.probe.url", ""), labels.get("aliyun.probe.cmd", "")
    if url.startswith(("http://", "https://")):
        test = ["CMD-SHELL", f"wget -q -O /dev/null {url.replace('//container', '//127.0.0.1', 1)} || exit 1"]
    elif url.startswith("tcp://"):
        port = url.rsplit(":", 1)[-1]
        test = ["CMD-SHELL", f"nc -z 127.0.0.1 {port} || exit 1"]
    elif cmd:
        test = ["CMD-SHELL", cmd]
    else:
        return {}
    check: dict[str, Any] = {"test": test, "interval": "10s"}
    if str(labels.get("aliyun.probe.timeout_seconds", "")).isdigit():
        check["timeout"] = f"{labels['aliyun.probe.timeout_seconds']}s"
    if str(labels.get("aliyun.probe.initial_delay_seconds", "")).isdigit():
        check["start_period"] = f"{labels['aliyun.probe.initial_delay_seconds']}s"
    return check


def spec_options(app: Application, service: Service, node: Node | None) -> dict[str, Any]:
    """Ports, mounts, resources and the other Compose fields, as docker SDK arguments. A port without an address
    of its own is published on ``node``'s publish address ("" without a node: ``container_spec`` fills it in)."""
    spec = service.spec
    ports: dict[str, tuple[str, int | None]] = {}
    for port in spec.get("ports") or []:
        published = str(port.get("published") or "")
        key = f"{port['target']}/{port.get('protocol', 'tcp')}"
        host_ip = port.get("host_ip") or (node.publish_ip if node is not None else "")
        ports[key] = (host_ip, int(published) if published.isdigit() else None)
    binds, tmpfs = [], {}
    for volume in spec.get("volumes") or []:
        mode = "ro" if volume.get("read_only") else "rw"
        if volume.get("type") == "volume" and volume.get("source"):
            binds.append(f"{app.name}_{volume['source']}:{volume['target']}:{mode}")
        elif volume.get("type") == "bind":
            binds.append(f"{volume['source']}:{volume['target']}:{mode}")
        elif volume.get("type") == "tmpfs":
            tmpfs[volume["target"]] = ""
        elif volume.get("type") == "volume":
            binds.append(volume["target"])
    for target in spec.get("tmpfs") or []:
        tmpfs[str(target)] = ""
    host_options: dict[str, Any] = {}
    if binds:
        host_options["binds"] = binds
    if tmpfs:
        host_options["tmpfs"] = tmpfs
    limits = ((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = spec.get("mem_limit") or limits.get("memory")
    if memory:
        host_options["mem_limit"] = int(memory)
    cpus = spec.get("cpus") or limits.get("cpus")
    if cpus:
        host_options["nano_cpus"] = int(float(cpus) * 1_000_000_000)
    pids = spec.get("pids_limit", limits.get("pids"))  # -1: no limit
    if pids:
        host_options["pids_limit"] = int(pids)
    for key, arg in (
        ("privileged", "privileged"),
        ("cap_add", "cap_add"),
        ("cap_drop", "cap_drop"),
        ("read_only", "read_only"),
        ("dns", "dns"),
        ("extra_hosts", "extra_hosts"),
    ):
        if spec.get(key):
            host_options[arg] = spec[key]
    for key, arg in (("pid", "pid_mode"), ("ipc", "ipc_mode")):
        if spec.get(key):
            host_options[arg] = spec[key]
    if spec.get("devices"):
        host_options["devices"] = [d if isinstance(d, str) else f"{d['source']}:{d['target']}" for d in spec["devices"]]
    create_options: dict[str, Any] = {}
    for key in ("user", "working_dir", "hostname", "entrypoint"):
        if spec.get(key):
            create_options[key] = spec[key]
    check = spec.get("healthcheck") or probe_healthcheck(spec)
    if check and not check.get("disable") and check.get("test"):
        create_options["healthcheck"] = {
            k: v
            for k, v in {
                "test": check["test"],
                "interval": _nanoseconds(check.get("interval")),
                "timeout": _nanoseconds(check.get("timeout")),
                "retries": check.get("retries"),
                "start_period": _nanoseconds(check.get("start_period")),
            }.items()
            if v is not None
        }
    return {
        "ports": ports,
        "host_options": host_options,
        "create_options": create_options,
        "restart": spec.get("restart") or "unless-stopped",
        "init": spec.get("init", True),
        "stop": _nanoseconds(spec.get("stop_grace_period")),
    }


def service_labels(app: Application, service: Service) -> dict[str, str]:
    """Labels every container of the service carries: enough to rebuild Berth's view from the host, and Compose's
    own (``replica_labels`` adds the replica's)."""
    return {
        **host.managed(),
        "berth.tenant": str(app.tenant_id),
        "berth.cluster": str(app.cluster_id),
        "berth.application": str(app.pk),
        "berth.application.name": app.name,
        "berth.service": service.name,
        "com.docker.compose.project": app.name,
        "com.docker.compose.service": service.name,
        "com.docker.compose.oneoff": "False",
    }


GENERATION_LABEL = "berth.generation"


def replica_labels(release: Release | None, index: int, generation: int = 0) -> dict[str, str]:
    """The labels that differ between the containers of one service: the replica, its generation (when a rolling
    release replaced it) and the release that made it."""
    labels = {
        "berth.release": str(release.pk) if release is not None else "",
        "berth.replica": str(index),
        "com.docker.compose.container-number": str(index),
    }
    if generation:
        labels[GENERATION_LABEL] = str(generation)
    return labels


def generation_of(labels: dict[str, str]) -> int:
    """The generation a container's labels name (0 when they name none: the replica's first container)."""
    value = labels.get(GENERATION_LABEL, "0")
    return int(value) if value.isdigit() else 0


def container_name(app: Application, service: Service, index: int, generation: int = 0) -> str:
    """``<app>_<service>_<index>``, and ``-<generation>`` for a container that replaced an earlier one of its
    replica in a rolling release (both run side by side for a moment, so they need names of their own)."""
    base = f"{app.name}_{service.name}_{index}"
    return f"{base}-{generation}" if generation else base


def service_spec(app: Application, service: Service) -> host.ContainerSpec:
    """What every container of ``service`` is created with, before its replica's own part: ``container_spec`` adds
    the name, the replica and release labels, the node's publish address, and the host ports Berth pins."""
    if not service.spec:  # an application made from one image
        ports: dict[str, tuple[str, int | None]] = {}
        if service.container_port:
            ports[f"{service.container_port}/{service.protocol}"] = ("", service.host_port)
        return host.ContainerSpec(
            name="",
            image=image_of(service),
            command=service.command,
            environment=service.environment,
            labels=service_labels(app, service),
            network=app.network_name,
            network_aliases=[service.name],
            ports=ports,
            stop_timeout=settings.BERTH_STOP_TIMEOUT,
        )
    options = spec_options(app, service, None)
    joined = attachments(app, service)
    env = {k: str(v) for k, v in (service.spec.get("environment") or {}).items() if v is not None}
    user_labels = {
        k: str(v)
        for k, v in (service.spec.get("labels") or {}).items()
        if not k.startswith(("berth.", "com.docker.compose."))
    }
    stop = options["stop"]
    return host.ContainerSpec(
        name="",
        image=image_of(service),
        command=service.spec.get("command"),
        environment=env,
        labels={**user_labels, **service_labels(app, service)},
        network=joined[0][0],
        network_aliases=list(joined[0][1]),
        ports=options["ports"],
        init=bool(options["init"]),
        stop_timeout=int(stop / 1_000_000_000) if stop else settings.BERTH_STOP_TIMEOUT,
        restart_policy=options["restart"],
        host_options=options["host_options"],
        create_options=options["create_options"],
        more_networks=tuple(joined[1:]),
        links=links(app, service),
    )


SCALE_LABELS = ("aliyun.scale",)
"""Labels that say how many containers a service has, not what one is: a change of scale recreates nothing."""


def fingerprint(app: Application, service: Service) -> str:
    """The fingerprint of the containers of ``service``: a hash of what each would be created with now
    (``service_spec``: image or pinned digest, command, environment, ports, mounts, limits, networks, labels…),
    without what differs between its replicas or says its scale. A container whose ``spec_hash`` differs was made
    from something else and is recreated: the plan (``apps.stacks.plan``) and the run (``desired_changes``) both
    decide with this function and ``needs_recreate``."""
    spec = service_spec(app, service)
    made = asdict(spec)
    made["labels"] = {k: v for k, v in spec.labels.items() if k not in SCALE_LABELS}
    return hashlib.sha1(json.dumps(made, sort_keys=True, default=str).encode()).hexdigest()


def needs_recreate(container: Container, current: str) -> bool:
    """Whether ``container`` was made from something else than the fingerprint ``current`` (a row whose
    fingerprint is not known, written before fingerprints were kept, is left alone)."""
    return bool(container.spec_hash) and container.spec_hash != current


def container_spec(
    app: Application, service: Service, release: Release | None, container: Container
) -> host.ContainerSpec:
    """The spec of one container of the service on its node: ``service_spec`` with the replica's name and labels,
    and the node's publish address for ports that name none. Ports without a host port are pinned at creation
    (``HostPorts``)."""
    base = service_spec(app, service)
    return replace(
        base,
        name=container.name,
        labels={**base.labels, **replica_labels(release, container.index, container.generation)},
        ports={key: (ip or container.node.publish_ip, port) for key, (ip, port) in base.ports.items()},
    )


def spec_for(container: Container) -> host.ContainerSpec:
    """The spec to (re)create ``container`` on its current node, labelled with the application's latest release."""
    service = container.service
    app = service.application
    release = (
        app.releases.filter(kind=Release.Kind.DEPLOY).order_by("-id").first() or app.releases.order_by("-id").first()
    )
    return container_spec(app, service, release, container)


def image_of(service: Service) -> str:
    """The image reference the service's containers are made from: the pinned digest after a rollback,
    else the template's image."""
    return service.pinned_image or service.image


@dataclass
class Pull:
    """One image pull on one node, as the release reports it."""

    image: str
    state: PullProgress | None
    seconds: float
    error: str = ""  # why the pull failed (``host.pull_reason``) while the node has the image: its copy is used


def prepare_node(
    node: Node,
    app: Application,
    services: list[Service],
    *,
    pull: bool,
    on_pull: Callable[[PullProgress, bool], None] | None = None,
) -> list[Pull]:
    """On one node: images present (pulled when missing, or always when asked), networks and volumes made.

    ``on_pull`` follows each pull as it goes; the pulls done are returned.
    """
    endpoint = host.Endpoint.of(node)
    pulls: list[Pull] = []
    for image in sorted({image_of(s) for s in services}):
        wants_pull = pull or any(s.latest_image for s in services if image_of(s) == image)
        if wants_pull or not host.image_present(endpoint, image):
            started = time.monotonic()
            try:
                state = host.pull_image(endpoint, image, on_pull)
                pulls.append(Pull(image, state, time.monotonic() - started))
            except host.HostError as exc:
                reason = exc.reason if isinstance(exc, host.ImageNotPulled) else str(exc)
                if not host.image_present(endpoint, image):
                    if isinstance(exc, host.ImageNotPulled):
                        missing = f"{image} is not on {node.name} and could not be pulled: {reason}"
                        raise host.HostError(missing) from exc
                    raise
                pulls.append(Pull(image, None, time.monotonic() - started, error=reason))
    labels = {**host.managed(), "berth.application": str(app.pk), "com.docker.compose.project": app.name}
    if not network.uses_overlay(app.cluster):  # the cluster network's are made once (prepare_networks)
        for name in sorted({n for s in services for n in network_names(app, s)}):
            host.ensure_network(endpoint, name, {**labels, "com.docker.compose.network": name[len(app.name) + 1 :]})
    for name in sorted({v for s in services for v in volume_names(app, s)}):
        host.ensure_volume(endpoint, name, {**labels, "com.docker.compose.volume": name[len(app.name) + 1 :]})
    return pulls


def prepare_networks(app: Application, services: list[Service]) -> None:
    """In the cluster network: the application's networks and the shared ones its services join, made once through
    a manager (every ready node in the swarm first); the shared ones' address ranges recorded."""
    cluster = app.cluster
    if not network.uses_overlay(cluster):
        return
    base = {**host.managed(), "berth.tenant": str(cluster.tenant_id), "berth.cluster": str(cluster.pk)}
    shared = {n for s in services for n in shared_networks(s)}
    wanted: dict[str, dict[str, str]] = {}
    for name in sorted({n for s in services for n in network_names(app, s)}):
        if name in shared:
            wanted[name] = {**base, "berth.network": name}
        else:
            wanted[name] = {
                **base,
                "berth.application": str(app.pk),
                "com.docker.compose.project": app.name,
                "com.docker.compose.network": name[len(app.name) + 1 :],
            }
    subnets = network.ensure_networks(cluster, wanted)
    for name in shared:
        Network.objects.filter(cluster=cluster, name=name, subnet="").update(subnet=subnets.get(name, ""))


def desired_changes(app: Application, services: list[Service], *, recreate_all: bool) -> dict[str, Any]:
    """Rows to remove (past the scale), to recreate (made from something else: ``needs_recreate``), and what stays
    placed, per service."""
    remove, recreate, keep = [], [], {}
    rows_of: dict[int, list[Container]] = {}
    for row in Container.objects.filter(service__in=services).select_related("node"):
        rows_of.setdefault(row.service_id, []).append(row)
    for service in services:
        wanted = None if service.is_global else set(range(1, service.scale + 1))
        current = fingerprint(app, service)
        keep[service.name] = {}
        for row in rows_of.get(service.pk, []):
            if wanted is not None and row.index not in wanted:
                remove.append(row)
                continue
            keep[service.name][row.index] = row.node_id
            if recreate_all or needs_recreate(row, current):
                recreate.append(row)
    return {"remove": remove, "recreate": recreate, "keep": keep}


def create_rows(app: Application, services: list[Service], assignment: dict[str, dict[int, int]]) -> None:
    """Rows of the replicas the scheduler placed (service name → index → node), with the fingerprint of what they
    will be made from; a row an earlier attempt wrote stays as it is."""
    by_name = {s.name: s for s in services}
    rows = [
        Container(
            service=by_name[name],
            index=index,
            node_id=node_id,
            name=container_name(app, by_name[name], index),
            state="pending",
            spec_hash=fingerprint(app, by_name[name]),
        )
        for name, placed in assignment.items()
        for index, node_id in sorted(placed.items())
    ]
    if rows:
        with transaction.atomic():
            Container.objects.bulk_create(rows, ignore_conflicts=True)


# --- one container on its node ---------------------------------------------------------------------

PORT_ATTEMPTS = 5
"""How many host ports a container is offered before its creation fails (each refused one was taken meanwhile)."""
PORT_TAKEN_RE = re.compile(r":(\d+)(?:: bind: address already in use| failed: port is already allocated)")
ATTACH_ATTEMPTS = 3
"""How often a container's start is tried when the swarm did not grant its attachment to a cluster network in time:
the engine asks a manager for it and gives up after 20 s (a busy manager, or one that is electing a leader, answers
a later try)."""
ATTACH_LATE_RE = re.compile(r"attach to network .*(?:context deadline exceeded|DeadlineExceeded)")
ATTACH_PAUSE = 1.0
"""Seconds between two tries of an attachment that came too late."""


class ContainerFailed(WorkFailed):
    """A container could not be made or started; the message is for people."""


class HostPorts:
    """The host ports Berth pins on one node for container ports published without a host port.

    The engine would choose another free port at every start (32768 → 32771 → 32772). Berth chooses one once, when
    it creates the container, from BERTH_HOST_PORTS (Docker's own range by default), writes it into the container's
    port binding, and records it in the container's ``berth.ports`` label: the binding holds across stop and start,
    ``docker restart`` and engine restarts, for the life of the container, and a recreated replica keeps it. A port
    is free when no container of the node publishes it and none holds it in its label (stopped ones too, of any
    Berth installation on the engine); a port something else took since is refused by the engine, and another is
    offered (``ensure_running``). Thread-safe: the threads of one release share one per node.
    """

    def __init__(self, endpoint: host.Endpoint) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._taken: set[int] | None = None

    def pin(self, spec: host.ContainerSpec, keep: dict[str, int] | None = None) -> host.ContainerSpec:
        """``spec`` with a host port for every port that has none: the one in ``keep`` (the port key → host port of
        the container this one replaces), else a free one."""
        dynamic = [key for key, (_ip, port) in spec.ports.items() if port is None]
        if not dynamic:
            return spec
        chosen: dict[str, int] = {}
        with self._lock:
            if self._taken is None:
                self._taken = host.taken_ports(self.endpoint)
            for key in dynamic:
                port = (keep or {}).get(key) or self._free()
                self._taken.add(port)
                chosen[key] = port
        ports = {key: (ip, chosen.get(key, port)) for key, (ip, port) in spec.ports.items()}
        return replace(spec, ports=ports, labels={**spec.labels, host.PORTS_LABEL: host.ports_label(chosen)})

    def _free(self) -> int:
        assert self._taken is not None
        low, high = settings.BERTH_HOST_PORTS
        for _attempt in range(64):
            port = random.randint(low, high)  # noqa: S311 - not a secret; spread, so that concurrent releases rarely meet
            if port not in self._taken:
                return port
        for port in range(low, high + 1):
            if port not in self._taken:
                return port
        raise host.HostError(f"no free host port between {low} and {high} on the node")


def _port_refused(exc: Exception, spec: host.ContainerSpec) -> bool:
    """Whether the engine refused to start the container because a port Berth pinned is taken (not a fixed one)."""
    pinned = set(host.pinned_ports(spec.labels).values())
    return any(int(p) in pinned for m in PORT_TAKEN_RE.finditer(str(exc)) for p in m.groups() if p)


@dataclass
class Made:
    """A container that exists on its node (just created, or adopted from an earlier attempt), not started yet."""

    id: str
    spec: host.ContainerSpec  # as it was asked for (``make_container`` pins its ports)
    made: host.ContainerSpec  # as it was created (pinned ports, their label)
    ports: dict[str, int]  # the host ports of its binding
    created: bool  # by this call (removed again if it cannot start)
    running: host.ContainerState | None = None  # adopted while running: nothing to start


def make_container(
    endpoint: host.Endpoint, spec: host.ContainerSpec, ports: HostPorts, keep: dict[str, int] | None = None
) -> Made:
    """Create the container (not started), its ports without a host port pinned (``HostPorts``; ``keep`` for a
    replacement). Creation is tried first (one round trip in the common case); a name conflict means an earlier
    attempt got that far, and the existing container is adopted if it is this application's."""
    made = ports.pin(spec, keep)
    try:
        container_id = host.create_container(endpoint, made)
    except host.HostError as exc:
        if "already in use" not in str(exc):
            raise
        existing = host.find_container(endpoint, made.name)
        if existing is None or existing.labels.get("berth.application") != made.labels["berth.application"]:
            raise ContainerFailed(
                _("A container named %(name)s already exists on the node.") % {"name": made.name}
            ) from exc
        running = existing if existing.state == "running" else None
        return Made(existing.id, spec, replace(made, labels=existing.labels), existing.ports, False, running)
    return Made(container_id, spec, made, {key: port for key, (_ip, port) in made.ports.items() if port}, True)


def start_made(endpoint: host.Endpoint, made: Made, ports: HostPorts) -> tuple[host.ContainerState, bool]:
    """Start a container ``make_container`` made; return its state and whether it was created (not adopted).

    A pinned port something else took meanwhile is given up for another: the container is made again with a new
    one (an adopted stopped container too). A cluster network's attachment the swarm granted too late is asked for
    again by starting again (``ATTACH_ATTEMPTS``). A container that cannot start and was created here is removed. The
    state is "running" as the engine acknowledged the start, with the ports of the binding (no inspect); a
    container that dies at once is reported by the events watcher.
    """
    port_tries = attach_tries = 1
    while True:
        if made.running is not None:
            return made.running, False
        try:
            host.start_container(endpoint, made.id, inspect=False)
        except host.HostError as exc:
            if attach_tries < ATTACH_ATTEMPTS and ATTACH_LATE_RE.search(str(exc)):
                attach_tries += 1  # the container stays as made: its start asks for the attachment again
                log.warning("%s: attachment came too late, trying again: %s", made.made.name, exc)
                time.sleep(ATTACH_PAUSE)
                continue
            retry = port_tries < PORT_ATTEMPTS and _port_refused(exc, made.made)
            if made.created or retry:
                host.remove_container(endpoint, made.id)
            if retry:
                port_tries += 1
                made = make_container(endpoint, made.spec, ports)
                continue
            raise ContainerFailed(
                _("Container %(name)s did not start: %(reason)s") % {"name": made.made.name, "reason": exc}
            ) from exc
        return host.ContainerState(made.id, made.made.name, "running", made.made.labels, made.ports), made.created


def ensure_running(
    endpoint: host.Endpoint,
    spec: host.ContainerSpec,
    ports: HostPorts | None = None,
    keep: dict[str, int] | None = None,
) -> tuple[host.ContainerState, bool]:
    """Make the container exist and run (``make_container``, then ``start_made``); return its state and whether
    this call created it."""
    ports = ports or HostPorts(endpoint)
    return start_made(endpoint, make_container(endpoint, spec, ports, keep), ports)
