"""Real processes for integration and e2e tests: Celery worker, Docker events watcher, ASGI server, netns nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("BERTH_TEST_LOG_DIR") or ROOT / "var" / "test-logs")  # own dir per parallel run
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the test database (``TEST.NAME`` of the test settings), for Berth's subprocesses: the SQLite
    file, or on PostgreSQL the database the test runner made on the server of DATABASE_URL."""
    from django.db import connection

    db = settings.DATABASES["default"]
    name = db["TEST"]["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    if connection.vendor != "postgresql":
        raise RuntimeError(f"the test harness runs on SQLite or PostgreSQL, not {db['ENGINE']}")
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{db.get('HOST') or ''}{port}/{quote(name, safe='')}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of Berth subprocesses: test settings and the test database."""
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", DATABASE_URL=test_database_url(), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class Proc:
    """A child process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, argv: list[str], env: dict[str, str]) -> Proc:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    handle = log.open("ab")
    handle.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
    popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


def start_worker(name: str = "worker", queue: str | None = None, **env: str) -> Proc:
    """A real Celery worker (thread pool, so no fork after Celery touched its connections)."""
    queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "console",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "4",
        "--queues",
        queue,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
        "-n",
        f"{name}@%h",
    ]
    proc = start(name, argv, subprocess_env(**env))
    wait_until(lambda: proc.popen.poll() is not None or "ready." in proc.tail(200), 60, 0.2, f"{name} to start")
    if proc.popen.poll() is not None:
        raise RuntimeError(f"{name} exited:\n{proc.tail()}")
    return proc


def start_beat(name: str = "beat", **env: str) -> Proc:
    """Celery beat: the health check every second and the reapers (``env``: settings of its own, e.g. REDIS_URL)."""
    schedule = LOG_DIR / f"{name}-celerybeat-schedule"
    schedule.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "celery", "-A", "console", "beat", "--schedule", str(schedule), "--loglevel", "INFO"]
    proc = start(name, argv, subprocess_env(**env))
    wait_until(lambda: proc.popen.poll() is not None or "beat: Starting" in proc.tail(50), 30, 0.2, "beat to start")
    return proc


def start_watcher() -> Proc:
    proc = start("watcher", [sys.executable, "manage.py", "watch_docker"], subprocess_env())
    wait_until(lambda: proc.popen.poll() is not None or "watching" in proc.tail(50), 30, 0.2, "watcher to start")
    return proc


def start_asgi(port: int, name: str = "asgi", **env: str) -> Proc:
    """The ASGI server (daphne) on 127.0.0.1:``port`` (``env``: settings of its own, e.g. REDIS_URL)."""
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"]
    proc = start(name, argv, subprocess_env(**env))

    def answers() -> bool:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"ASGI server exited:\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return b"200" in s.recv(100)
        except OSError:
            return False

    wait_until(answers, 60, 0.2, "ASGI server to answer")
    return proc


@dataclass
class Stack:
    """The running Berth processes of a test session."""

    url: str
    port: int
    procs: dict[str, Proc] = field(default_factory=dict)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def run_script(*argv: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(ROOT / "scripts" / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


@dataclass
class NetnsNode:
    """A dockerd in its own network namespace, made for the test and removed afterwards."""

    number: int
    endpoint: str
    tls_dir: str = ""

    @property
    def address(self) -> str:
        return f"10.250.{self.number}.2"

    @property
    def socket(self) -> str:
        """The engine's unix socket on this machine (for assertions from the outside, TLS or not)."""
        return f"unix:///run/berth-node-{self.number}/docker.sock"

    def kill_engine(self) -> None:
        run_script("netns-node.sh", "stop", str(self.number))

    def start_engine(self) -> None:
        extra = ["--tls", self.tls_dir] if self.tls_dir else []
        run_script("netns-node.sh", "start", str(self.number), *extra, timeout=120)

    def stop_engine(self) -> None:
        run_script("netns-node.sh", "down", str(self.number))


def netns_node(number: int, tls_dir: str = "") -> NetnsNode:
    """Start node ``number``; with ``tls_dir`` (ca.pem, cert.pem, key.pem) it listens on :2376 with mutual TLS."""
    extra = ["--tls", tls_dir] if tls_dir else []
    return NetnsNode(number, run_script("netns-node.sh", "up", str(number), *extra, timeout=120), tls_dir)


NODE_RANGE = "10.250.0.0/16"


@contextmanager
def forwarding_between_nodes() -> Iterator[None]:
    """Let netns nodes reach each other through this machine: its Docker sets the FORWARD policy to DROP, and the
    cluster network's traffic between nodes (swarm 2377/tcp, 7946, VXLAN 4789/udp) is forwarded here. One ACCEPT
    rule for the nodes' range in DOCKER-USER while the block runs, removed afterwards (only the one added)."""
    marked = ["-m", "comment", "--comment", "berth-tests"]
    rule = ["DOCKER-USER", "-s", NODE_RANGE, "-d", NODE_RANGE, *marked, "-j", "ACCEPT"]
    subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", *rule], check=False, capture_output=True)
