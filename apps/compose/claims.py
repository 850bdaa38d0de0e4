"""What a service's ``aliyun.routing.*`` labels claim, as plain data: the one rule of their syntax (the Compose loader
refuses by it; the routing service records and routes by it).

``aliyun.routing.port_<container port>: entry[;entry...]``, each entry ``[http://|https://]<host>[/<path>]``:

* a host with a dot is a domain (``www.example.com``); one without is a prefix that becomes
  ``<prefix>.<root domain>`` (the cluster's root domain, or ``<cluster>.localhost`` when it has none, which
  browsers and curl resolve to this machine);
* the path (default ``/``) is a prefix of request paths: ``/api`` takes ``/api`` and ``/api/...``, not ``/apix``;
  under one domain the longest path that matches wins;
* ``https://`` serves the route over TLS too (a certificate of the tenant that covers the domain, by SNI); a
  redirect of its plain http requests to https is the route's own setting (``routing``), not the label's.

Every refusal names the label and says what is wrong, so that a template is fixed from the message alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL = re.compile(r"^aliyun\.routing\.port_(\d+)$")
LB_LABEL = re.compile(r"^aliyun\.lb\.port_(\d+)$")
_LB = re.compile(r"^(?P<protocol>tcp|http|https)://(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,62}):(?P<port>\d+)$")
STICKY_LABEL = "aliyun.routing.session_sticky"
_LABEL_PART = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PATH = re.compile(r"^/[A-Za-z0-9._~%!$&'()*+,=:@/-]*$")
_ENTRY = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>[^/]*)(?P<path>/.*)?$")
MAX_PATH = 200


@dataclass(frozen=True, order=True)
class Claim:
    """One domain and path that a service's container port answers for."""

    domain: str
    path: str  # "/" or a prefix without a trailing slash
    port: int  # the container port
    https: bool = False  # served over TLS too (the redirect of plain http is the route's setting)

    @property
    def address(self) -> str:
        """How a user writes it: ``http://web.local.localhost/api`` (the router's port is the caller's to add)."""
        return f"{'https' if self.https else 'http'}://{self.domain}{'' if self.path == '/' else self.path}"


def default_root(cluster_name: str) -> str:
    """The root domain of a cluster that has none: one under ``.localhost`` (resolves to this machine)."""
    return f"{cluster_name.lower().replace('_', '-')}.localhost"


def root_of(cluster_name: str, root_domain: str) -> str:
    """The domain bare prefixes go under: the cluster's root domain, else ``default_root``."""
    return root_domain or default_root(cluster_name)


def planned(services: dict[str, dict[str, object]], root: str) -> list[dict[str, object]]:
    """What a model's services claim, as a plan shows it: each route's address and each listener, by service."""
    found: list[dict[str, object]] = []
    for name, service in sorted(services.items()):
        labels = {str(k): str(v) for k, v in (service.get("labels") or {}).items()}  # type: ignore[union-attr]
        routes, _refused = claims_of(labels, root)
        found += [{"service": name, "address": c.address, "port": c.port} for c in routes]
        listeners, _refused = listeners_of(labels)
        found += [
            {"service": name, "address": f"{c.protocol}://{c.name}:{c.front_port}", "port": c.port} for c in listeners
        ]
    return found


def check_domain(domain: str) -> str | None:
    """Why ``domain`` is not a hostname Berth routes (None when it is)."""
    if len(domain) > 253:
        return f"{domain[:40]!r}... is longer than 253 characters"
    parts = domain.split(".")
    if any(not part for part in parts):
        return f"{domain!r} has an empty label (a leading, trailing or double dot)"
    for part in parts:
        if not _LABEL_PART.match(part):
            return (
                f"{domain!r} is not a hostname: {part!r} must be 1 to 63 lower-case letters, digits and hyphens, "
                "not starting or ending with a hyphen"
            )
    return None


def check_path(path: str) -> str | None:
    """Why ``path`` is not a path prefix Berth routes (None when it is)."""
    if len(path) > MAX_PATH:
        return f"the path {path[:40]!r}... is longer than {MAX_PATH} characters"
    if any(c.isspace() for c in path):
        return f"the path {path!r} has a space in it (write it as %20)"
    if not _PATH.match(path):
        return f"the path {path!r} may hold only letters, digits and . _ ~ % ! $ & ' ( ) * + , = : @ / -"
    if "//" in path or "/../" in path + "/" or "/./" in path + "/":
        return f"the path {path!r} has an empty, '.' or '..' segment"
    return None


