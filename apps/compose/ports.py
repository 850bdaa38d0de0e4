"""Service ports, expose and devices: short and long syntax to Compose's canonical form, with range checks.

Short syntax: ``[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`` where PUBLISHED and TARGET may be ranges
(``8000-8001:80-81``; the two ranges must have the same length, or PUBLISHED is a range and TARGET a single
port). An IPv6 host address is written in brackets (``[::1]:80:80``). Each target port becomes one entry
``{mode: ingress, host_ip?, target, published?, protocol}`` with ``published`` as a string, as Compose prints it.
"""

from __future__ import annotations

import re
from typing import Any

from .fields import INVALID, string, type_name
from .model import Problems, join_path

PROTOCOLS = ("tcp", "udp", "sctp")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
PUBLISHED_AS_NUMBER = "__published_as_number"
_PORT_KEYS = ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol")
PORT_ENTRY_BYTES = 64
"""What one more entry of a port range adds to the document (``"1-65535"`` is 65535 entries: counted, see
Problems.spend)."""


def port_range(text: str, what: str, path: str, problems: Problems) -> tuple[int, int] | None:
    """``80`` or ``8000-8010`` as (first, last), each 1-65535; None (problem recorded) otherwise."""
    match = _RANGE.match(text)
    if not match:
        problems.add(path, f"{what} port {text!r} is not a port number or range (1-65535)")
        return None
    first = int(match.group(1))
    last = int(match.group(2) or first)
    for port in (first, last):
        if not 1 <= port <= 65535:
            problems.add(path, f"{what} port {port} is out of range (1-65535)")
            return None
    if last < first:
        problems.add(path, f"{what} port range {text} ends before it starts")
        return None
    return first, last


def _split_short(spec: str) -> tuple[str | None, str | None, str] | None:
    """(host_ip, published, target) of a short port spec without protocol, or None if malformed."""
    if spec.startswith("["):
        close = spec.find("]")
        if close < 0 or spec[close + 1 : close + 2] != ":":
            return None
        host_ip = spec[1:close]
        rest = spec[close + 2 :].split(":")
        if len(rest) != 2:
            return None
        return host_ip, rest[0] or None, rest[1]
    parts = spec.split(":")
    if len(parts) == 1:
        return None, None, parts[0]
    if len(parts) == 2:
        return None, parts[0] or None, parts[1]
    if len(parts) == 3:
        return parts[0] or None, parts[1] or None, parts[2]
    return None


