"""``load()`` and ``variables()``: from Compose file texts to the canonical model Berth deploys.

Each file is read (yaml_safe), turned from V1 into the services layout if it is a V1 file, interpolated,
checked and canonicalised key by key (service.py, resources.py), and its ``extends`` are resolved within
it; then the files are merged in order (merge.py), references and names are checked (validate.py), Alibaba
labels and hints are parsed (aliyun.py), Compose's finishing steps are applied (project.py) and dependency
cycles are refused. Every problem found on the way is reported together in one ComposeError; what is accepted
but deserves a word (a variable read as empty, an Alibaba label Berth does not know) is a warning, returned
beside the model by ``load_with_warnings()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import aliyun, claims
from .fields import type_name
from .interpolate import collect_variables, interpolate_tree
from .merge import deep_merge, merge_service, resolve_extends
from .model import ComposeError, Problem, Problems, Variable, join_path
from .project import finish
from .resources import NETWORK_FIELDS, VOLUME_FIELDS, check_resources, merge_resource
from .service import check_service
from .validate import check_cycles, check_project_name, check_references
from .yaml_safe import read_yaml, unshared_copy

DEFAULT_WORKDIR = "/berth/project"
"""Where relative bind mounts are resolved from (the loader never looks at the real working directory)."""

VERSIONS = frozenset({"2", "2.0", "2.1", "2.2", "2.3", "2.4", "3", *(f"3.{minor}" for minor in range(10))})
TOO_DEEP = "the file nests too deeply to be read"
TOP_LEVEL_KEYS = frozenset({"version", "name", "services", "networks", "volumes"})
TOP_LEVEL_UNSUPPORTED = {
    "secrets": "Berth does not manage swarm secrets yet",
    "configs": "Berth does not manage swarm configs yet",
    "include": "Berth loads only the files it is given; merge them with several files instead",
    "models": "AI models are not available on Berth clusters",
}


@dataclass(frozen=True)
class Loaded:
    """What ``load_with_warnings`` gives: the canonical model and the warnings (``path: message`` problems)."""

    model: dict[str, Any]
    warnings: list[Problem]


@dataclass
class Layer:
    """One file, checked and canonicalised, with its extends resolved."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def as_file_list(files: Sequence[str | bytes] | str | bytes) -> list[str | bytes]:
    """One file's text (str or bytes) or a sequence of them, as a list."""
    if isinstance(files, (str, bytes, bytearray)):
        return [files]
    return list(files)


def is_v1(data: dict[str, Any]) -> bool:
    """A V1 file: no version, no services, and top-level keys that are service names."""
    if "version" in data or "services" in data:
        return False
    known = TOP_LEVEL_KEYS | set(TOP_LEVEL_UNSUPPORTED)
    return any(key not in known and not key.startswith("x-") for key in data)


