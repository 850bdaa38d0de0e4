"""The finishing steps Compose applies to a merged model before printing it.

* bare environment entries (``- DEBUG``) take their value from the loader's environment, or stay null;
* ``links``, ``network_mode: service:X`` and ``volumes_from`` add the implicit ``depends_on`` entries
  Compose adds (the first two with ``restart: true``), never changing an explicit one;
* a service with neither ``networks`` nor ``network_mode`` joins the ``default`` network;
* ``command`` and ``entrypoint`` are always printed (null when unset);
* ``scale`` fills in ``deploy.replicas`` when the service has a ``deploy`` section without replicas;
* only the networks and volumes some service uses are printed, each with its final name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ports import PUBLISHED_AS_NUMBER
from .resources import canonical_resource


def _service_part(reference: str) -> str:
    """``db`` of ``db:alias`` (links) or ``db:ro`` (volumes_from)."""
    return reference.split(":", 1)[0]


def add_implicit_dependencies(service: dict[str, Any]) -> None:
    """Add the depends_on entries implied by links, network_mode and volumes_from."""
    implied: list[tuple[str, bool]] = [(_service_part(link), True) for link in service.get("links", [])]
    mode = service.get("network_mode", "")
    if mode.startswith("service:"):
        implied.append((mode.removeprefix("service:"), True))
    for source in service.get("volumes_from", []):
        if not source.startswith("container:"):
            implied.append((_service_part(source), False))
    if not implied:
        return
    depends = service.setdefault("depends_on", {})
    for name, restart in implied:
        if name not in depends:
            entry: dict[str, Any] = {"condition": "service_started"}
            if restart:
                entry["restart"] = True
            entry["required"] = True
            depends[name] = entry


def resolve_environment(service: dict[str, Any], env: Mapping[str, str]) -> None:
    """Give bare environment entries their value from ``env`` (they stay null when it has none)."""
    environment = service.get("environment")
    if not environment:
        return
    for key, value in environment.items():
        if value is None and key in env:
            environment[key] = env[key]


def named_volume_sources(service: dict[str, Any]) -> list[str]:
    """Names of the top-level volumes a service mounts."""
    return [
        mount["source"] for mount in service.get("volumes", []) if mount.get("type") == "volume" and mount.get("source")
    ]


KEPT_WHEN_EMPTY = frozenset(
    {"command", "entrypoint", "init", "scale", "logging", "healthcheck", "deploy", "stop_grace_period", "networks"}
)
"""Service keys Compose prints even when false, zero or empty (the others it leaves out)."""
BYTE_SIZES = frozenset({"mem_limit", "mem_reservation", "memswap_limit", "shm_size"})


def _is_empty(value: Any) -> bool:
    """False, zero, an empty string, list or mapping: what Compose does not print."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float, str, list, dict)):
        return not value
    return False


def omit_empty(service: dict[str, Any]) -> None:
    """Drop the keys Compose does not print when they are false, zero or empty."""
    for key in list(service):
        value = service[key]
        if key in KEPT_WHEN_EMPTY:
            continue
        if _is_empty(value) or (key in BYTE_SIZES and value == "0"):
            del service[key]
    deploy = service.get("deploy")
    if deploy is not None:
        for key in ("labels", "endpoint_mode", "mode"):
            if _is_empty(deploy.get(key, None)) and key in deploy:
                del deploy[key]
        placement = deploy.get("placement", {})
        for key in ("constraints", "preferences"):
            if key in placement and not placement[key]:
                del placement[key]
    healthcheck = service.get("healthcheck")
    if healthcheck is not None and healthcheck.get("disable") is False:
        del healthcheck["disable"]


def finish(
    services: dict[str, dict[str, Any]],
    networks: dict[str, dict[str, Any]],
    volumes: dict[str, dict[str, Any]],
    extensions: dict[str, Any],
    *,
    project: str,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The model as ``docker compose config --format json`` prints it."""
    used_networks: list[str] = []
    used_volumes: list[str] = []
    for service in services.values():
        for port in service.get("ports", []):
            port.pop(PUBLISHED_AS_NUMBER, None)
        resolve_environment(service, env)
        omit_empty(service)
        add_implicit_dependencies(service)
        if "scale" in service and "deploy" in service:
            service["deploy"].setdefault("replicas", service["scale"])
        service.setdefault("command", None)
        service.setdefault("entrypoint", None)
        if "network_mode" not in service and not service.get("networks"):
            service["networks"] = {"default": None}
        for name in service.get("networks", {}):
            if name not in used_networks:
                used_networks.append(name)
        for name in named_volume_sources(service):
            if name not in used_volumes:
                used_volumes.append(name)
    model: dict[str, Any] = {"name": project}
    printed_networks = {
        name: canonical_resource(name, networks.get(name, {}), project, network=True)
        for name in sorted(used_networks)
        if name in networks or name == "default"
    }
    if printed_networks:
        model["networks"] = printed_networks
    model["services"] = dict(sorted(services.items()))
    printed_volumes = {
        name: canonical_resource(name, volumes[name], project, network=False)
        for name in sorted(used_volumes)
        if name in volumes
    }
    if printed_volumes:
        model["volumes"] = printed_volumes
    model.update(extensions)
    return model
