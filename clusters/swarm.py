"""The Swarm part of the node door: membership calls and the cluster-wide (overlay) networks on one engine.

Berth uses Swarm mode for one thing only: attachable overlay networks that plain containers (created by Berth,
never Swarm services) join on any node, with the engine's embedded DNS resolving names across nodes. What each
call means for a cluster (who initialises, who joins, how many managers) is decided in ``clusters.network``;
this module only talks to one engine, through the door's client (``docker_host.client``), and turns the engine's
answers into plain data and its failures into ``HostError``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from clusters.docker_host import Endpoint, HostError, _call, client, managed, swarm_summary

SWARM_PORT = 2377
SUBNET_SIZE = 24


@dataclass(frozen=True)
class Membership:
    """What one engine says of its Swarm membership (``docker info``)."""

    state: str  # inactive, pending, active, error, locked
    node_id: str = ""
    address: str = ""  # the address it advertises to the others
    manager: bool = False  # a manager that answers for the swarm (ControlAvailable)
    swarm_id: str = ""
    managers: tuple[str, ...] = ()  # addresses of the managers it knows (host:port)
    error: str = ""

    @classmethod
    def of(cls, summary: dict[str, Any]) -> Membership:
        """From ``docker_host.swarm_summary`` (also kept in a node's ``info["swarm"]`` by the health check)."""
        return cls(
            state=summary.get("state") or "inactive",
            node_id=summary.get("node_id") or "",
            address=summary.get("address") or "",
            manager=bool(summary.get("manager")),
            swarm_id=summary.get("swarm_id") or "",
            managers=tuple(summary.get("managers") or ()),
            error=summary.get("error") or "",
        )

    def as_dict(self) -> dict[str, Any]:
        """The form ``of`` reads (a node's ``info["swarm"]``)."""
        return {
            "state": self.state,
            "node_id": self.node_id,
            "address": self.address,
            "manager": self.manager,
            "swarm_id": self.swarm_id,
            "managers": list(self.managers),
            "error": self.error,
        }


def membership(endpoint: Endpoint) -> Membership:
    """The engine's Swarm membership as it says it now."""
    return Membership.of(swarm_summary(_call(endpoint, client(endpoint).info)))


def initialise(endpoint: Endpoint, advertise: str | None, pool: str) -> None:
    """Make the engine the first manager of a new swarm whose overlay networks take /24s of ``pool``."""
    _call(
        endpoint,
        client(endpoint).api.init_swarm,
        advertise_addr=advertise,
        listen_addr=f"0.0.0.0:{SWARM_PORT}",
        default_addr_pool=[pool],
        subnet_size=SUBNET_SIZE,
    )
    _until_led(endpoint)


def recover(endpoint: Endpoint, advertise: str | None) -> None:
    """A manager that lost the others' quorum makes a swarm of itself again, keeping the swarm's networks."""
    _call(
        endpoint,
        client(endpoint).api.init_swarm,
        advertise_addr=advertise,
        listen_addr=f"0.0.0.0:{SWARM_PORT}",
        force_new_cluster=True,
    )
    _until_led(endpoint)


def _until_led(endpoint: Endpoint, seconds: float = 15.0) -> None:
    """A swarm just made answers for itself once its manager is the leader (until then: "does not have a leader",
    seen right after an engine left another swarm)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _call(endpoint, client(endpoint).api.inspect_swarm)
            return
        except HostError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def join_token(endpoint: Endpoint) -> str:
    """The worker join token, read from a manager."""
    return _call(endpoint, client(endpoint).api.inspect_swarm)["JoinTokens"]["Worker"]


def join(endpoint: Endpoint, managers: list[str], token: str, advertise: str | None) -> None:
    """Join the swarm of ``managers`` (host:port) as a worker."""
    _call(
        endpoint,
        client(endpoint).api.join_swarm,
        remote_addrs=managers,
        join_token=token,
        listen_addr=f"0.0.0.0:{SWARM_PORT}",
        advertise_addr=advertise,
    )


def leave(endpoint: Endpoint) -> None:
    """Leave the swarm (forced: a manager leaves too); an engine already out of every swarm is fine."""
    try:
        _call(endpoint, client(endpoint).api.leave_swarm, force=True)
    except HostError as exc:
        if "not part of a swarm" not in str(exc).lower():
            raise


def members(endpoint: Endpoint) -> list[dict[str, Any]]:
    """The swarm's nodes as a manager lists them: id, role, state (ready/down), address, manager reachability."""
    found = []
    for item in _call(endpoint, client(endpoint).api.nodes):
        status = item.get("Status") or {}
        found.append(
            {
                "id": item.get("ID", ""),
                "role": (item.get("Spec") or {}).get("Role", "worker"),
                "state": status.get("State", ""),
                "address": status.get("Addr", ""),
                "reachability": (item.get("ManagerStatus") or {}).get("Reachability", ""),
                "leader": bool((item.get("ManagerStatus") or {}).get("Leader")),
            }
        )
    return found


def set_role(endpoint: Endpoint, node_id: str, role: str) -> None:
    """Promote (``manager``) or demote (``worker``) a node, through a manager."""
    api = client(endpoint).api
    current = _call(endpoint, api.inspect_node, node_id)
    spec = dict(current.get("Spec") or {})
    if spec.get("Role") == role:
        return
    spec["Role"] = role
    _call(endpoint, api.update_node, node_id, current["Version"]["Index"], spec)


def remove_member(endpoint: Endpoint, node_id: str) -> None:
    """Take a node out of the swarm's list, through a manager (one already gone is fine)."""
    try:
        _call(endpoint, client(endpoint).api.remove_node, node_id, force=True)
    except HostError as exc:
        if "not found" not in str(exc).lower():
            raise


NETWORK_NAME = re.compile(r"^(?=.{1,63}$)[a-zA-Z0-9]([-_]*[a-zA-Z0-9]+)*$")
"""What a swarm accepts as a network's name: a DNS name component (letters, digits, "-" and "_" inside)."""


def ensure_overlay(endpoint: Endpoint, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """Create the attachable overlay network ``name`` through a manager unless it exists; return its id and
    address range. A network of that name that is not an overlay is an error (it is not Berth's)."""
    api = client(endpoint).api
    for found in _call(endpoint, api.networks, names=[name]):
        if found.get("Name") == name:
            ours = found.get("Driver") == "overlay" and all(
                (found.get("Labels") or {}).get(k) == v for k, v in managed().items()
            )
            if not ours:  # Docker's own (ingress, host…) or someone else's: never adopted
                raise HostError(f'a network named "{name}" that Berth did not make exists on the nodes')
            return {"id": found["Id"], "subnet": _subnet(found)}
    created = _call(endpoint, api.create_network, name, driver="overlay", attachable=True, labels=labels)
    return {"id": created["Id"], "subnet": _subnet(_call(endpoint, api.inspect_network, created["Id"]))}


def _subnet(network: dict[str, Any]) -> str:
    configs = (network.get("IPAM") or {}).get("Config") or []
    return next((c.get("Subnet", "") for c in configs if c.get("Subnet")), "")


def overlays(endpoint: Endpoint, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The swarm's overlay networks carrying ``labels`` (name, id, address range), as a manager lists them."""
    api = client(endpoint).api
    wanted = {"driver": "overlay", "label": [f"{k}={v}" for k, v in labels.items()]}
    listed = _call(endpoint, api.networks, filters=wanted)
    return [{"name": n["Name"], "id": n["Id"], "subnet": _subnet(n)} for n in listed]


def remove_overlay(endpoint: Endpoint, name: str) -> bool:
    """Remove the swarm's overlay network ``name`` through a manager; False when there is none."""
    api = client(endpoint).api
    removed = False
    for found in _call(endpoint, api.networks, names=[name]):
        if found.get("Name") == name and found.get("Driver") == "overlay":
            try:
                _call(endpoint, api.remove_network, found["Id"])
                removed = True
            except HostError as exc:
                if "not found" not in str(exc).lower():
                    raise
    return removed
