"""Top-level ``networks`` and ``volumes``: checked per file, merged, then named as Compose names them.

A network or volume is named ``<project>_<key>`` unless it sets ``name`` or is ``external`` (then its key
or ``external.name``). Compose prints only those used by a service, and always prints a network's ``ipam``.
"""

from __future__ import annotations

from typing import Any

from . import fields as f
from .fields import INVALID, mapping_of, type_name
from .model import Problems, join_path

_ipam_config = mapping_of({"subnet": f.string, "gateway": f.string, "ip_range": f.string, "aux_addresses": f.labels})


def _ipam_configs(value: Any, path: str, problems: Problems) -> Any:
    """ipam.config: a list of subnets."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list, not {type_name(value)}")
        return INVALID
    checked = [_ipam_config(item, join_path(path, index), problems) for index, item in enumerate(value)]
    return [item for item in checked if item is not INVALID]


def external(value: Any, path: str, problems: Problems) -> Any:
    """external: a boolean, or the deprecated ``{name: NAME}``."""
    if isinstance(value, dict):
        return mapping_of({"name": f.string})(value, path, problems)
    return f.boolean(value, path, problems)


NETWORK_FIELDS = {
    "name": f.string,
    "driver": f.string,
    "driver_opts": f.labels,
    "external": external,
    "internal": f.boolean,
    "attachable": f.boolean,
    "enable_ipv6": f.boolean,
    "labels": f.labels,
    "ipam": mapping_of({"driver": f.string, "config": _ipam_configs, "options": f.labels}),
}
VOLUME_FIELDS = {
    "name": f.string,
    "driver": f.string,
    "driver_opts": f.labels,
    "external": external,
    "labels": f.labels,
}


def check_resources(value: Any, path: str, problems: Problems, checkers: dict[str, f.Checker]) -> dict[str, Any]:
    """The top-level ``networks`` or ``volumes`` of one file, each entry checked (null is an empty entry)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, not {type_name(value)}")
        return {}
    result = {}
    checker = mapping_of(checkers)
    for key, entry in value.items():
        checked = checker(entry if entry is not None else {}, join_path(path, key), problems)
        if checked is not INVALID:
            result[key] = checked
    return result


def merge_resource(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """One network or volume declared in two files: mappings merge, the later file's values win."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def canonical_resource(key: str, entry: dict[str, Any], project: str, *, network: bool) -> dict[str, Any]:
    """A used network or volume as Compose prints it: named, ``external: true`` kept, ``ipam`` for networks."""
    result = {key: value for key, value in entry.items() if value not in (False, "", [], {})}
    ext = result.pop("external", None)
    name = result.pop("name", None)
    if isinstance(ext, dict):
        name = name or ext.get("name")
        ext = True
    if not name:
        name = key if ext else f"{project}_{key}"
    canonical: dict[str, Any] = {"name": name, **result}
    if network:
        canonical.setdefault("ipam", {})
    if ext:
        canonical["external"] = True
    return canonical
