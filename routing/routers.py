"""One node's router: its container, its configuration, and changes to it that drop no request.

The router is a container of ``local/berth-router:1`` (``scripts/router-image.sh``): HAProxy in master-worker mode
as its first process. Berth writes ``/etc/berth/haproxy.cfg`` into it and then either

* changes only servers (a container added or removed, a weight, an address) through the Runtime API, run by
  ``socat`` inside the container (nothing of it listens outside), or
* reloads it (SIGUSR2 to the master, after ``haproxy -c`` passed): the new worker takes over the listening sockets
  (``expose-fd listeners``) and the old one finishes its requests, so a reload refuses no connection.

A router that is made again (a node that restarted, a container someone removed) gets its whole configuration at
once, rebuilt from the database by ``routing.sync``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from django.conf import settings

from clusters import docker_host as host
from clusters import inside
from routing import haproxy

log = logging.getLogger(__name__)

IMAGE = "local/berth-router:1"
ROUTER_LABEL = "berth.router"
CONTAINER_PORT = 9080  # inside the router's own namespace; published on the node's routing port


REFUSALS = ("Unknown", "No such", "failed", "Require", "cannot", "Can't", "not found", "Error", "error")
"""Words of the Runtime API's answers that mean a command was refused: the change is then made by a reload."""


class RouterFailed(host.HostError):
    """The router could not be made, configured or asked."""


@dataclass(frozen=True)
class Applied:
    """What one application of a configuration did."""

    created: bool = False
    reloaded: bool = False
    commands: int = 0  # Runtime API commands sent


LISTENER_LABEL = "berth.router.listener"


def _instance() -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", settings.BERTH_INSTANCE)[:40]


def name_of(cluster_id: int) -> str:
    """The router container's name on a node of the cluster (another installation on the engine has another)."""
    return f"berth-router-{_instance()}-{cluster_id}"


def listener_name_of(cluster_id: int, front_port: int) -> str:
    """The container that serves one listener of the cluster on a node: a router of its own, so that a listener
    added or removed (a port the engine must publish) never touches the routes' router."""
    return f"berth-listener-{_instance()}-{cluster_id}-{front_port}"


def labels_of(cluster_id: int, front_port: int | None = None) -> dict[str, str]:
    """The labels of a router container (a listener's names its front port)."""
    labels = {**host.managed(), ROUTER_LABEL: str(cluster_id)}
    return {**labels, LISTENER_LABEL: str(front_port)} if front_port is not None else labels


def ports_of(port: int, http: bool, https: bool, listeners: tuple[int, ...] = ()) -> dict[int, int]:
    """Node port → the router's port: the routing port, 80 and 443 when asked, and the listeners' front ports."""
    found = {port: CONTAINER_PORT}
    if http:
        found[80] = 80
    if https:
        found[443] = 443
    for front in listeners:
        found[front] = front
    return found


def _spec(name: str, labels: dict[str, str], publish_ip: str, ports: dict[int, int]) -> host.ContainerSpec:
    return host.ContainerSpec(
        name=name,
        image=IMAGE,
        command=None,
        environment={},
        labels={**labels, "berth.router.ports": ",".join(f"{k}:{v}" for k, v in sorted(ports.items()))},
        network="bridge",
        network_aliases=[],
        ports={f"{inner}/tcp": (publish_ip, outer) for outer, inner in ports.items()},
        init=False,
        stop_timeout=5,
        restart_policy="unless-stopped",
    )


def ensure_image(endpoint: host.Endpoint) -> None:
    """Copy the router image from this machine's engine to the node when it lacks it (no registry answers)."""
    if host.image_present(endpoint, IMAGE):
        return
    local = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL)
    if not host.image_present(local, IMAGE):
        raise RouterFailed(f"the router image {IMAGE} is not on this machine: run scripts/router-image.sh")
    host.copy_image(local, endpoint, IMAGE)


@dataclass(frozen=True)
class Unit:
    """One router container a node runs for a cluster: the routes' router, or a listener's."""

    name: str
    labels: dict[str, str]
    ports: dict[int, int]  # node port → the router's port
    config: str
    networks: frozenset[str]
    files: dict[str, bytes] = field(default_factory=dict)  # under CERTS_DIR: the certificates it serves


