"""Where tenants' engines may be: the address rules for node endpoints.

A node endpoint a tenant gives (``tcp://HOST:PORT``) must not lead Berth to the machine it runs on, nor to
special networks: its host name is resolved and every address is checked, at registration and again on every
connection Berth opens (``docker_host`` pins a client to the address it checked, so a name that later resolves
elsewhere is not followed). Refused, unless the address lies in a network the operator allows
(``BERTH_NODE_NETWORKS_ALLOW``): this machine's own interface addresses, loopback, the unspecified and
"this network" addresses, link-local, the cloud metadata services (``BERTH_METADATA_ADDRESSES``: AWS/GCP/Azure's
169.254.169.254, Alibaba Cloud's 100.100.100.200, AWS's fd00:ec2::254 by default), multicast, reserved and
broadcast. The metadata addresses are refused even inside an allowed network.

The machine's own engine and engines the ``local`` provider starts here are the operator's to give
(``clusters.hostaccess``), never reached through a tenant-given address.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from django.conf import settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this network": connecting there reaches this machine
OWN_ADDRESSES_TTL = 1.0  # seconds; interfaces come and go (test nodes add veth links)


class AddressRefused(Exception):
    """A node endpoint resolves to an address Berth does not reach for tenants; ``str()`` says which and why
    (for the server log: tenants get one generic message)."""


def _parse_fib_trie(text: str) -> set[IpAddress]:
    """The local IPv4 addresses in ``/proc/net/fib_trie`` (a ``|-- a.b.c.d`` line followed by ``/32 host LOCAL``)."""
    found: set[IpAddress] = set()
    last = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif "/32 host LOCAL" in stripped and last:
            try:
                found.add(ipaddress.ip_address(last))
            except ValueError:
                continue
    return found


def _parse_if_inet6(text: str) -> set[IpAddress]:
    """The IPv6 addresses in ``/proc/net/if_inet6`` (32 hex digits first on each line)."""
    found: set[IpAddress] = set()
    for line in text.splitlines():
        raw = line.split()[0] if line.split() else ""
        if len(raw) == 32:
            try:
                found.add(ipaddress.ip_address(":".join(raw[i : i + 4] for i in range(0, 32, 4))))
            except ValueError:
                continue
    return found


_own_lock = threading.Lock()
_own_cache: tuple[float, frozenset[IpAddress]] = (0.0, frozenset())


def own_addresses() -> frozenset[IpAddress]:
    """Every address of this machine's interfaces (in Berth's network namespace), read at most once a second."""
    global _own_cache
    with _own_lock:
        read_at, cached = _own_cache
        if time.monotonic() - read_at < OWN_ADDRESSES_TTL:
            return cached
        found: set[IpAddress] = set()
        for path, parse in (
            (Path("/proc/net/fib_trie"), _parse_fib_trie),
            (Path("/proc/net/if_inet6"), _parse_if_inet6),
        ):
            try:
                found |= parse(path.read_text())
            except OSError:
                continue
        try:
            for info in socket.getaddrinfo(socket.gethostname(), None):
                found.add(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        except (OSError, ValueError):
            pass
        _own_cache = (time.monotonic(), frozenset(found))
        return _own_cache[1]


def metadata_networks() -> tuple[IpNetwork, ...]:
    """Cloud metadata services, from BERTH_METADATA_ADDRESSES (addresses or networks; invalid entries are a
    configuration error)."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in settings.BERTH_METADATA_ADDRESSES)


def allowed_networks() -> tuple[IpNetwork, ...]:
    """The operator's exceptions, from BERTH_NODE_NETWORKS_ALLOW (invalid entries are a configuration error)."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in settings.BERTH_NODE_NETWORKS_ALLOW)


def _within(address: IpAddress, networks: Iterable[IpNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def refusal(
    address: IpAddress,
    own: Iterable[IpAddress] = (),
    allow: Sequence[IpNetwork] = (),
    metadata: Sequence[IpNetwork] = (),
) -> str | None:
    """Why a node may not be at ``address`` (None when it may): pure, given this machine's addresses, the
    operator's allowed networks and the cloud metadata addresses (refused even inside an allowed network)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if _within(address, metadata):
        return "a cloud metadata address"
    if _within(address, allow):
        return None
    if address in set(own):
        return "an address of this machine"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified or _within(address, (THIS_NETWORK,)):
        return "an unspecified address (this machine)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    return None


def check(address: str) -> None:
    """Raise AddressRefused unless a node may be at ``address`` (an IP address in text)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    reason = refusal(ip, own_addresses(), allowed_networks(), metadata_networks())
    if reason is not None:
        raise AddressRefused(f"{address} is {reason}")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise AddressRefused(f"{host} resolves to no address")
    return addresses


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses of ``host``, after checking every one of them (one refused address refuses the name)."""
    addresses = resolve(host, port)
    for address in addresses:
        check(address)
    return addresses