def parse_entry(entry: str, port: int, root: str) -> tuple[Claim | None, str | None]:
    """One entry of a routing label: its claim, or why it is refused."""
    match = _ENTRY.match(entry.strip())
    if not match:
        return None, f"{entry!r} is not [http://|https://]domain[/path]"
    scheme = (match.group("scheme") or "http").lower()
    if scheme not in ("http", "https"):
        return None, f"{entry!r}: the scheme must be http:// or https://, not {scheme}://"
    host = match.group("host").lower()
    if not host:
        return None, f"{entry!r} names no domain"
    if ":" in host:
        return None, f"{entry!r}: a route names no port (the router listens on the cluster's routing port)"
    if "." not in host:
        why = check_domain(host)
        if why:
            return None, f"the prefix {host!r} is not a DNS label: {why.split(': ', 1)[-1]}"
        host = f"{host}.{root}"
    elif host.startswith(".") or host.endswith("."):
        return None, f"{host!r}: a prefix is one DNS label without dots, and a domain neither starts nor ends with one"
    why = check_domain(host)
    if why:
        return None, why
    path = match.group("path") or "/"
    why = check_path(path)
    if why:
        return None, why
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return Claim(host, path, port, scheme == "https"), None


def claims_of(labels: dict[str, str], root: str) -> tuple[list[Claim], list[str]]:
    """The claims of one service's labels, and the refusals (each names its label)."""
    found: list[Claim] = []
    refused: list[str] = []
    for label, value in sorted(labels.items()):
        matched = LABEL.match(label)
        if not matched:
            continue
        port = int(matched.group(1))
        if not 1 <= port <= 65535:
            refused.append(f"label {label}: container port {port} is out of range (1-65535)")
            continue
        entries = [item.strip() for item in str(value).split(";") if item.strip()]
        if not entries:
            refused.append(f"label {label} needs at least one domain")
        for entry in entries:
            claim, why = parse_entry(entry, port, root)
            if why:
                refused.append(f"label {label}: {why}")
            elif claim is not None and claim not in found:
                found.append(claim)
    return found, refused


def sticky(labels: dict[str, str]) -> bool:
    """Whether ``aliyun.routing.session_sticky`` keeps a client on one container."""
    return str(labels.get(STICKY_LABEL, "")).lower() == "true"


def exposed_ports(spec: dict[str, object]) -> set[int]:
    """The container ports a normalized Compose service exposes (``ports`` targets and ``expose``)."""
    found: set[int] = set()
    for port in spec.get("ports") or []:  # type: ignore[union-attr]
        target = port.get("target") if isinstance(port, dict) else None
        if str(target).isdigit():
            found.add(int(str(target)))
    for item in spec.get("expose") or []:  # type: ignore[union-attr]
        text = str(item).split("/")[0]
        if "-" in text:
            low, _sep, high = text.partition("-")
            if low.isdigit() and high.isdigit() and int(high) - int(low) < 1024:
                found.update(range(int(low), int(high) + 1))
        elif text.isdigit():
            found.add(int(text))
    return found


@dataclass(frozen=True, order=True)
class ListenerClaim:
    """A named listener's front port that forwards to one service's container port (``aliyun.lb.port_N``)."""

    front_port: int
    name: str
    protocol: str  # tcp (L4), http, or https (TLS ends at the router, with the account's certificates)
    port: int  # the container port


def listener_of(label: str, value: str) -> tuple[ListenerClaim | None, str | None]:
    """``aliyun.lb.port_<container port>: <tcp|http|https>://<listener name>:<front port>``: the claim, or why not."""
    matched = LB_LABEL.match(label)
    if not matched:
        return None, None
    port = int(matched.group(1))
    if not 1 <= port <= 65535:
        return None, f"label {label}: container port {port} is out of range (1-65535)"
    found = _LB.match(str(value).strip())
    if not found:
        return None, (
            f"label {label} must be tcp://LISTENER:FRONT_PORT (or http/https; a listener name of letters, digits, "
            f"_, . and -), not {value!r}"
        )
    front = int(found.group("port"))
    if not 1 <= front <= 65535:
        return None, f"label {label}: front port {front} is out of range (1-65535)"
    return ListenerClaim(front, found.group("name"), found.group("protocol"), port), None


def listeners_of(labels: dict[str, str]) -> tuple[list[ListenerClaim], list[str]]:
    """The listener claims of one service's labels, and the refusals."""
    found: list[ListenerClaim] = []
    refused: list[str] = []
    for label, value in sorted(labels.items()):
        claim, why = listener_of(label, value)
        if why:
            refused.append(why)
        elif claim is not None:
            if any(other.front_port == claim.front_port for other in found):
                refused.append(f"label {label}: front port {claim.front_port} is given twice")
            else:
                found.append(claim)
    return found, refused


def unexposed(service: dict[str, object]) -> list[str]:
    """Why a normalized service's routes and listeners name a container port it does not expose (``ports`` or
    ``expose``): a router could reach nothing there."""
    labels = {str(k): str(v) for k, v in (service.get("labels") or {}).items()}  # type: ignore[union-attr]
    exposed = exposed_ports(service)
    wanted = set()
    for label in labels:
        for kind, pattern in (("routing", LABEL), ("lb", LB_LABEL)):
            matched = pattern.match(label)
            if matched and 1 <= int(matched.group(1)) <= 65535:
                wanted.add((kind, int(matched.group(1))))
    shown = ", ".join(map(str, sorted(exposed))) or "none"
    return [
        f"label aliyun.{kind}.port_{port}: the service does not expose port {port} (add it to ports or expose; "
        f"it exposes {shown})"
        for kind, port in sorted(wanted)
        if port not in exposed
    ]
