"""The router's HAProxy configuration, built from plain data (no ORM, no Docker): a pure function, property-tested.

One router runs on each node of a cluster whose routing service is on. Its configuration holds:

* ``frontend routes``: the routing port (default 9080) on the node's publish address (and 80/443 when set);
  each request goes by its Host header (port dropped, lower case) and the longest path prefix to the backend of
  that route; nothing matches: 404 from the router itself;
* one backend per route (domain and path): the containers of every service that claims it, over the cluster
  network, each with its service's weight (0 takes it out of the traffic), checked from the router (an HTTP GET of
  the service's probe path, else a TCP connect); sticky sessions by a cookie per container (``cookie_of``);
* one frontend and backend per listener (TCP or HTTP on its own front port).

The router is reconfigured without dropping requests (``routing.routers``): servers change through the Runtime
API, and structural changes by a seamless reload of the master process (listening sockets handed over).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

ADMIN_SOCKET = "/run/berth/admin.sock"
STATE_FILE = "/run/berth/servers.state"
CERTS_DIR = "/etc/berth/certs"
CONFIG_PATH = "/etc/berth/haproxy.cfg"
COOKIE = "BERTH_ROUTE"
CHECK_INTER_MS = 2000
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_SAFE = re.compile(r"^[A-Za-z0-9._~%!$&'()*+,=:@/-]*$")


@dataclass(frozen=True, order=True)
class Server:
    """One container behind a backend."""

    name: str  # the container's name
    address: str  # its address on the cluster network
    port: int
    weight: int = 100  # 0-100: its service's weight


@dataclass(frozen=True)
class Backend:
    """The containers that answer for one route (or one listener)."""

    name: str
    servers: tuple[Server, ...] = ()
    sticky: bool = False
    check_path: str | None = None  # an HTTP check of this path; None: a TCP connect
    mode: str = "http"  # or "tcp" (a TCP listener's)
    title: str = ""  # what it serves, as a comment
    logged: bool = False  # each request it answers is logged (LOG_FORMAT): a canary's versions are compared by it


@dataclass(frozen=True)
class Route:
    """A domain and path prefix, and the backend that answers for it."""

    domain: str
    path: str
    backend: str
    https: bool = False  # claimed with https:// (served by the TLS bind too; an http route is not)
    redirect: bool = False  # plain http requests for it are sent to https (a certificate names it)


@dataclass(frozen=True)
class Listener:
    """A named front port of the cluster (Alibaba's SLB listener), forwarded to one backend."""

    name: str
    port: int
    mode: str  # tcp or http
    backend: str
    tls: bool = False  # https: TLS ends here, with the router's certificates (HTTP behind it)


@dataclass(frozen=True)
class Router:
    """Everything one router serves."""

    bind: str  # the node's publish address
    port: int | None = 9080  # None: no routes (a listener's router)
    http_port: int | None = None  # 80, when the cluster asks for it
    https_port: int | None = None  # 443, when the cluster asks for it and has certificates
    routes: tuple[Route, ...] = ()
    backends: tuple[Backend, ...] = ()
    listeners: tuple[Listener, ...] = ()
    cookie_key: str = "berth"
    certificates: str = ""  # the directory under CERTS_DIR that holds the certificates (none: no TLS bind)


LOG_FORMAT = "%b %s %ST %Ta"
"""A logged request, on the router's standard output: backend, server (the container), status, total milliseconds."""


def backend_name(domain: str, path: str) -> str:
    """A stable name for the backend of one route (the same route gets the same name on every build)."""
    digest = hashlib.sha1(f"{domain}{path}".encode()).hexdigest()[:12]  # noqa: S324 - a name, not a secret
    return f"route_{digest}"


def _check(value: str, what: str, pattern: re.Pattern[str] = _NAME) -> str:
    """A value that goes into the configuration: refused (ValueError) when it could change its meaning."""
    if not pattern.match(value) or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} cannot go into a router's configuration")
    return value


