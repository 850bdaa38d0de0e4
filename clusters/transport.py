"""How Berth's connections to engines are made: TLS material in memory only, and tenant endpoints pinned to a
checked address.

* Mutual TLS: an ``ssl.SSLContext`` holds the cluster's CA, and the client certificate and key, loaded from
  memory (an anonymous memory file, or on systems without one a file in a private directory that is removed
  at once). No private key is left on disk, whether the connection succeeds or is refused. Only the node's CA
  is trusted (never the system store or ``REQUESTS_CA_BUNDLE``), and the engine's name is checked.
* Addresses: for an endpoint a tenant gave, every new connection goes to an address ``clusters.netpolicy``
  allows, resolved and checked once and then kept for the adapter's life, so a name that later resolves to
  this machine (DNS rebinding) is never followed.

``clusters.docker_host`` mounts :class:`EngineAdapter` on the clients it builds; nothing else uses this.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import tempfile
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from clusters import netpolicy

log = logging.getLogger(__name__)


def _load_chain(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """Load a certificate and its key into ``context`` without leaving the key in a file.

    OpenSSL reads keys from paths only: the PEM goes into an anonymous memory file (``memfd``) read through
    ``/proc/self/fd``; where that does not exist, into a 0600 file in a 0700 directory removed right after.
    """
    data = (cert_pem.strip() + "\n" + key_pem.strip() + "\n").encode()
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("berth-tls", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="berth-tls-") as folder:  # created 0700
        path = os.path.join(folder, "chain.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)


@functools.lru_cache(maxsize=256)
def ssl_context(ca_pem: str, cert_pem: str, key_pem: str) -> ssl.SSLContext:
    """A client context that trusts only ``ca_pem``, checks the engine's name, and shows the given certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem)
    _load_chain(context, cert_pem, key_pem)
    return context


class AddressPin:
    """The address one client talks to for each host name: resolved and checked (``netpolicy``) at the first
    connection and kept; every later connection re-checks it (the operator's rules or this machine's
    addresses may have changed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chosen: dict[tuple[str, int], str] = {}

    def address(self, host: str, port: int) -> str:
        """The checked address to connect to; raises ``netpolicy.AddressRefused``."""
        with self._lock:
            chosen = self._chosen.get((host, port))
            if chosen is None:
                chosen = self._chosen[(host, port)] = netpolicy.checked_addresses(host, port)[0]
        netpolicy.check(chosen)
        return chosen


class _PinnedConnectionMixin:
    """Connects to the pinned, checked address instead of resolving the name again (the name still serves TLS)."""

    berth_pin: AddressPin | None = None
    _dns_host: str
    port: int

    def _new_conn(self) -> Any:
        pin = type(self).berth_pin
        if pin is None:
            return super()._new_conn()  # type: ignore[misc]
        name = self._dns_host
        try:
            address = pin.address(name.rstrip("."), self.port)
        except netpolicy.AddressRefused as exc:
            log.warning("refused a connection to an engine at %s:%s: %s", name, self.port, exc)
            raise NewConnectionError(self, f"Berth does not connect there: {exc}") from exc  # type: ignore[arg-type]
        self._dns_host = address
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = name


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class EngineAdapter(HTTPAdapter):
    """A requests adapter for one engine: its own TLS context (or none), and optionally a pinned address.

    requests would otherwise add the system's CA bundle and client-certificate file paths per request; this
    adapter ignores ``verify`` and ``cert`` and uses only its context.
    """

    def __init__(self, context: ssl.SSLContext | None, pin: AddressPin | None, **kwargs: Any) -> None:
        self._berth_context = context
        self._berth_pin = pin
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        attrs = {"berth_pin": self._berth_pin}
        plain = type("EngineHTTPConnection", (_PinnedHTTPConnection,), attrs)
        secure = type("EngineHTTPSConnection", (_PinnedHTTPSConnection,), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("EngineHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("EngineHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": secure}),
        }

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, _ignored = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            if self._berth_context is None:
                raise ssl.SSLError("no TLS material for this engine")
            return host_params, {"ssl_context": self._berth_context}
        return host_params, {}

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Nothing: only this adapter's context decides what is trusted and which certificate is shown."""
