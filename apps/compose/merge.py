"""Combining service definitions: later files override earlier ones, and ``extends`` within one file.

The rules are Compose's (``docker compose -f a.yml -f b.yml``), applied to canonical services:
mappings merge key by key; ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced; environment,
labels and sysctls merge by key; ports are appended and a port published twice keeps one entry; volumes and
devices are merged by container path; lists such as dns or cap_add are appended without repeats; logging
options merge only when both files use the same driver (or one names none).
"""

from __future__ import annotations

from typing import Any

from .fields import unique
from .model import Problems, join_path
from .ports import port_key, replace_duplicates
from .service import LIST_MERGE_UNIQUE

REPLACED = frozenset({"command", "entrypoint"})
KEYED_MAPPINGS = frozenset({"environment", "labels", "sysctls", "ulimits"})


def deep_merge(base: Any, override: Any) -> Any:
    """Generic Compose merge: mappings merge recursively, lists are appended, anything else is replaced."""
    if override is None:
        return base
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def _merge_logging(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Logging options merge only when both name the same driver, or one names none."""
    if "driver" in base and "driver" in override and base["driver"] != override["driver"]:
        return override
    merged = {**base, **override}
    if "options" in base and "options" in override:
        merged["options"] = {**base["options"], **override["options"]}
    return merged


def _merge_deploy(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """deploy merges recursively; its labels merge by key."""
    merged = deep_merge(
        {k: v for k, v in base.items() if k != "labels"}, {k: v for k, v in override.items() if k != "labels"}
    )
    if "labels" in base or "labels" in override:
        merged["labels"] = {**base.get("labels", {}), **override.get("labels", {})}
    return merged


def _merge_networks(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Service networks: a null attachment keeps the earlier options; options merge (aliases once each)."""
    merged = dict(base)
    for name, entry in override.items():
        if entry is None:
            merged.setdefault(name, None)
        elif isinstance(merged.get(name), dict):
            merged[name] = deep_merge(merged[name], entry)
            if "aliases" in merged[name]:
                merged[name]["aliases"] = unique(merged[name]["aliases"])
        else:
            merged[name] = entry
    return merged


def merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` applied on top of ``base`` (both canonical services)."""
    merged = dict(base)
    for key, value in override.items():
        if key not in merged or key in REPLACED:
            merged[key] = value
            continue
        old = merged[key]
        if key in KEYED_MAPPINGS or key == "healthcheck":
            merged[key] = {**old, **value}
        elif key == "ports":
            merged[key] = replace_duplicates(old + value, port_key)
        elif key in ("volumes", "devices"):
            merged[key] = replace_duplicates(old + value, lambda entry: entry["target"])
        elif key == "depends_on":
            merged[key] = {name: {**old.get(name, {}), **entry} for name, entry in {**old, **value}.items()}
        elif key == "networks":
            merged[key] = _merge_networks(old, value)
        elif key == "logging":
            merged[key] = _merge_logging(old, value)
        elif key == "deploy":
            merged[key] = _merge_deploy(old, value)
        elif key in LIST_MERGE_UNIQUE:
            items = unique(old + value)
            merged[key] = sorted(items, key=lambda e: e.partition("=")[0]) if key == "extra_hosts" else items
        else:
            merged[key] = deep_merge(old, value)
    return merged


def data_size(value: Any) -> int:
    """About how many bytes ``value`` takes as JSON (what an ``extends`` copies into another service)."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(data_size(key) + data_size(item) + 2 for key, item in value.items())
    if isinstance(value, list):
        return 2 + sum(data_size(item) + 1 for item in value)
    return 8


def extends_target(raw: Any, path: str, problems: Problems) -> str | None:
    """The service named by ``extends`` (string form, or ``{service: NAME}``); ``file`` is refused."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        if "file" in raw:
            problems.add(
                join_path(path, "file"),
                "extends.file is not supported by Berth: extend a service of the same file",
            )
        unknown = [key for key in raw if key not in ("service", "file")]
        for key in unknown:
            problems.add(join_path(path, key), "unknown key (allowed here: service)")
        if isinstance(raw.get("service"), str):
            return raw["service"]
        problems.add(path, "extends needs the name of a service: extends: {service: NAME}")
        return None
    problems.add(path, "must be a service name or {service: NAME}")
    return None


def resolve_extends(
    raw_services: dict[str, Any], services: dict[str, dict[str, Any]], problems: Problems, prefix: str = "services"
) -> dict[str, dict[str, Any]]:
    """Services of one file with ``extends`` applied (the base's settings, overridden by the service's own)."""
    targets: dict[str, str] = {}
    for name, raw in raw_services.items():
        if isinstance(raw, dict) and raw.get("extends") is not None:
            target = extends_target(raw["extends"], join_path(join_path(prefix, name), "extends"), problems)
            if target is not None:
                targets[name] = target
    resolved: dict[str, dict[str, Any]] = {}
    sizes: dict[str, int] = {}  # about how large each resolved service is: an extends copies its base

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        """The service with its base (itself resolved first) merged under it; ``chain`` detects cycles."""
        if name in resolved:
            return resolved[name]
        own = services.get(name, {})
        sizes[name] = data_size(own)
        target = targets.get(name)
        if target is None:
            resolved[name] = own
            return own
        path = join_path(join_path(prefix, name), "extends")
        if target in chain or target == name:
            cycle = " → ".join((*chain, name, target)[(*chain, name, target).index(target) :])
            problems.add(path, f"circular extends: {cycle}")
            problems.silence(join_path(join_path(prefix, name), "image"))
            resolved[name] = own
            return own
        if target not in services:
            problems.add(path, f'extends unknown service "{target}" (services of this file: {", ".join(services)})')
            problems.silence(join_path(join_path(prefix, name), "image"))
            resolved[name] = own
            return own
        base = resolve(target, (*chain, name))
        if not problems.spend(path, sizes[target]):  # many services extending a large one: a bomb
            problems.silence(join_path(join_path(prefix, name), "image"))
            resolved[name] = own
            return own
        sizes[name] += sizes[target]
        resolved[name] = merge_service(base, own)
        return resolved[name]

    for name in services:
        resolve(name, ())
    return resolved
