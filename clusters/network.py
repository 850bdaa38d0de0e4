"""The cluster network: one address space across a cluster's nodes, so containers on different nodes reach each
other by name.

Docker's own multi-host networking does it: the nodes of a cluster (in its network mode ``overlay``, the default)
form a Swarm, and each application network is an attachable overlay that plain containers join on any node; the
engines' embedded DNS resolves container names and network aliases across nodes. Berth keeps the Swarm invisible:

* ``converge`` (run by the health check when a node's membership is not what it should be, and before a deploy)
  initialises the swarm on the first ready node, joins every other ready node with the worker token, and keeps an
  odd number of managers (up to 3) among the ready nodes; a manager left without quorum makes a swarm of itself
  again (``force_new_cluster``), keeping the networks; unreachable managers are demoted so that one more death
  never costs the quorum;
* ``leave`` takes a node that is removed out of the swarm (demoted first, another node promoted when it was the
  only manager);
* ``ensure_networks`` / ``remove_networks`` make and remove the overlays through a manager.

Swarm services and the routing mesh are never used. Engines answer through the node door (``clusters.swarm``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.utils.translation import gettext as _

from clusters import docker_host as host
from clusters import swarm
from clusters.models import Cluster, Node
from console import audit, celery, live

log = logging.getLogger(__name__)

MAX_MANAGERS = 3
LOCK_SECONDS = 120
CONVERGE_TASK = "clusters.converge_network"
RECHECK_SECONDS = 10
"""After a converge was asked for a cluster, the health check asks again no sooner than this."""


def uses_overlay(cluster: Cluster) -> bool:
    return cluster.network_mode == Cluster.NetworkMode.OVERLAY


def valid_name(name: str) -> bool:
    """Whether the swarm takes ``name`` for a network (a DNS name component: no ".", at most 63)."""
    return bool(swarm.NETWORK_NAME.match(name))


# --- pure decisions ---------------------------------------------------------------------------------------------


def manager_count(ready: int) -> int:
    """How many managers ``ready`` nodes keep: an odd number, at most 3 (1 → 1, 2 → 1, 3 → 3, 4+ → 3)."""
    if ready <= 0:
        return 0
    return min(MAX_MANAGERS, ready if ready % 2 else ready - 1)


def role_changes(managers: list[str], workers: list[str], wanted: int) -> tuple[list[str], list[str]]:
    """Which ready nodes to promote and which to demote so that ``wanted`` of them are managers: present managers
    stay managers first (fewest changes), workers are promoted in the order given, surplus managers demoted from
    the end."""
    if len(managers) > wanted:
        return [], managers[wanted:]
    return workers[: wanted - len(managers)], []


def check_pool(value: str, node_addresses: list[str]) -> str:
    """The canonical form of an address pool, or ValueError with the reason: a private IPv4 range from /8 to /24 (each
    network takes a /24) that holds none of the nodes' own addresses."""
    try:
        pool = ipaddress.IPv4Network(str(value).strip(), strict=False)
    except ValueError as exc:
        raise ValueError(_("%(v)s is not an IPv4 range such as 10.201.0.0/16.") % {"v": value}) from exc
    if not 8 <= pool.prefixlen <= swarm.SUBNET_SIZE:
        raise ValueError(_("The pool must be between /8 and /24 (each network takes a /24)."))
    if not pool.is_private or pool.is_loopback or pool.is_link_local:
        raise ValueError(_("The pool must be a private range (10/8, 172.16/12 or 192.168/16)."))
    for address in node_addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if ip in pool:
            raise ValueError(
                _("%(pool)s holds %(ip)s, an address of a node: choose a range the nodes do not use.")
                % {"pool": pool, "ip": ip}
            )
    return str(pool)


# --- where nodes are -------------------------------------------------------------------------------------------


def node_address(node: Node) -> str | None:
    """The address the node advertises to the others: its publish address (unless a loopback one, which no other
    node reaches: this machine's engine publishes on 127.0.0.1 by default), else the IP of its TCP endpoint, else
    (this machine's engine) BERTH_LOCAL_NODE_ADDRESS or the source address of this machine's default route; None
    lets the engine choose."""
    if node.publish_ip and not ipaddress.ip_address(node.publish_ip).is_loopback:
        return node.publish_ip
    parts = urlsplit(node.endpoint)
    if parts.scheme in ("tcp", "https", "http") and parts.hostname:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return None
        if not address.is_loopback:
            return str(address)
    if parts.scheme == "unix" or parts.hostname:
        return settings.BERTH_LOCAL_NODE_ADDRESS or this_machine_address()
    return None