def _put_certificates(endpoint: host.Endpoint, container_id: str, files: dict[str, bytes]) -> None:
    """Write the unit's certificate files, each version's directory made afresh (nothing stale left beside them)."""
    versions = sorted({name.split("/", 1)[0] for name in files})
    if not versions:
        return
    inside.run(
        endpoint, container_id, ["sh", "-c", 'cd "$1" && shift && rm -rf "$@"', "sh", haproxy.CERTS_DIR, *versions]
    )
    inside.put_files(endpoint, container_id, haproxy.CERTS_DIR, files)


def _drop_certificates(endpoint: host.Endpoint, container_id: str, files: dict[str, bytes]) -> None:
    """Remove the certificate versions the unit no longer names (once the configuration that named them is gone):
    no key stays on a node after its certificate was deleted."""
    keep = sorted({name.split("/", 1)[0] for name in files})
    script = 'cd "$1" && shift && for d in *; do case " $* " in *" $d "*) ;; *) rm -rf "$d" ;; esac; done'
    inside.run(endpoint, container_id, ["sh", "-c", script, "sh", haproxy.CERTS_DIR, *keep])


def ensure(endpoint: host.Endpoint, unit: Unit, publish_ip: str) -> tuple[str, bool]:
    """The router's container id, made on its networks and started with its configuration when missing or when its
    published ports differ; and whether it was made now."""
    name, config, networks = unit.name, unit.config, unit.networks
    current = host.find_container(endpoint, name)
    wanted = _spec(name, unit.labels, publish_ip, unit.ports)
    if current is not None and current.labels.get("berth.router.ports") == wanted.labels["berth.router.ports"]:
        if current.state != "running":  # its configuration may name certificates it does not have yet
            _put_certificates(endpoint, current.id, unit.files)
            _write(endpoint, current.id, config)
            _drop_certificates(endpoint, current.id, unit.files)
            host.start_container(endpoint, current.id, inspect=False)
        return current.id, False
    if current is not None:  # its published ports changed: an engine cannot add them to a running container
        host.remove_container(endpoint, current.id)
    ensure_image(endpoint)
    container_id = host.create_container(endpoint, wanted)
    try:
        for network in sorted(networks):
            inside.connect(endpoint, container_id, network)
        if unit.files:
            inside.put_files(endpoint, container_id, haproxy.CERTS_DIR, unit.files)
        _write(endpoint, container_id, config)
        host.start_container(endpoint, container_id, inspect=False)
    except host.HostError:
        host.remove_container(endpoint, container_id)
        raise
    return container_id, True


def remove(endpoint: host.Endpoint, cluster_id: int, keep: set[str] = frozenset()) -> list[str]:
    """Remove the cluster's router containers from the node but those named in ``keep``; their names."""
    removed = []
    for state in host.list_containers(endpoint, {ROUTER_LABEL: str(cluster_id), **host.managed()}, sparse=True):
        if state.name not in keep:
            host.remove_container(endpoint, state.id)
            removed.append(state.name)
    return removed


def join_networks(endpoint: host.Endpoint, container_id: str, wanted: set[str]) -> None:
    """Put the router on exactly the overlays it reaches backends through (and the bridge it publishes on)."""
    present = inside.networks_of(endpoint, container_id)
    for network in sorted(wanted - present):
        inside.connect(endpoint, container_id, network)
    for network in sorted(present - wanted - {"bridge"}):
        inside.disconnect(endpoint, container_id, network)


def _write(endpoint: host.Endpoint, container_id: str, config: str) -> None:
    directory, _sep, name = haproxy.CONFIG_PATH.rpartition("/")
    inside.put_files(endpoint, container_id, directory, {name: config.encode()})


def current_config(endpoint: host.Endpoint, container_id: str) -> str:
    """The configuration the router runs with (as Berth last wrote it)."""
    code, output = inside.run(endpoint, container_id, ["cat", haproxy.CONFIG_PATH])
    return output if code == 0 else ""


def runtime(endpoint: host.Endpoint, container_id: str, commands: list[str]) -> str:
    """Send Runtime API commands (one connection, ``;``-separated); the router's answer."""
    if not commands:
        return ""
    script = 'printf "%s\\n" "$BERTH_COMMANDS" | socat -t 10 stdio "UNIX-CONNECT:$BERTH_SOCKET"'
    env = {"BERTH_COMMANDS": "; ".join(commands), "BERTH_SOCKET": haproxy.ADMIN_SOCKET}
    code, output = inside.run(endpoint, container_id, ["sh", "-c", script], env)
    if code != 0:
        raise RouterFailed(f"the router's Runtime API did not answer: {output.strip()[:300]}")
    return output