def _bind(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _route_condition(route: Route, only: str = "") -> str:
    """The ACL condition of a route's host and path, each alternative prefixed by ``only`` (``!{ ssl_fc }``: an
    http route is not served over TLS)."""
    host = f"{only}{{ var(txn.host) -m str {_check(route.domain, 'domain')} }}"
    if route.path == "/":
        return host
    path = _check(route.path, "path", _SAFE)
    return f"{host} {{ path -m str {path} }} || {host} {{ path -m beg {path}/ }}"


def _ordered(routes: tuple[Route, ...]) -> list[Route]:
    """Longest path first (the longest prefix that matches wins), then by domain, for a stable text."""
    return sorted(routes, key=lambda r: (-len(r.path), r.domain, r.path))


def cookie_of(server: str, key: str) -> str:
    """The sticky cookie's value for a container: the same on every router of the cluster and across reloads, and
    nothing a client could learn the container's address or name from."""
    return hashlib.sha256(f"{key}:{server}".encode()).hexdigest()[:16]


def _server_line(server: Server, backend: Backend, cookie_key: str) -> str:
    name = _check(server.name, "server name")
    weight = max(0, min(100, int(server.weight)))
    line = f"    server {name} {_bind(_check(server.address, 'address'), int(server.port))} weight {weight}"
    return f"{line} cookie {cookie_of(name, cookie_key)}" if backend.sticky else line


def _backend(backend: Backend, cookie_key: str) -> list[str]:
    lines = [f"backend {_check(backend.name, 'backend name')}"]
    if backend.title:
        lines.append(f"    # {' '.join(backend.title.split())[:200]}")
    lines.append(f"    mode {backend.mode}")
    lines.append("    balance roundrobin")
    if backend.mode == "http":
        lines.append("    option forwardfor")
        if backend.sticky:
            lines.append(f"    cookie {COOKIE} insert indirect nocache")
        if backend.check_path:
            lines.append(f"    option httpchk GET {_check(backend.check_path, 'check path', _SAFE)}")
            lines.append("    http-check expect status 200-399")
        if backend.logged:
            lines.append("    http-request set-log-level info")
    lines.append(f"    default-server check inter {CHECK_INTER_MS} fall 2 rise 2")
    lines.extend(_server_line(server, backend, cookie_key) for server in sorted(backend.servers))
    return lines


def certs_path(version: str) -> str:
    """Where a router's certificates of one version are (a directory HAProxy loads whole)."""
    return f"{CERTS_DIR}/{_check(version, 'certificates version')}/"


def _tls(router: Router) -> str:
    return f" ssl crt {certs_path(router.certificates)} alpn http/1.1"


FORWARDED_PROTO = (
    "    http-request set-header X-Forwarded-Proto https if { ssl_fc }",
    "    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }",
)
"""Whether the client spoke TLS to the router, as the service behind it is told (whatever the client sent)."""


def _routes_frontend(router: Router, bind: str) -> list[str]:
    """The routes' frontend: each request's route is chosen once (``txn.route``: the longest path prefix that a
    route of its host claims), then redirected to https when that route asks for it, then sent to its backend; an
    http route answers no TLS request, and nothing matched is the router's own 404."""
    lines = ["frontend routes", f"    bind {_bind(bind, int(router.port or 0))}"]
    if router.http_port:
        lines.append(f"    bind {_bind(bind, router.http_port)}")
    tls = bool(router.https_port and router.certificates)
    if tls:
        lines.append(f"    bind {_bind(bind, int(router.https_port or 0))}{_tls(router)}")
    lines.append("    http-request set-log-level silent")  # only the backends that ask for it log their requests
    lines.append("    http-request set-var(txn.host) hdr(host),field(1,:),lower")
    lines.extend(FORWARDED_PROTO)
    lines.append("    log global")
    lines.append(f'    log-format "{LOG_FORMAT}"')
    ordered = _ordered(router.routes)
    for route in ordered:
        name = _check(route.backend, "backend name")
        condition = _route_condition(route, "!{ var(txn.route) -m found } ")
        lines.append(f"    http-request set-var(txn.route) str({name}) if {condition}")
    for route in ordered:
        if tls and route.https and route.redirect:  # to the same host without the port (443), path and query
            chosen = f"!{{ ssl_fc }} {{ var(txn.route) -m str {route.backend} }}"
            lines.append(f"    http-request redirect location https://%[var(txn.host)]%[pathq] code 302 if {chosen}")
    for route in ordered:
        only = "!{ ssl_fc } " if tls and not route.https else ""  # an http route answers no TLS request
        lines.append(f"    use_backend {route.backend} if {only}{{ var(txn.route) -m str {route.backend} }}")
    lines.append("    default_backend no_route")
    lines.append("")
    lines.append("backend no_route")
    answer = "No route for this host and path.\\n"
    lines.append(f'    http-request return status 404 content-type text/plain string "{answer}"')
    return lines


def build(router: Router) -> str:
    """The whole configuration text of one router."""
    bind = _check(router.bind, "bind address")
    lines = [
        "# Written by Berth (routing.haproxy); a router rebuilds it from Berth's database when it restarts.",
        "global",
        f"    stats socket {ADMIN_SOCKET} mode 600 level admin expose-fd listeners",
        f"    server-state-file {STATE_FILE}",
        "    maxconn 4096",
        "    hard-stop-after 30s",
        "    log stdout format raw local0",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 3s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout queue 10s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response junk-response",
        "    load-server-state-from-file global",
        "",
    ]
    if router.port is not None:
        lines += _routes_frontend(router, bind)
    for listener in sorted(router.listeners, key=lambda item: item.port):
        lines.append("")
        lines.append(f"frontend listener_{int(listener.port)}")
        lines.append(f"    # {_check(listener.name, 'listener name')}")
        lines.append(f"    mode {listener.mode}")
        tls = _tls(router) if listener.tls and listener.mode == "http" and router.certificates else ""
        lines.append(f"    bind {_bind(bind, int(listener.port))}{tls}")
        if listener.mode == "http":
            lines.extend(FORWARDED_PROTO)
        lines.append(f"    default_backend {_check(listener.backend, 'backend name')}")
    for backend in sorted(router.backends, key=lambda item: item.name):
        lines.append("")
        lines.extend(_backend(backend, router.cookie_key))
    return "\n".join(lines) + "\n"


def structure(text: str) -> str:
    """The configuration without the server lines the Runtime API can change: two configurations with the same
    structure differ only in servers added, removed, moved or reweighed. A sticky backend's servers stay in: their
    cookie cannot be given to a server added at run time (HAProxy 2.6), so a change of them is a reload."""
    kept, sticky = [], False
    for line in text.splitlines():
        if line.startswith("backend "):
            sticky = False
        elif line.startswith(f"    cookie {COOKIE} "):
            sticky = True
        elif line.startswith("    server ") and not sticky:
            continue
        kept.append(line)
    return "\n".join(kept)


def servers_of(text: str) -> dict[tuple[str, str], tuple[str, int, int]]:
    """The servers a configuration text declares: (backend, server) → (address, port, weight)."""
    found: dict[tuple[str, str], tuple[str, int, int]] = {}
    backend = ""
    for line in text.splitlines():
        if line.startswith("backend "):
            backend = line.split()[1]
        elif line.startswith("    server "):
            _s, name, where, _w, weight = line.split()[:5]
            address, _sep, port = where.rpartition(":")
            found[(backend, name)] = (address.strip("[]"), int(port), int(weight))
    return found
