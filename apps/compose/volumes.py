"""Service volumes: short (``SOURCE:TARGET[:OPTIONS]``) and long syntax to Compose's canonical mounts.

A short source starting with ``/`` or ``.`` is a bind mount (relative paths are resolved against the
loader's working directory, not the process's), any other source names a volume declared at top level,
and no source is an anonymous volume. Options: ``ro``/``rw``, ``z``/``Z`` (SELinux), ``nocopy`` and the
bind propagations. Short bind mounts get ``bind.create_host_path: true`` and short volumes ``volume: {}``,
as Compose prints them. Berth refuses ``~`` paths (a swarm node has no user's home) and Windows paths.
"""

from __future__ import annotations

import posixpath
from typing import Any

from .fields import INVALID, boolean, byte_size, count, string, type_name
from .model import Problems, join_path
from .ports import replace_duplicates

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
CONSISTENCIES = ("consistent", "cached", "delegated")
MOUNT_TYPES = ("volume", "bind", "tmpfs")
_LONG_KEYS = ("type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs")


def clean_path(path: str) -> str:
    """A path cleaned as Go's ``path.Clean`` does (``/etc/x/`` is ``/etc/x``, ``a/../b`` is ``b``)."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def host_path(source: str, workdir: str, path: str, problems: Problems) -> str | None:
    """The absolute host path of a bind source; relative paths are taken from ``workdir``."""
    if source.startswith("~"):
        problems.add(path, f"{source!r}: home-directory paths (~) are not supported by Berth; use an absolute path")
        return None
    if source.startswith("/"):
        return clean_path(source)
    return clean_path(posixpath.join(workdir, source))


def _target(target: Any, path: str, problems: Problems) -> str | None:
    """A mount target: an absolute path inside the container."""
    if not isinstance(target, str) or not target.startswith("/"):
        problems.add(path, f"the mount target must be an absolute path inside the container, not {target!r}")
        return None
    return clean_path(target)


def short_volume(spec: str, path: str, problems: Problems, workdir: str) -> dict[str, Any] | None:
    """The canonical mount of one short-syntax volume."""
    parts = spec.split(":")
    if len(parts) > 1 and len(parts[0]) == 1 and parts[0].isalpha() and parts[1][:1] in ("/", "\\"):
        problems.add(path, f"{spec!r}: Windows paths are not supported by Berth")
        return None
    if len(parts) > 3 or not all(parts[:2]):
        problems.add(path, f"{spec!r} is not a volume: expected [SOURCE:]TARGET[:OPTIONS]")
        return None
    source = parts[0] if len(parts) > 1 else None
    target = _target(parts[1] if len(parts) > 1 else parts[0], path, problems)
    options = parts[2].split(",") if len(parts) == 3 else []
    if target is None:
        return None
    is_bind = source is not None and source.startswith(("/", ".", "~"))
    mount: dict[str, Any] = {"type": "bind" if is_bind else "volume"}
    if is_bind:
        resolved = host_path(source, workdir, path, problems)
        if resolved is None:
            return None
        mount["source"] = resolved
    elif source is not None:
        mount["source"] = source
    mount["target"] = target
    extra: dict[str, Any] = {}
    for option in options:
        if option == "ro":
            mount["read_only"] = True
        elif option == "rw":
            pass
        elif option in ("z", "Z") and is_bind:
            extra["selinux"] = option
        elif option in PROPAGATIONS and is_bind:
            extra["propagation"] = option
        elif option == "nocopy" and not is_bind:
            extra["nocopy"] = True
        elif option in CONSISTENCIES:
            mount["consistency"] = option
        else:
            problems.add(path, f"unknown volume option {option!r} for a {mount['type']} mount")
            return None
    if is_bind:
        mount["bind"] = {**extra, "create_host_path": True}
    else:
        mount["volume"] = extra
    return mount


def _sub_mapping(value: Any, path: str, problems: Problems, checkers: dict[str, Any]) -> dict[str, Any] | None:
    """The ``bind``/``volume``/``tmpfs`` options of a long-syntax mount."""
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, not {type_name(value)}")
        return None
    result = {}
    for key, item in value.items():
        if key not in checkers:
            problems.add(join_path(path, key), f"unknown key (allowed here: {', '.join(checkers)})")
            continue
        checked = checkers[key](item, join_path(path, key), problems)
        if checked is not INVALID:
            result[key] = checked
    return result


def _choice(choices: tuple[str, ...]) -> Any:
    """A checker of one of ``choices``."""

    def check(value: Any, path: str, problems: Problems) -> Any:
        if value not in choices:
            problems.add(path, f"must be one of {', '.join(choices)}, not {value!r}")
            return INVALID
        return value

    return check


_BIND_KEYS = {"propagation": _choice(PROPAGATIONS), "create_host_path": boolean, "selinux": _choice(("z", "Z"))}
_VOLUME_KEYS = {"nocopy": boolean, "subpath": string}
_TMPFS_KEYS = {"size": byte_size, "mode": count}


def long_volume(spec: dict[str, Any], path: str, problems: Problems, workdir: str) -> dict[str, Any] | None:
    """The canonical mount of one long-syntax volume ``{type, source, target, read_only, ...}``."""
    for key in spec:
        if key not in _LONG_KEYS:
            problems.add(join_path(path, key), f"unknown key (allowed here: {', '.join(_LONG_KEYS)})")
    kind = spec.get("type")
    if kind not in MOUNT_TYPES:
        problems.add(join_path(path, "type"), f"must be one of {', '.join(MOUNT_TYPES)}, not {kind!r}")
        return None
    target = _target(spec.get("target"), join_path(path, "target"), problems)
    if target is None:
        return None
    mount: dict[str, Any] = {"type": kind}
    source = spec.get("source")
    if kind == "bind":
        if not isinstance(source, str) or not source:
            problems.add(join_path(path, "source"), "a bind mount needs a source path")
            return None
        resolved = host_path(source, workdir, join_path(path, "source"), problems)
        if resolved is None:
            return None
        mount["source"] = resolved
    elif kind == "tmpfs" and source is not None:
        problems.add(join_path(path, "source"), "a tmpfs mount has no source")
        return None
    elif source is not None:
        mount["source"] = string(source, join_path(path, "source"), problems)
    mount["target"] = target
    if spec.get("read_only") is not None:
        read_only = boolean(spec["read_only"], join_path(path, "read_only"), problems)
        if read_only:
            mount["read_only"] = True
    if spec.get("consistency") is not None:
        mount["consistency"] = _choice(CONSISTENCIES)(spec["consistency"], join_path(path, "consistency"), problems)
    for key, checkers in (("bind", _BIND_KEYS), ("volume", _VOLUME_KEYS), ("tmpfs", _TMPFS_KEYS)):
        if spec.get(key) is None:
            continue
        if key != kind:
            problems.add(join_path(path, key), f"{key} options only apply to a mount of type {key}")
            continue
        options = _sub_mapping(spec[key], join_path(path, key), problems, checkers)
        if options is not None:
            mount[key] = {name: option for name, option in options.items() if option is not False}
    return mount


def volumes(value: Any, path: str, problems: Problems, workdir: str) -> Any:
    """A service's mounts, canonical, one per target (a later mount replaces an earlier one)."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list of volumes, not {type_name(value)}")
        return INVALID
    mounts = []
    for index, item in enumerate(value):
        item_path = join_path(path, index)
        if isinstance(item, str):
            mount = short_volume(item, item_path, problems, workdir)
        elif isinstance(item, dict):
            mount = long_volume(item, item_path, problems, workdir)
        else:
            problems.add(item_path, f"must be a string or a mapping, not {type_name(item)}")
            mount = None
        if mount is not None:
            mounts.append(mount)
    return replace_duplicates(mounts, lambda mount: mount["target"])