def server_commands(old: str, new: str) -> list[str]:
    """The Runtime API commands that take a router from configuration ``old`` to ``new`` (same structure): servers
    that went away are taken out (maintenance, then deleted), new ones added and enabled, weights set. An address
    that changed is a server removed and one added. A server that still carries requests is never cut off: HAProxy
    refuses to delete it ("Server still has connections attached to it, cannot remove it"), and ``apply`` then
    reloads, the old worker finishing those requests (a container that just turned unhealthy under load, say)."""
    before, after = haproxy.servers_of(old), haproxy.servers_of(new)
    checks = {line.split()[1] for line in new.splitlines() if line.startswith("backend ")}
    commands: list[str] = []
    for (backend, server), (address, port, _weight) in sorted(before.items()):
        if (backend, server) not in after or after[(backend, server)][:2] != (address, port):
            ref = f"{backend}/{server}"
            commands += [f"set server {ref} state maint", f"del server {ref}"]
    for (backend, server), (address, port, weight) in sorted(after.items()):
        ref = f"{backend}/{server}"
        old_entry = before.get((backend, server))
        if old_entry is None or old_entry[:2] != (address, port):
            where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            check = f" check inter {haproxy.CHECK_INTER_MS} fall 2 rise 2" if backend in checks else ""
            commands += [f"add server {ref} {where} weight {weight}{check}"]
            if check:
                commands.append(f"enable health {ref}")
            commands.append(f"enable server {ref}")
        elif old_entry[2] != weight:
            commands.append(f"set server {ref} weight {weight}")
    return commands


def apply(endpoint: host.Endpoint, container_id: str, unit: Unit, *, fresh: bool) -> Applied:
    """Bring the running router to the unit's configuration: nothing when it runs with it already, the Runtime API
    when only servers differ, else a checked seamless reload (its certificate files written first)."""
    if fresh:
        return Applied(created=True)
    config = unit.config
    old = current_config(endpoint, container_id)
    if old == config:
        return Applied()
    if old and haproxy.structure(old) == haproxy.structure(config):
        commands = server_commands(old, config)
        answer = runtime(endpoint, container_id, commands)
        if any(word in answer for word in REFUSALS):
            log.warning("router runtime change was refused (%s); reloading instead", answer.strip()[:300])
        else:
            _write(endpoint, container_id, config)
            return Applied(commands=len(commands))
    _save_state(endpoint, container_id)
    _put_certificates(endpoint, container_id, unit.files)
    staged = haproxy.CONFIG_PATH + ".new"
    inside.put_files(endpoint, container_id, staged.rpartition("/")[0], {staged.rpartition("/")[2]: config.encode()})
    code, output = inside.run(endpoint, container_id, ["haproxy", "-c", "-q", "-f", staged])
    if code != 0:
        raise RouterFailed(f"the router refused the new configuration: {output.strip()[:300]}")
    code, output = inside.run(
        endpoint, container_id, ["sh", "-c", f"mv {staged} {haproxy.CONFIG_PATH} && kill -USR2 1"]
    )
    if code != 0:
        raise RouterFailed(f"the router did not reload: {output.strip()[:300]}")
    _drop_certificates(endpoint, container_id, unit.files)  # the new configuration names none of the others
    return Applied(reloaded=True)


def _save_state(endpoint: host.Endpoint, container_id: str) -> None:
    """Keep the servers' health and admin state across a reload (``load-server-state-from-file``)."""
    ask = f'printf "show servers state\\n" | socat -t 5 stdio "UNIX-CONNECT:{haproxy.ADMIN_SOCKET}"'
    script = f"{ask} > {haproxy.STATE_FILE}"
    inside.run(endpoint, container_id, ["sh", "-c", script])


def wait_listening(endpoint: host.Endpoint, container_id: str, timeout: float = 10.0) -> bool:
    """Whether the router's master answers on its admin socket within ``timeout`` seconds (a router just made)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "Name: HAProxy" in runtime(endpoint, container_id, ["show info"]):
                return True
        except host.HostError:
            pass
        time.sleep(0.2)
    return False


def request_log(endpoint: host.Endpoint, container_id: str, since: float) -> str:
    """What the router wrote to its standard output since ``since`` (a UNIX time): its logged requests."""
    return host.container_output(endpoint, container_id, since)


def stats(endpoint: host.Endpoint, container_id: str) -> list[dict[str, str]]:
    """The router's ``show stat`` table: one row per frontend, backend and server."""
    text = runtime(endpoint, container_id, ["show stat"])
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    header = lines[0][2:].split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
