"""The cluster security policy: what a sub-account may not deploy unless the primary account allows it.

Pure: a normalized Compose model and a policy in, the list of refusals out (each names the service
and the key). The primary account is not limited; it relaxes the policy per cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
DEFAULTS: dict[str, Any] = {
    "allow_privileged": False,
    "allow_host_namespaces": False,
    "allow_devices": False,
    "allow_docker_socket": False,
    "bind_allow": [],
}


def effective(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy with defaults for what it does not say."""
    return {**DEFAULTS, **(policy or {})}


def _under(path: str, prefixes: list[str]) -> bool:
    clean = "/" + path.strip("/")
    return any(clean == p.rstrip("/") or clean.startswith(p.rstrip("/") + "/") for p in prefixes if p.startswith("/"))


def refusals(model: Mapping[str, Any], policy: Mapping[str, Any] | None) -> list[str]:
    """Every forbidden key of every service, as "services.NAME.KEY: why" lines (empty when allowed)."""
    rules = effective(policy)
    found: list[str] = []
    for name, service in (model.get("services") or {}).items():
        where = f"services.{name}"
        if service.get("privileged") and not rules["allow_privileged"]:
            found.append(f"{where}.privileged: privileged containers are not allowed on this cluster")
        for key in ("network_mode", "pid", "ipc", "userns_mode", "uts"):
            if service.get(key) == "host" and not rules["allow_host_namespaces"]:
                found.append(f"{where}.{key}: the host's {key.replace('_mode', '')} namespace is not allowed")
        if service.get("devices") and not rules["allow_devices"]:
            found.append(f"{where}.devices: host devices are not allowed on this cluster")
        for cap in service.get("cap_add") or []:
            if cap in ("ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_MODULE", "SYS_PTRACE") and not rules["allow_privileged"]:
                found.append(f"{where}.cap_add: capability {cap} is not allowed on this cluster")
        for index, volume in enumerate(service.get("volumes") or []):
            if volume.get("type") != "bind":
                continue
            source = str(volume.get("source", ""))
            if source.rstrip("/") in DOCKER_SOCKETS or source.endswith("docker.sock"):
                if not rules["allow_docker_socket"]:
                    found.append(
                        f"{where}.volumes[{index}]: the Docker socket gives the container the host; "
                        "it is not allowed on this cluster"
                    )
                continue
            if not _under(source, list(rules["bind_allow"])):
                allowed = ", ".join(rules["bind_allow"]) or "none"
                found.append(
                    f"{where}.volumes[{index}]: bind mount of {source} is outside the allowed host paths ({allowed})"
                )
    return found
