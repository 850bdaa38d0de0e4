"""The part of the node door that reaches into containers Berth runs for itself (the routers): a command run
inside, a file put inside, the networks a container joins, and the addresses containers have on their networks.

Everything goes through the door's client (``docker_host.client``) and fails as ``HostError``.
"""

from __future__ import annotations

import io
import re
import socket
import tarfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from clusters.docker_host import Endpoint, HostError, _call, client, streaming_client


def run(endpoint: Endpoint, container: str, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``argv`` inside the running ``container``; its exit code and output (stdout and stderr)."""
    api = client(endpoint).api
    made = _call(endpoint, api.exec_create, container, argv, environment=env or None, stdout=True, stderr=True)
    output = _call(endpoint, api.exec_start, made["Id"])
    code = _call(endpoint, api.exec_inspect, made["Id"]).get("ExitCode")
    return int(code if code is not None else -1), output.decode(errors="replace")


def put_files(endpoint: Endpoint, container: str, directory: str, files: dict[str, bytes]) -> None:
    """Put ``files`` (name → content, mode 0600) into ``directory`` of the container, which must exist."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o600
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(content))
    if not _call(endpoint, client(endpoint).api.put_archive, container, directory, buffer.getvalue()):
        raise HostError(f"the engine did not take the files for {directory}")


def networks_of(endpoint: Endpoint, container: str) -> set[str]:
    """The networks ``container`` is on."""
    attrs = _call(endpoint, client(endpoint).api.inspect_container, container)
    return set((attrs.get("NetworkSettings") or {}).get("Networks") or {})


def connect(endpoint: Endpoint, container: str, network: str) -> None:
    """Join ``container`` to ``network`` (it is on it already: nothing to do)."""
    try:
        _call(endpoint, client(endpoint).api.connect_container_to_network, container, network)
    except HostError as exc:
        if "already exists" not in str(exc) and "already attached" not in str(exc):
            raise


def disconnect(endpoint: Endpoint, container: str, network: str) -> None:
    """Take ``container`` off ``network``."""
    _call(endpoint, client(endpoint).api.disconnect_container_from_network, container, network, force=True)


NOT_HEALTHY = ("(health: starting)", "(unhealthy)")
"""How the engine's listing says a container's health check has not passed yet, or fails."""


