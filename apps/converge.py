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
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.models import Application, Container, Release, Service
from clusters import docker_host as host
from clusters.models import Node
from clusters.pulls import PullProgress

DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def spec_hash(service: Service) -> str:
    """A fingerprint of what a container of the service is made from (not the scale)."""
    if service.spec:
        trimmed = {k: v for k, v in service.spec.items() if k not in ("deploy", "scale")}
        trimmed["labels"] = {k: v for k, v in (trimmed.get("labels") or {}).items() if k != "aliyun.scale"}
        if service.pinned_image:
            trimmed["image"] = service.pinned_image
    else:
        trimmed = {
            "image": service.image,
            "command": service.command,
            "environment": service.environment,
            "container_port": service.container_port,
            "host_port": service.host_port,
        }
    return hashlib.sha1(json.dumps(trimmed, sort_keys=True, default=str).encode()).hexdigest()


def network_names(app: Application, service: Service) -> list[str]:
    """The networks a container of the service joins: ``<app>_<network>`` (``<app>_default`` by default)."""
    keys = list((service.spec.get("networks") or {}).keys()) if service.spec else []
    return [f"{app.name}_{key}" for key in (keys or ["default"])]


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


def spec_options(app: Application, service: Service, node: Node) -> dict[str, Any]:
    """Ports, mounts, resources and the other Compose fields, as docker SDK arguments."""
    spec = service.spec
    ports: dict[str, tuple[str, int | None]] = {}
    for port in spec.get("ports") or []:
        published = str(port.get("published") or "")
        key = f"{port['target']}/{port.get('protocol', 'tcp')}"
        host_ip = port.get("host_ip") or node.publish_ip
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


def container_spec(
    app: Application, service: Service, release: Release, container: Container, labels: dict[str, str]
) -> host.ContainerSpec:
    """The spec of one container of a Compose service."""
    options = spec_options(app, service, container.node)
    networks = network_names(app, service)
    env = {k: str(v) for k, v in (service.spec.get("environment") or {}).items() if v is not None}
    user_labels = {
        k: str(v)
        for k, v in (service.spec.get("labels") or {}).items()
        if not k.startswith(("berth.", "com.docker.compose."))
    }
    stop = options["stop"]
    return host.ContainerSpec(
        name=container.name,
        image=image_of(service),
        command=service.spec.get("command"),
        environment=env,
        labels={**user_labels, **labels},
        network=networks[0],
        network_aliases=[service.name],
        ports=options["ports"],
        init=bool(options["init"]),
        stop_timeout=int(stop / 1_000_000_000) if stop else settings.BERTH_STOP_TIMEOUT,
        restart_policy=options["restart"],
        host_options=options["host_options"],
        create_options=options["create_options"],
        more_networks=tuple((n, (service.name,)) for n in networks[1:]),
    )


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
    error: str = ""  # the pull failed but the node has the image: the local copy is used


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
                if not host.image_present(endpoint, image):
                    raise
                pulls.append(Pull(image, None, time.monotonic() - started, error=str(exc)))
    labels = {**host.managed(), "berth.application": str(app.pk), "com.docker.compose.project": app.name}
    for name in sorted({n for s in services for n in network_names(app, s)}):
        host.ensure_network(endpoint, name, {**labels, "com.docker.compose.network": name[len(app.name) + 1 :]})
    for name in sorted({v for s in services for v in volume_names(app, s)}):
        host.ensure_volume(endpoint, name, {**labels, "com.docker.compose.volume": name[len(app.name) + 1 :]})
    return pulls


def desired_changes(app: Application, services: list[Service], *, recreate_all: bool) -> dict[str, Any]:
    """Rows to remove (past the scale), to recreate (other spec), and what stays placed, per service."""
    remove, recreate, keep = [], [], {}
    for service in services:
        rows = list(service.containers.select_related("node"))
        wanted = None if service.is_global else set(range(1, service.scale + 1))
        current = spec_hash(service)
        keep[service.name] = {}
        for row in rows:
            if wanted is not None and row.index not in wanted:
                remove.append(row)
                continue
            keep[service.name][row.index] = row.node_id
            if recreate_all or (row.spec_hash and row.spec_hash != current):
                recreate.append(row)
    return {"remove": remove, "recreate": recreate, "keep": keep}


def transaction_safe_create(service: Service, node_id: int, index: int, name: str) -> Container:
    with transaction.atomic():
        row, _created = Container.objects.get_or_create(
            service=service,
            index=index,
            defaults={"node_id": node_id, "name": name, "state": "pending", "spec_hash": spec_hash(service)},
        )
    return row
