"""Checks across a merged model: names safe for Berth, references that resolve, no dependency cycles.

Names: a service name becomes part of container names (``<app>_<service>_<index>``) and label values, so it
must match SERVICE_NAME; the project name must match PROJECT_NAME; network and volume keys and names must be
valid Docker object names. References: depends_on, links, volumes_from, ``network_mode: service:X`` and
``aliyun.depends`` must name services of the model; a service's networks and named volumes must be declared
at top level (``default`` excepted). Dependencies (explicit and implied) must not form a cycle.
"""

from __future__ import annotations

import re
from typing import Any

from .model import Problems, join_path

SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$")
ENV_KEY = re.compile(r"^[^=\x00-\x1f]+$")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)
NAME_RULE = '1 to 63 lowercase letters, digits, "_" or "-", starting with a letter or digit'


def shown(name: str) -> str:
    """A user-supplied name made safe to print in a path (control characters escaped)."""
    return name.encode("unicode_escape").decode("ascii") if CONTROL.search(name) else name


def check_project_name(project: str, problems: Problems) -> None:
    """The project (application) name is part of every container, network and volume name."""
    if not PROJECT_NAME.match(project):
        problems.add(
            "(project)",
            f'project name "{shown(project)}" is not allowed: use lowercase letters, digits, '
            '"_" or "-", starting with a letter or digit',
        )


def _check_names(service_name: str, service: dict[str, Any], path: str, problems: Problems) -> None:
    """Image, labels, environment and container name of one service."""
    image = service.get("image")
    if not image:
        problems.add(
            join_path(path, "image"),
            f'service "{service_name}" has no image; every service needs one (Berth never builds)',
        )
    elif len(image) > 255 or not IMAGE.match(image):
        problems.add(join_path(path, "image"), f'"{shown(image)}" is not a valid image reference (e.g. nginx:1.25)')
    for key, value in service.get("labels", {}).items():
        if not LABEL_KEY.match(key):
            problems.add(
                join_path(path, "labels"),
                f'label key "{shown(key)}" is not allowed: use letters, digits, ".", "_", "/" and "-"',
            )
        elif CONTROL.search(value):
            problems.add(join_path(join_path(path, "labels"), key), "label values must not contain control characters")
    for key, value in service.get("environment", {}).items():
        if not ENV_KEY.match(key):
            problems.add(join_path(path, "environment"), f'environment variable name "{shown(key)}" is not allowed')
        elif value is not None and "\x00" in value:
            problems.add(join_path(join_path(path, "environment"), key), "values must not contain NUL characters")
    scale, replicas = service.get("scale"), service.get("deploy", {}).get("replicas")
    if scale is not None and replicas is not None and scale != replicas:
        problems.add(
            join_path(path, "scale"), f"scale ({scale}) and deploy.replicas ({replicas}) disagree; set only one of them"
        )
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    for key, limit in (("cpus", "cpus"), ("mem_limit", "memory")):
        if key in service and limit in limits and service[key] != limits[limit]:
            problems.add(
                join_path(path, key),
                f"{key} ({service[key]}) and deploy.resources.limits.{limit} "
                f"({limits[limit]}) disagree; set only one of them",
            )
    container_name = service.get("container_name")
    if container_name is not None:
        if not DOCKER_NAME.match(container_name):
            problems.add(join_path(path, "container_name"), f'"{shown(container_name)}" is not a valid container name')
        replicas = max(service.get("scale", 1), service.get("deploy", {}).get("replicas", 1))
        if replicas > 1:
            problems.add(
                join_path(path, "container_name"),
                f"a container name must be unique: it cannot be set on a service with {replicas} replicas",
            )


def check_references(
    services: dict[str, dict[str, Any]],
    networks: dict[str, Any],
    volumes: dict[str, Any],
    problems: Problems,
) -> None:
    """Every service name, and every reference from a service to a service, network or volume."""
    for key, kind in ((networks, "network"), (volumes, "volume")):
        for name, entry in key.items():
            explicit = entry.get("name")
            if not DOCKER_NAME.match(name):
                problems.add(
                    f"{kind}s.{shown(name)}",
                    f'{kind} name "{shown(name)}" is not allowed: use letters, '
                    'digits, "_", "." or "-", starting with a letter or digit',
                )
            elif explicit is not None and not DOCKER_NAME.match(explicit):
                problems.add(f"{kind}s.{name}.name", f'"{shown(explicit)}" is not a valid {kind} name')
    for name, service in services.items():
        path = f"services.{shown(name)}"
        if not SERVICE_NAME.match(name):
            problems.add(path, f'service name "{shown(name)}" is not allowed: use {NAME_RULE}')
        _check_names(name, service, path, problems)
        for target in service.get("depends_on", {}):
            if target not in services:
                problems.add(join_path(path, "depends_on"), f'depends on undefined service "{shown(target)}"')
        for index, link in enumerate(service.get("links", [])):
            if link.split(":", 1)[0] not in services:
                problems.add(join_path(join_path(path, "links"), index), f'links to undefined service "{shown(link)}"')
        for index, source in enumerate(service.get("volumes_from", [])):
            target = source.split(":", 1)[0]
            if not source.startswith("container:") and target not in services:
                problems.add(
                    join_path(join_path(path, "volumes_from"), index),
                    f'takes volumes from undefined service "{shown(target)}"',
                )
        mode = service.get("network_mode", "")
        if mode.startswith("service:") and mode.removeprefix("service:") not in services:
            problems.add(join_path(path, "network_mode"), f'uses the network of undefined service "{mode[8:]}"')
        if mode and service.get("networks"):
            problems.add(join_path(path, "networks"), "network_mode and networks cannot both be set")
        for network in service.get("networks", {}):
            if network != "default" and network not in networks:
                problems.add(
                    join_path(path, "networks"),
                    f'network "{shown(network)}" is not declared under the top-level networks',
                )
        for index, mount in enumerate(service.get("volumes", [])):
            source = mount.get("source")
            if mount["type"] == "volume" and source and source not in volumes:
                problems.add(
                    join_path(join_path(path, "volumes"), index),
                    f'named volume "{shown(source)}" is not declared under the top-level volumes',
                )


def check_cycles(graph: dict[str, list[str]], problems: Problems) -> None:
    """Refuse dependency cycles, naming each one (``web → api → web``) at the first service's depends_on."""
    state: dict[str, int] = {}
    stack: list[str] = []
    reported: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        """Depth-first walk; a target still on the stack closes a cycle."""
        state[node] = 1
        stack.append(node)
        for target in graph.get(node, []):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    problems.add(
                        f"services.{cycle[0]}.depends_on", f"dependency cycle: {' → '.join([*cycle, cycle[0]])}"
                    )
            elif state.get(target) is None:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in graph:
        if state.get(node) is None:
            visit(node)