def from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A V1 file in the services layout (V1's ``net`` is today's ``network_mode``)."""
    services = {}
    for name, service in data.items():
        if name.startswith("x-"):
            continue
        if isinstance(service, dict) and "net" in service:
            service = {("network_mode" if key == "net" else key): value for key, value in service.items()}
        services[name] = service
    return {"services": services, **{key: value for key, value in data.items() if key.startswith("x-")}}


def _check_top_level(data: dict[str, Any], where: str, problems: Problems) -> None:
    """Top-level keys and the version."""
    for key in data:
        if key in TOP_LEVEL_UNSUPPORTED:
            problems.add(key, f'"{key}" is not supported by Berth: {TOP_LEVEL_UNSUPPORTED[key]}')
        elif key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
            problems.add(
                key,
                f'unknown top-level key "{key}" (allowed: version, name, services, networks, '
                "volumes and x-* extensions)",
            )
    if "version" in data:
        version = data["version"]
        if not isinstance(version, str):
            problems.add("version", f'must be a string such as "3.8" (quote it), not {type_name(version)}')
        elif version not in VERSIONS:
            problems.add("version", f"unsupported version {version!r}: use 2.0 to 2.4, 3.0 to 3.9, or no version")
    if "name" in data and not isinstance(data["name"], str):
        problems.add("name", f"must be a string, not {type_name(data['name'])}")


def read_layer(
    content: str | bytes, where: str, env: Mapping[str, str], strict: bool, workdir: str, problems: Problems
) -> Layer | None:
    """One file as a Layer; None (with problems recorded) when it is not a YAML mapping."""
    data, yaml_problems = read_yaml(content, where)
    for problem in yaml_problems:
        problems.add(problem.path, problem.message)
    if yaml_problems:
        return None
    if not isinstance(data, dict):
        problems.add(
            f"({where.strip() or 'file'})",
            f"the top level must be a mapping (services, networks, volumes...), not {type_name(data)}",
        )
        return None
    if is_v1(data):
        data = from_v1(data)
    data = interpolate_tree(data, env, strict=strict, problems=problems)
    _check_top_level(data, where, problems)
    raw_services = data.get("services") or {}
    if not isinstance(raw_services, dict):
        problems.add("services", f"must be a mapping of service names to services, not {type_name(raw_services)}")
        raw_services = {}
    layer = Layer()
    canonical = {}
    for name, raw in raw_services.items():
        service = check_service(name, raw, join_path("services", name), problems, workdir)
        if service is not None:
            canonical[name] = service
    layer.services = resolve_extends(raw_services, canonical, problems)
    layer.networks = check_resources(data.get("networks"), "networks", problems, NETWORK_FIELDS)
    layer.volumes = check_resources(data.get("volumes"), "volumes", problems, VOLUME_FIELDS)
    layer.extensions = {key: value for key, value in data.items() if key.startswith("x-")}
    return layer


def merge_layers(layers: list[Layer]) -> Layer:
    """Files merged in order, as ``docker compose -f first -f second`` does."""
    merged = Layer()
    for layer in layers:
        for name, service in layer.services.items():
            merged.services[name] = (
                merge_service(merged.services[name], service) if name in merged.services else service
            )
        for target, source in ((merged.networks, layer.networks), (merged.volumes, layer.volumes)):
            for name, entry in source.items():
                target[name] = merge_resource(target[name], entry) if name in target else entry
        merged.extensions = deep_merge(merged.extensions, layer.extensions)
    return merged


def load(
    files: Sequence[str | bytes] | str | bytes,
    *,
    env: Mapping[str, str] | None = None,
    project: str = "default",
    strict_variables: bool = False,
    workdir: str = DEFAULT_WORKDIR,
) -> dict[str, Any]:
    """Parse, interpolate, merge (later files override), resolve ``extends``, normalize and validate.

    ``files`` are the texts of Compose files (not paths). Returns the canonical model as plain JSON-able data,
    as ``docker compose -p PROJECT config --format json`` prints it for every field Berth supports (string
    values hold the real text: Compose's printer writes each ``$`` as ``$$``, this model does not).
    A ``$VAR`` with no value and no default reads as an empty string, as in Compose (a warning: see
    ``load_with_warnings``); ``strict_variables`` refuses it instead. Raises ComposeError listing every problem
    found; a text nested so deeply that reading it would exhaust Python's stack is a ComposeError too, never a
    RecursionError.
    """
    return load_with_warnings(files, env=env, project=project, strict_variables=strict_variables, workdir=workdir).model


def load_with_warnings(
    files: Sequence[str | bytes] | str | bytes,
    *,
    env: Mapping[str, str] | None = None,
    project: str = "default",
    strict_variables: bool = False,
    workdir: str = DEFAULT_WORKDIR,
) -> Loaded:
    """``load``, with the warnings: each unset variable read as empty (once, where first used) and each
    ``aliyun.*`` label Berth does not know, in the order found."""
    try:
        return _load(files, env, project, strict_variables, workdir)
    except RecursionError:
        raise ComposeError([Problem("(file)", TOO_DEEP)]) from None


def _load(
    files: Sequence[str | bytes] | str | bytes,
    env: Mapping[str, str] | None,
    project: str,
    strict_variables: bool,
    workdir: str,
) -> Loaded:
    """``load_with_warnings`` itself."""
    environment = dict(env or {})
    problems = Problems()
    check_project_name(project, problems)
    texts = as_file_list(files)
    if not texts:
        raise ComposeError([Problem("(file)", "no Compose file given")])
    layers = []
    for index, content in enumerate(texts):
        where = "" if len(texts) == 1 else f"file {index + 1} "
        layer = read_layer(content, where, environment, strict_variables, workdir, problems)
        if layer is None:
            raise ComposeError(problems.items)
        layers.append(layer)
    merged = merge_layers(layers)
    if not merged.services:
        problems.add("services", "no services are defined; an application needs at least one service")
    check_references(merged.services, merged.networks, merged.volumes, problems)
    graph: dict[str, list[str]] = {}
    names = set(merged.services)
    for name, service in merged.services.items():
        parsed = aliyun.parse_labels(service.get("labels", {}), name, names, problems)
        aliyun.parse_hints(service, name, problems)
        graph[name] = parsed.depends
    problems.raise_if_any()
    model = finish(
        merged.services, merged.networks, merged.volumes, merged.extensions, project=project, env=environment
    )
    for name, service in model["services"].items():
        graph[name] = [*service.get("depends_on", {}), *graph[name]]
        for why in claims.unexposed(service):
            problems.add(join_path(join_path("services", name), "labels"), why)
    check_cycles(graph, problems)
    problems.raise_if_any()
    return Loaded(unshared_copy(model), list(problems.warnings))


def variables(files: Sequence[str | bytes] | str | bytes) -> list[Variable]:
    """The ``${VAR}`` parameters the files use, in order of first appearance, without loading them fully."""
    try:
        return _variables(files)
    except RecursionError:
        raise ComposeError([Problem("(file)", TOO_DEEP)]) from None


def _variables(files: Sequence[str | bytes] | str | bytes) -> list[Variable]:
    """``variables`` itself."""
    found: dict[str, Variable] = {}
    problems = Problems()
    texts = as_file_list(files)
    for index, content in enumerate(texts):
        data, yaml_problems = read_yaml(content, "" if len(texts) == 1 else f"file {index + 1} ")
        for problem in yaml_problems:
            problems.add(problem.path, problem.message)
        collect_variables(data, found)
    problems.raise_if_any()
    return list(found.values())
