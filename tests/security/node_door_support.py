"""Helpers of the node-door attack tests (this machine, engines, certificates, registries, attach tokens).

Netns nodes of these tests use numbers 60-69 only.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from clusters import pki
from clusters.authority import cluster_ca
from clusters.models import Cluster
from tests import harness


def client_for(user: User) -> APIClient:
    """An API client signed in with a fresh access key of ``user``."""
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def tls_dir_for(cluster: Cluster, address: str, folder: Path) -> str:
    """A server certificate for a node at ``address`` from the cluster's CA, as netns-node.sh wants it."""
    ca = cluster_ca(cluster)
    server = pki.issue_server(ca, common_name=address, ips=[address])
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("ca.pem", ca.cert_pem), ("cert.pem", server.cert_pem), ("key.pem", server.key_pem)):
        (folder / name).write_text(text)
    return str(folder)


def client_material(cluster: Cluster) -> dict[str, str]:
    """What a user uploads to register a TLS node: the CA, a client certificate and its key."""
    ca = cluster_ca(cluster)
    client = pki.issue_client(ca, common_name="uploader")
    return {"ca": ca.cert_pem, "cert": client.cert_pem, "key": client.key_pem}


@contextlib.contextmanager
def netns_node(number: int, tls_dir: str = "") -> Iterator[harness.NetnsNode]:
    """A dockerd in its own network namespace for the duration of the block (numbers 60-69)."""
    assert 60 <= number <= 69, "the node-door tests use netns numbers 60-69"
    node = harness.netns_node(number, tls_dir)
    try:
        yield node
    finally:
        node.stop_engine()


@contextlib.contextmanager
def bare_namespace(number: int) -> Iterator[str]:
    """A network namespace with nothing listening (a host whose engine is not up): connections are refused."""
    assert 60 <= number <= 69
    address = harness.run_script("netns-node.sh", "ns", str(number))
    try:
        yield address
    finally:
        harness.run_script("netns-node.sh", "down", str(number))


class _Relay(socketserver.BaseRequestHandler):
    target = ""

    def handle(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            upstream.connect(self.target)
            pumps = [
                threading.Thread(target=_pump, args=(self.request, upstream), daemon=True),
                threading.Thread(target=_pump, args=(upstream, self.request), daemon=True),
            ]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join(30)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def tcp_relay_to(unix_path: str) -> Iterator[int]:
    """This machine's engine socket reachable over TCP on 127.0.0.1:PORT (what ``-H tcp://`` would do)."""
    handler = type("Relay", (_Relay,), {"target": unix_path})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def listener(reply: bytes | None) -> Iterator[int]:
    """A TCP service on 127.0.0.1: answers every request with ``reply``, or (None) accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = sock.accept()
            except OSError:
                continue
            held.append(conn)
            if reply is not None:
                with contextlib.suppress(OSError):
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(reply)
                    conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        sock.close()
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()