def addresses(endpoint: Endpoint, labels: dict[str, str]) -> dict[str, dict[str, str]]:
    """The running containers that carry every label in ``labels`` and whose health check, when they have one, has
    passed: name → {network: address} (one listing). A container still starting, or unhealthy, is not listed: the
    routers send it nothing until its own check says it is ready."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()], "status": "running"}
    listed: list[dict[str, Any]] = _call(endpoint, client(endpoint).api.containers, filters=filters)
    found = {}
    for item in listed:
        if any(word in (item.get("Status") or "") for word in NOT_HEALTHY):
            continue
        networks = ((item.get("NetworkSettings") or {}).get("Networks")) or {}
        name = (item.get("Names") or ["/"])[0].lstrip("/")
        found[name] = {net: (data or {}).get("IPAddress") or "" for net, data in networks.items()}
    return found


class Shell:
    """A command with a terminal inside a running container (the web terminal): bytes in, bytes out, resizable.
    It holds a client of its own (no read timeout) until ``close``."""

    PID_MARK = re.compile(rb"\x1b\]7777;(\d+)\x07")
    """What the shell prints first (``SHELL`` of observability.terminal): its process id inside the container, so
    that ``close`` can end it (the engine keeps a command it runs alive after its client went)."""

    def __init__(self, endpoint: Endpoint, container: str, argv: list[str], rows: int, cols: int) -> None:
        self.endpoint, self.container = endpoint, container
        self.pid: int | None = None
        self._head = b""
        # The engine's answers within the endpoint's timeout (a node that does not answer fails the open); only the
        # terminal's own socket waits without one.
        self._client = streaming_client(endpoint, timeout=endpoint.timeout)
        try:
            api = self._client.api
            made = _call(
                endpoint,
                api.exec_create,
                container,
                argv,
                stdin=True,
                tty=True,
                environment={"TERM": "xterm-256color"},
            )
            self.exec_id: str = made["Id"]
            # The SDK's SocketIO wraps the real socket and holds the HTTP answer it came with: both are kept for the
            # session's life (the answer, collected, would close the connection under the shell).
            self._raw = _call(endpoint, api.exec_start, self.exec_id, tty=True, socket=True)
            self._socket: Any = getattr(self._raw, "_sock", self._raw)
            self._socket.settimeout(None)
            self.resize(rows, cols)
        except BaseException:
            self._client.close()
            raise

    def read(self) -> bytes:
        """What the command wrote since (blocks); b"" once it ended or the stream closed. The process id the shell
        prints first is taken out."""
        try:
            data = self._socket.recv(65536)
        except OSError:
            return b""
        if self.pid is None and data:
            self._head += data
            found = self.PID_MARK.search(self._head)
            if found is None:
                if len(self._head) < 256:
                    return self.read()  # the mark is on its way
                self.pid, data = 0, self._head  # no mark: a shell of another kind; nothing to end at close
            else:
                self.pid = int(found.group(1))
                data = self._head[: found.start()] + self._head[found.end() :]
            self._head = b""
        return data

    def write(self, data: bytes) -> None:
        try:
            self._socket.sendall(data)
        except OSError as exc:
            raise HostError(f"the terminal is closed: {exc}") from exc

    def resize(self, rows: int, cols: int) -> None:
        _call(self.endpoint, self._client.api.exec_resize, self.exec_id, height=rows, width=cols)

    def exit_code(self) -> int | None:
        try:
            return _call(self.endpoint, self._client.api.exec_inspect, self.exec_id).get("ExitCode")
        except HostError:
            return None

    def close(self) -> None:
        """End the session: the socket shut both ways (a thread blocked reading it wakes), the shell and what it runs
        hung up inside the container (the engine would keep them), then the client closed."""
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self.pid:
            hang_up = 'kill -HUP -"$1" "$1" 2>/dev/null; sleep 1; kill -KILL "$1" 2>/dev/null; true'
            try:
                run(self.endpoint, self.container, ["sh", "-c", hang_up, "sh", str(self.pid)])
            except HostError:
                pass  # the container stopped meanwhile: so did the shell
        try:
            self._socket.close()
        except OSError:
            pass
        self._client.close()


@dataclass(frozen=True)
class Ran:
    """What a command run with a deadline did: its exit code (None when it had not ended), its output (at most the
    limit asked), how many bytes it wrote, and whether the deadline passed first."""

    exit_code: int | None
    output: bytes
    size: int
    timed_out: bool


def run_for(endpoint: Endpoint, container: str, argv: list[str], timeout: float, limit: int) -> Ran:
    """Run ``argv`` inside the running ``container`` and wait at most ``timeout`` seconds for it to end (its output
    read as it comes, at most ``limit`` bytes kept). A command still running then goes on in the container: the
    engine cannot stop a command it runs that way."""
    stream_client = streaming_client(endpoint)
    api = stream_client.api
    kept: list[bytes] = []
    size = [0]
    done = threading.Event()
    failure: list[BaseException] = []
    try:
        made = _call(endpoint, api.exec_create, container, argv, stdout=True, stderr=True)

        output = _call(endpoint, api.exec_start, made["Id"], stream=True)  # a CancellableStream

        def read() -> None:
            try:
                for chunk in output:
                    room = limit - sum(len(k) for k in kept)
                    if room > 0:
                        kept.append(chunk[:room])
                    size[0] += len(chunk)
            except Exception as exc:  # noqa: BLE001 - the client closed at the deadline, or the engine went away
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=read, name="exec-output", daemon=True).start()
        if not done.wait(timeout):
            output.close()  # its socket shut: the reading thread ends now, not when the command does
            return Ran(None, b"".join(kept), size[0], True)
        if failure:
            raise HostError(f"the command's output could not be read: {failure[0]}")
        code = _call(endpoint, api.exec_inspect, made["Id"]).get("ExitCode")
        return Ran(int(code) if code is not None else None, b"".join(kept), size[0], False)
    finally:
        stream_client.close()
