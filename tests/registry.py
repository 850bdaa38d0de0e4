"""A small read-only Docker registry (Registry HTTP API V2) on 127.0.0.1, for tests and benchmarks.

No registry can be reached from this machine, so tests that pull images serve them from here:
dockerd treats 127.0.0.0/8 as an insecure registry and pulls over plain HTTP; test nodes in network
namespaces do the same for 10.250.0.0/16 (scripts/netns-node.sh). Images are built in
Python from Debian's busybox-static: one layer with busybox, then optional layers of random bytes
of a given size, so that a pull has several layers and takes long enough to watch. Blobs are sent
in chunks at a bounded rate. A tag can be pointed at a new image while the server runs (a "push").
With ``logins`` it asks for HTTP basic auth (as a private registry does) and keeps every Authorization header
it received, so a test can tell whose credentials were sent.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import platform
import random
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
BUSYBOX = Path("/usr/bin/busybox")
APPLETS = ("sh", "sleep", "httpd", "wget", "cat", "echo", "ls", "env", "true", "kill")
_PATH = re.compile(r"^/v2/(?P<name>[a-z0-9._/-]+)/(?P<kind>manifests|blobs)/(?P<ref>[A-Za-z0-9._:-]+)$")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(members: list[tuple[str, bytes | str]]) -> bytes:
    """A tar of ``(path, bytes)`` files and ``(path, "->target")`` symlinks, with fixed times."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in members:
            info = tarfile.TarInfo(path)
            info.mtime = 0
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755
                tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


@dataclass
class Image:
    """One image as the registry serves it: manifest, config and gzipped layers, all by digest."""

    manifest: bytes
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return _digest(self.manifest)


def build_image(extra_layers: tuple[int, ...] = (), *, marker: str = "1", seed: int = 0) -> Image:
    """busybox in one layer, ``marker`` in /etc/berth-marker, then a layer of random bytes per size given."""
    base = [("bin/busybox", BUSYBOX.read_bytes()), *((f"bin/{a}", "->busybox") for a in APPLETS)]
    base += [("etc/berth-marker", marker.encode()), ("www/index.html", f"image {marker}\n".encode())]
    tars = [_tar(base)]
    rng = random.Random(seed)
    for n, size in enumerate(extra_layers):
        tars.append(_tar([(f"data/layer{n}.bin", rng.randbytes(size))]))
    gzipped = [gzip.compress(t, mtime=0) for t in tars]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/", "Labels": {"marker": marker}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in tars]},
            "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "berth test registry"} for _ in tars],
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": _digest(config)},
            "layers": [{"mediaType": LAYER_GZIP, "size": len(g), "digest": _digest(g)} for g in gzipped],
        },
        indent=3,
    ).encode()
    return Image(manifest=manifest, blobs={_digest(config): config, **{_digest(g): g for g in gzipped}})


@dataclass
class Registry:
    """A running registry: ``push`` images under ``name:tag``, pull them as ``{host}/name:tag``."""

    rate: int = 4 * 1024 * 1024  # bytes per second for each blob response
    bind: str = "127.0.0.1"  # or a host-side address of a test node (10.250.N.1), which netns nodes reach
    stalled: threading.Event = field(default_factory=threading.Event)  # set: blobs send their headers, then nothing
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # When set, every request needs HTTP basic auth with one of these (user, password) pairs (else 401).
    logins: set[tuple[str, str]] = field(default_factory=set)
    authorizations: list[str] = field(default_factory=list)  # every Authorization header received
    _server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self._server is not None, "the registry is not running"
        return f"{self.bind}:{self._server.server_address[1]}"

    def ref(self, name: str, tag: str = "1") -> str:
        return f"{self.host}/{name}:{tag}"

    def push(self, name: str, tag: str, image: Image) -> str:
        """Point ``name:tag`` at ``image``; return the image's manifest digest."""
        self.manifests[image.digest] = image.manifest
        self.blobs.update(image.blobs)
        self.tags[(name, tag)] = image.digest
        return image.digest

    def pulls_of(self, kind: str = "manifests") -> int:
        return sum(1 for method, path in self.requests if method == "GET" and f"/{kind}/" in path)

    def start(self) -> Registry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def _send(self, status: int, headers: dict[str, str], data: bytes, body: bool, paced: bool = False) -> None:
                self.send_response(status)
                for key, value in {"Docker-Distribution-API-Version": "registry/2.0", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not body:
                    return
                chunk = max(1024, registry.rate // 20)
                for start in range(0, len(data), chunk):
                    self.wfile.write(data[start : start + chunk])
                    if paced:
                        time.sleep(chunk / registry.rate)

            def _unknown(self, code: str, body: bool) -> None:
                data = json.dumps({"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}).encode()
                self._send(404, {"Content-Type": "application/json"}, data, body)

            def _login(self) -> tuple[str, str] | None:
                header = self.headers.get("Authorization") or ""
                if header:
                    registry.authorizations.append(header)
                if not header.startswith("Basic "):
                    return None
                try:
                    user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return None
                return user, password

            def _answer(self, body: bool) -> None:
                registry.requests.append((self.command, self.path))
                login = self._login()
                if registry.logins and login not in registry.logins:
                    data = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
                    headers = {"Content-Type": "application/json", "WWW-Authenticate": 'Basic realm="berth-test"'}
                    self._send(401, headers, data.encode(), body)
                    return
                if self.path.rstrip("/") == "/v2":
                    self._send(200, {"Content-Type": "application/json"}, b"{}", body)
                    return
                match = _PATH.match(self.path)
                if match is None:
                    self._unknown("NAME_UNKNOWN", body)
                    return
                name, kind, ref = match["name"], match["kind"], match["ref"]
                if kind == "manifests":
                    digest = ref if ref.startswith("sha256:") else registry.tags.get((name, ref), "")
                    manifest = registry.manifests.get(digest)
                    if manifest is None:
                        self._unknown("MANIFEST_UNKNOWN", body)
                        return
                    headers = {"Content-Type": MANIFEST_V2, "Docker-Content-Digest": digest}
                    self._send(200, headers, manifest, body)
                    return
                blob = registry.blobs.get(ref)
                if blob is None:
                    self._unknown("BLOB_UNKNOWN", body)
                    return
                headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": ref}
                if registry.stalled.is_set() and body:
                    self.send_response(200)  # the headers of the whole blob, then the body never comes
                    for key, value in {**headers, "Content-Length": str(len(blob))}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.flush()
                    while registry.stalled.is_set() and registry._server is not None:
                        time.sleep(0.1)
                    self.close_connection = True
                    return
                self._send(200, headers, blob, body, paced=True)

        self._server = ThreadingHTTPServer((self.bind, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="test-registry", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