def short_port(spec: str, path: str, problems: Problems) -> list[dict[str, Any]]:
    """The canonical entries of one short-syntax port."""
    body, _, protocol = spec.strip().partition("/")
    protocol = protocol or "tcp"
    if protocol not in PROTOCOLS:
        problems.add(path, f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        return []
    parts = _split_short(body)
    if parts is None:
        problems.add(path, f"{spec!r} is not a port: expected [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]")
        return []
    host_ip, published, target = parts
    targets = port_range(target, "container", path, problems)
    hosts = port_range(published, "published", path, problems) if published is not None else None
    if targets is None or (published is not None and hosts is None):
        return []
    target_count = targets[1] - targets[0]
    if not problems.spend(path, target_count * PORT_ENTRY_BYTES):
        return []
    entries = []
    for offset in range(target_count + 1):
        entry: dict[str, Any] = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = targets[0] + offset
        if hosts is not None:
            if target_count == 0:
                entry["published"] = published
            elif hosts[1] - hosts[0] == target_count:
                entry["published"] = str(hosts[0] + offset)
            else:
                problems.add(
                    path,
                    f"published range {published} and container range {target} must have the same number of ports",
                )
                return []
        entry["protocol"] = protocol
        entries.append(entry)
    return entries


def long_port(spec: dict[str, Any], path: str, problems: Problems) -> list[dict[str, Any]]:
    """The canonical entry of one long-syntax port ``{target, published, host_ip, protocol, mode}``."""
    for key in spec:
        if key not in _PORT_KEYS:
            problems.add(join_path(path, key), f"unknown key (allowed here: {', '.join(_PORT_KEYS)})")
    if spec.get("target") is None:
        problems.add(path, "target is required")
        return []
    entry: dict[str, Any] = {}
    if spec.get("name") is not None:
        entry["name"] = string(spec["name"], join_path(path, "name"), problems)
    mode = spec.get("mode", "ingress")
    if mode not in ("ingress", "host"):
        problems.add(join_path(path, "mode"), f"must be ingress or host, not {mode!r}")
    entry["mode"] = mode
    if spec.get("host_ip") is not None:
        entry["host_ip"] = string(spec["host_ip"], join_path(path, "host_ip"), problems)
    target = port_range(str(spec["target"]), "container", join_path(path, "target"), problems)
    if target is not None and target[0] != target[1]:
        problems.add(join_path(path, "target"), "must be a single port in the long syntax")
    entry["target"] = target[0] if target else 0
    if spec.get("published") is not None:
        published = str(spec["published"]) if not isinstance(spec["published"], bool) else "?"
        if port_range(published, "published", join_path(path, "published"), problems) is not None:
            entry["published"] = published
            if isinstance(spec["published"], int):
                entry[PUBLISHED_AS_NUMBER] = True
    protocol = spec.get("protocol", "tcp")
    if protocol not in PROTOCOLS:
        problems.add(join_path(path, "protocol"), f"must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    entry["protocol"] = protocol
    if spec.get("app_protocol") is not None:
        entry["app_protocol"] = string(spec["app_protocol"], join_path(path, "app_protocol"), problems)
    return [entry]


def port_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two ports the same for Compose (the later one replaces the earlier).

    Compose compares ports by ``host_ip:published:target/protocol`` before it converts ``published`` to a
    string, so a long-syntax ``published: 8080`` (a number) never matches ``"8080:80"``; PUBLISHED_AS_NUMBER
    keeps that distinction until the model is finished (project.py removes the marker).
    """
    published = entry.get("published")
    if entry.get(PUBLISHED_AS_NUMBER):
        published = ("number", published)
    return (entry.get("host_ip") or "0.0.0.0", published, entry["target"], entry["protocol"])


def replace_duplicates(entries: list[Any], key: Any) -> list[Any]:
    """Entries with one per key: a later entry replaces an earlier one in the earlier one's place."""
    result: list[Any] = []
    positions: dict[Any, int] = {}
    for entry in entries:
        identity = key(entry)
        if identity in positions:
            result[positions[identity]] = entry
        else:
            positions[identity] = len(result)
            result.append(entry)
    return result


def ports(value: Any, path: str, problems: Problems) -> Any:
    """A service's ports, canonical (one entry per container port)."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list of ports, not {type_name(value)}")
        return INVALID
    entries: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        item_path = join_path(path, index)
        if isinstance(item, bool) or item is None:
            problems.add(item_path, f"must be a port number, a string or a mapping, not {type_name(item)}")
        elif isinstance(item, (int, str)):
            entries.extend(short_port(str(item), item_path, problems))
        elif isinstance(item, dict):
            entries.extend(long_port(item, item_path, problems))
        else:
            problems.add(item_path, f"must be a port number, a string or a mapping, not {type_name(item)}")
    return replace_duplicates(entries, port_key)


def expose(value: Any, path: str, problems: Problems) -> Any:
    """Exposed ports (``80``, ``"8000-8002"``, ``"53/udp"``) as strings, without repeats."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list of ports, not {type_name(value)}")
        return INVALID
    result: list[str] = []
    for index, item in enumerate(value):
        item_path = join_path(path, index)
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            problems.add(item_path, f"must be a port or port range, not {type_name(item)}")
            continue
        text = str(item)
        body, _, protocol = text.partition("/")
        if protocol and protocol not in PROTOCOLS:
            problems.add(item_path, f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
            continue
        if port_range(body, "exposed", item_path, problems) is not None and text not in result:
            result.append(text)
    return result


def devices(value: Any, path: str, problems: Problems) -> Any:
    """Devices ``/dev/x[:/dev/y[:rwm]]`` as ``{source, target, permissions}``, one per target."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list of device mappings, not {type_name(value)}")
        return INVALID
    result: list[dict[str, str]] = []
    for index, item in enumerate(value):
        item_path = join_path(path, index)
        if isinstance(item, dict):
            source, target, permissions = item.get("source"), item.get("target"), item.get("permissions", "rwm")
        elif isinstance(item, str):
            parts = item.split(":")
            if len(parts) > 3:
                problems.add(item_path, f"{item!r} is not a device: expected SOURCE[:TARGET[:PERMISSIONS]]")
                continue
            source = parts[0]
            target = parts[1] if len(parts) > 1 else source
            permissions = parts[2] if len(parts) > 2 else "rwm"
        else:
            problems.add(item_path, f"must be a device string or mapping, not {type_name(item)}")
            continue
        if not isinstance(source, str) or not source.startswith("/"):
            problems.add(item_path, "the device source must be an absolute path")
            continue
        if not isinstance(target, str) or not target.startswith("/"):
            problems.add(item_path, "the device target must be an absolute path")
            continue
        if not isinstance(permissions, str) or not permissions or set(permissions) - set("rwm"):
            problems.add(item_path, "the device permissions must be made of r, w and m")
            continue
        result.append({"source": source, "target": target, "permissions": permissions})
    return replace_duplicates(result, lambda entry: entry["target"])