def this_machine_address() -> str | None:
    """The source address of this machine's default route (a UDP socket's connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))
            return probe.getsockname()[0]
        except OSError:
            return None


def node_addresses(cluster: Cluster) -> list[str]:
    """The addresses the cluster's live nodes are known by (endpoints, publish and swarm addresses)."""
    found = []
    for node in Node.objects.filter(cluster=cluster).live():
        found += [a for a in (node.publish_ip, urlsplit(node.endpoint).hostname) if a]
        found.append(((node.info or {}).get("swarm") or {}).get("address") or "")
        if urlsplit(node.endpoint).scheme == "unix":
            found.append(this_machine_address() or "")
    return [a for a in found if a]


# --- the lock and the nudge -------------------------------------------------------------------------------------


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)


def _key(cluster_id: int, what: str) -> str:
    return f"berth:{settings.BERTH_INSTANCE}:network:{what}:{cluster_id}"


@contextmanager
def _locked(cluster_id: int) -> Iterator[None]:
    """One membership change of a cluster at a time, across workers."""
    lock = _redis().lock(_key(cluster_id, "lock"), timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
    if not lock.acquire():
        raise host.HostError(_("another change of the cluster network takes too long; try again"))
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass


def out_of_shape(cluster: Cluster, nodes: list[Node]) -> bool:
    """Whether the nodes' memberships, as the health check read them, differ from what ``converge`` makes (engines
    in a swarm Berth did not make are left out: converge leaves them alone)."""
    if not uses_overlay(cluster):
        return False
    ready = [n for n in nodes if n.state == Node.State.READY]
    seen = [(n.info or {}).get("swarm") or {} for n in ready]
    seen = [s for s in seen if not (s.get("swarm_id") and s.get("swarm_id") != cluster.swarm_id)]
    if any(s.get("state") != "active" for s in seen):
        return True
    managers = sum(1 for s in seen if s.get("manager"))
    if managers != manager_count(len(seen)):
        return True
    return any(((n.info or {}).get("swarm") or {}).get("manager") for n in nodes if n.state == Node.State.UNREACHABLE)


def nudge(cluster_id: int) -> bool:
    """Ask for a converge of the cluster's network (at most once per RECHECK_SECONDS); whether one was sent."""
    if not _redis().set(_key(cluster_id, "asked"), "1", nx=True, ex=RECHECK_SECONDS):
        return False
    celery.app.send_task(CONVERGE_TASK, args=[cluster_id])  # by name: the task module sits above this one
    return True


# --- converge ---------------------------------------------------------------------------------------------------


@dataclass
class _Member:
    node: Node
    endpoint: host.Endpoint
    seen: swarm.Membership
    token: str = ""


def _read(nodes: list[Node]) -> tuple[list[_Member], dict[int, str]]:
    members, errors = [], {}
    for node in nodes:
        endpoint = host.Endpoint.of(node, timeout=15)
        try:
            members.append(_Member(node, endpoint, swarm.membership(endpoint)))
        except host.HostError as exc:
            errors[node.pk] = str(exc)
    return members, errors


def _record(action: str, node: Node, **parameters: Any) -> None:
    audit.record(
        action,
        tenant=node.cluster.tenant,
        resource=node.resource_name,
        target=node.name,
        cluster_id=node.cluster_id,
        parameters=parameters,
        source="system",
    )


def _refresh(node: Node, seen: swarm.Membership) -> None:
    """Keep the node's row (and the cluster page) up to date with what its engine just said."""
    info = {**(node.info or {}), "swarm": seen.as_dict()}
    Node.objects.filter(pk=node.pk).update(info=info)
    node.info = info
    live.publish("cluster", node.cluster_id, node.as_live())


def converge(cluster: Cluster) -> dict[str, Any]:
    """Bring the ready nodes of the cluster into one swarm with the right managers (idempotent); return what
    changed and, per node, what failed."""
    if not uses_overlay(cluster):
        return {}
    with _locked(cluster.pk):
        return _converge(cluster)


def _converge(cluster: Cluster) -> dict[str, Any]:
    nodes = list(Node.objects.filter(cluster=cluster, state=Node.State.READY).select_related("cluster__tenant"))
    changes: dict[str, Any] = {"joined": [], "promoted": [], "demoted": [], "errors": {}}
    if not nodes:
        return changes
    members, errors = _read(nodes)
    changes["errors"].update({str(k): v for k, v in errors.items()})
    if not members:
        return changes
    manager = _find_manager(cluster, members, changes)
    if manager is None:
        return changes
    swarm_id, token = manager.seen.swarm_id, manager.token
    addresses = list(manager.seen.managers) or [f"{manager.seen.address}:{swarm.SWARM_PORT}"]
    for member in members:
        if member is manager:
            continue
        if _foreign(cluster, member.seen):
            continue
        if member.seen.state == "active":
            continue
        try:
            if member.seen.state != "inactive":
                swarm.leave(member.endpoint)
            swarm.join(member.endpoint, addresses, token, node_address(member.node))
            member.seen = swarm.membership(member.endpoint)
            _refresh(member.node, member.seen)
            _record("cs:JoinClusterNetwork", member.node, address=member.seen.address)
            changes["joined"].append(member.node.name)
        except host.HostError as exc:
            changes["errors"][str(member.node.pk)] = str(exc)
    joined = [m for m in members if m.seen.state == "active" and m.seen.swarm_id in ("", swarm_id)]
    _set_roles(cluster, manager, joined, changes)
    return changes


def _ours(cluster: Cluster, seen: swarm.Membership) -> bool:
    """Whether the engine is in the swarm Berth made for the cluster: a manager by the swarm's ID, a worker (whose
    engine does not say the ID) by its managers being nodes of the cluster."""
    if seen.state == "inactive":
        return False
    if seen.swarm_id:
        return seen.swarm_id == cluster.swarm_id
    hosts = {address.rsplit(":", 1)[0] for address in seen.managers}
    return bool(cluster.swarm_id) and bool(hosts & set(node_addresses(cluster)))


def _foreign(cluster: Cluster, seen: swarm.Membership) -> bool:
    """An engine in a swarm Berth did not make for the cluster: never joined, promoted, made to leave or removed."""
    return seen.state == "active" and not _ours(cluster, seen)


FOREIGN = _(
    "the engine is in a swarm Berth did not make; Berth leaves it alone: run 'docker swarm leave' on the node, or "
    "use a cluster in bridge mode"
)


def _remember(cluster: Cluster, swarm_id: str) -> None:
    Cluster.objects.filter(pk=cluster.pk).update(swarm_id=swarm_id)
    cluster.swarm_id = swarm_id


def _find_manager(cluster: Cluster, members: list[_Member], changes: dict[str, Any]) -> _Member | None:
    """A manager of the cluster's swarm that answers for it (its join token in hand), made when there is none: a
    manager that lost the others' quorum recovers (force_new_cluster); when no node is in the cluster's swarm, or only
    workers of it whose managers are all gone, the first node that is in no other swarm initialises a new one."""
    for member in members:
        if _foreign(cluster, member.seen):
            changes["errors"][str(member.node.pk)] = FOREIGN
    managers = [m for m in members if m.seen.state == "active" and m.seen.manager and _ours(cluster, m.seen)]
    for member in managers:
        try:
            member.token = swarm.join_token(member.endpoint)
            return member
        except host.HostError as exc:
            changes["errors"][str(member.node.pk)] = str(exc)
    for member in managers:  # none answers for the swarm: the quorum is lost
        try:
            swarm.recover(member.endpoint, node_address(member.node))
            member.token = swarm.join_token(member.endpoint)
            member.seen = swarm.membership(member.endpoint)
            _remember(cluster, member.seen.swarm_id)
            _refresh(member.node, member.seen)
            _record("cs:RecoverClusterNetwork", member.node, address=member.seen.address)
            changes["errors"].pop(str(member.node.pk), None)
            return member
        except host.HostError as exc:
            changes["errors"][str(member.node.pk)] = str(exc)
    if managers:
        return None
    free = []
    for member in members:
        if _foreign(cluster, member.seen):
            continue
        # Workers of the cluster's swarm whose managers are all gone cannot take it over: they leave (their
        # containers keep running; the overlays are made again by the next deploy) and a new swarm is made.
        if member.seen.state != "inactive":
            try:
                swarm.leave(member.endpoint)
                member.seen = swarm.membership(member.endpoint)
            except host.HostError as exc:
                changes["errors"][str(member.node.pk)] = str(exc)
                continue
        free.append(member)
    if not free:
        return None
    first = free[0]
    try:
        swarm.initialise(first.endpoint, node_address(first.node), first.node.cluster.network_pool)
        first.token = swarm.join_token(first.endpoint)
        first.seen = swarm.membership(first.endpoint)
        _remember(cluster, first.seen.swarm_id)
        _refresh(first.node, first.seen)
        _record("cs:JoinClusterNetwork", first.node, address=first.seen.address, first=True)
        changes["joined"].append(first.node.name)
        return first
    except host.HostError as exc:
        changes["errors"][str(first.node.pk)] = str(exc)
        return None


def _set_roles(cluster: Cluster, manager: _Member, ready: list[_Member], changes: dict[str, Any]) -> None:
    """Odd managers among the ready nodes; the cluster's unreachable managers demoted."""
    try:
        listed = {m["id"]: m for m in swarm.members(manager.endpoint)}
    except host.HostError as exc:
        changes["errors"][str(manager.node.pk)] = str(exc)
        return
    ours = [m for m in ready if m.seen.node_id in listed]
    managers = [m.seen.node_id for m in ours if listed[m.seen.node_id]["role"] == "manager"]
    workers = [m.seen.node_id for m in ours if listed[m.seen.node_id]["role"] != "manager"]
    if manager.seen.node_id in managers:  # the manager we talk through is demoted last
        managers.remove(manager.seen.node_id)
        managers.insert(0, manager.seen.node_id)
    away = Node.objects.filter(cluster=cluster, state=Node.State.UNREACHABLE)
    for node in away:
        node_id = ((node.info or {}).get("swarm") or {}).get("node_id")
        if node_id in listed and listed[node_id]["role"] == "manager":
            try:
                swarm.set_role(manager.endpoint, node_id, "worker")
                changes["demoted"].append(node.name)
            except host.HostError as exc:
                changes["errors"][str(node.pk)] = str(exc)
    promote, demote = role_changes(managers, workers, manager_count(len(ours)))
    if demote and _raft_has_unreachable(manager):
        # Demoting a reachable manager while an unreachable one is still in the raft could leave the rest without
        # a quorum (3 members, 1 down, 1 demoted: 1 of 2). The next converge demotes once the raft let it go.
        demote = []
    by_id = {m.seen.node_id: m for m in ours}
    moves = [*((i, "manager", "promoted") for i in promote), *((i, "worker", "demoted") for i in demote)]
    for node_id, role, key in moves:
        try:
            swarm.set_role(manager.endpoint, node_id, role)
            changes[key].append(by_id[node_id].node.name)
        except host.HostError as exc:
            changes["errors"][str(by_id[node_id].node.pk)] = str(exc)
    for member in ours:
        if member.seen.node_id in promote or member.seen.node_id in demote:
            _wait_role(member, member.seen.node_id in promote)


def _raft_has_unreachable(manager: _Member) -> bool:
    try:
        return any(m["reachability"] == "unreachable" for m in swarm.members(manager.endpoint))
    except host.HostError:
        return True


def _wait_role(member: _Member, manager: bool, seconds: float = 10.0) -> None:
    """Until the engine says it is (or is no longer) a manager, and keep its row up to date."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            member.seen = swarm.membership(member.endpoint)
        except host.HostError:
            return
        if member.seen.manager == manager or time.monotonic() > deadline:
            _refresh(member.node, member.seen)
            return
        time.sleep(0.2)


# --- a node leaves ---------------------------------------------------------------------------------------------


def leave(node: Node) -> None:
    """Take a node that leaves its cluster out of the swarm: demoted through another manager (one promoted first
    when it was the only one), its engine leaves (when it answers), and the swarm forgets it. Failures are logged,
    never raised: a node whose engine is gone is removed all the same."""
    cluster = node.cluster
    if not uses_overlay(cluster):
        return
    with _locked(cluster.pk):
        node_id = ((node.info or {}).get("swarm") or {}).get("node_id") or ""
        others, _errors = _read(list(Node.objects.filter(cluster=cluster, state=Node.State.READY).exclude(pk=node.pk)))
        others = [m for m in others if m.seen.state == "active" and _ours(cluster, m.seen)]
        manager = next((m for m in others if m.seen.manager), None)
        try:
            mine = swarm.membership(host.Endpoint.of(node, timeout=15))
            if _foreign(cluster, mine):
                node_id = ""
                raise host.HostError(FOREIGN)
            node_id = mine.node_id or node_id
            if mine.manager and others and manager is None:
                # the only manager: another node takes over before this one goes
                swarm.set_role(host.Endpoint.of(node, timeout=15), others[0].seen.node_id, "manager")
                _wait_role(others[0], True)
                manager = others[0]
            if manager is not None and node_id:
                swarm.set_role(manager.endpoint, node_id, "worker")
            swarm.leave(host.Endpoint.of(node, timeout=15))
        except host.HostError as exc:
            log.info("network: node %s did not leave by itself: %s", node.pk, exc)
        if manager is not None and node_id:
            try:
                _until_down(manager, node_id)
                swarm.remove_member(manager.endpoint, node_id)
            except host.HostError as exc:
                log.warning("network: the swarm keeps node %s: %s", node.pk, exc)
        info = {**(node.info or {}), "swarm": swarm.Membership(state="inactive").as_dict()}
        Node.objects.filter(pk=node.pk).update(info=info)
        node.info = info
        _record("cs:LeaveClusterNetwork", node)


def _until_down(manager: _Member, node_id: str, seconds: float = 10.0) -> None:
    """A node that left shows as down in the managers' list a moment later; only then may it be removed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listed = {m["id"]: m for m in swarm.members(manager.endpoint)}
        if node_id not in listed or listed[node_id]["state"] == "down":
            return
        time.sleep(0.3)


# --- networks ---------------------------------------------------------------------------------------------------


def _manager(cluster: Cluster) -> host.Endpoint:
    """An answering manager of the cluster's swarm, after a converge when the ready nodes are not all in it. When the
    memberships the health check stored say every ready node is in, one manager is asked (a drain asks for each
    container it moves), not every node."""
    nodes = list(Node.objects.filter(cluster=cluster, state=Node.State.READY).select_related("cluster__tenant"))
    stored = [swarm.Membership.of((n.info or {}).get("swarm") or {}) for n in nodes]
    if nodes and all(seen.state == "active" for seen in stored):
        for node, seen in zip(nodes, stored, strict=True):
            if not (seen.manager and seen.swarm_id and seen.swarm_id == cluster.swarm_id):
                continue
            endpoint = host.Endpoint.of(node, timeout=15)
            try:
                if swarm.membership(endpoint).manager:
                    return endpoint
            except host.HostError:
                continue
    members, _errors = _read(nodes)
    if members and all(m.seen.state == "active" and _ours(cluster, m.seen) for m in members):
        found = next((m for m in members if m.seen.manager), None)
        if found is not None:
            return found.endpoint
    changes = converge(cluster)
    members, _errors = _read(nodes)
    found = next((m for m in members if m.seen.state == "active" and m.seen.manager and _ours(cluster, m.seen)), None)
    if found is None:
        reasons = "; ".join(changes.get("errors", {}).values()) if changes else ""
        raise host.HostError(_("the cluster network has no manager that answers") + (f": {reasons}" if reasons else ""))
    return found.endpoint


def ensure_networks(cluster: Cluster, wanted: dict[str, dict[str, str]]) -> dict[str, str]:
    """Make the overlays ``wanted`` (name → labels) through a manager unless they exist, with every ready node in
    the swarm first; return each one's address range."""
    if not wanted:
        return {}
    endpoint = _manager(cluster)
    return {name: swarm.ensure_overlay(endpoint, name, labels)["subnet"] for name, labels in sorted(wanted.items())}


def remove_networks(cluster: Cluster, labels: dict[str, str], patience: float = 20.0) -> list[str]:
    """Remove the overlays carrying ``labels`` through a manager; return their names. The swarm lets go of a network
    a moment after its last container (a node that just left holds it longer): one still in use is tried again for
    ``patience`` seconds, then ``host.NetworkInUse``."""
    nodes = list(Node.objects.filter(cluster=cluster, state=Node.State.READY))
    members, _errors = _read(nodes)
    manager = next((m for m in members if m.seen.manager and _ours(cluster, m.seen)), None)
    if manager is None:
        return []
    removed = []
    for found in swarm.overlays(manager.endpoint, labels):
        deadline = time.monotonic() + patience
        while True:
            try:
                if swarm.remove_overlay(manager.endpoint, found["name"]):
                    removed.append(found["name"])
                break
            except host.HostError as exc:
                if not any(words in str(exc) for words in ("active endpoints", "in use by task")):
                    raise
                if time.monotonic() > deadline:
                    raise host.NetworkInUse(str(exc)) from exc
                time.sleep(1)
    return removed
