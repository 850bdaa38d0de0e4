"""What the benchmarks share: their own database, queue and Redis database, an ASGI server and a Celery
worker started for the run, and a small HTTP client of the Berth API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.cli import Client  # noqa: E402

NAME = os.environ.get("BERTH_BENCH_NAME", "bench")  # another name lets two benchmarks run side by side
DATA = ROOT / "var" / NAME
ENV = {
    "BERTH_DATA_DIR": str(DATA),
    "DATABASE_URL": f"sqlite:///{DATA / 'bench.sqlite3'}",
    "BERTH_CELERY_QUEUE": f"berth-{NAME}",
    "BERTH_CHANNEL_PREFIX": f"berth-{NAME}",
    "BERTH_INSTANCE": f"berth-{NAME}",
    "REDIS_URL": os.environ.get("BERTH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    "BERTH_STOP_TIMEOUT": "1",
    "BERTH_LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "console.settings",
}
PORT = int(os.environ.get("BERTH_BENCH_PORT", "8765"))
FINAL_LINE = re.compile(r"^\[\s*\d+%\] \w+ (successful|failed|canceled)\b")  # the CLI's line of a release's end


class Api(Client):
    """The benchmark's console, through the same client as ``python -m console.cli``.

    A release is followed over the live websocket (pushed, like the console's pages), not by polling
    the API: polling ten times a second costs the console about 2 s of CPU per 50-container deploy on
    this 2-core machine, which the engine then lacks.
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"http://127.0.0.1:{PORT}", key)
        self.procs: list[subprocess.Popen] = []

    def items(self, path: str) -> list[dict]:
        """The rows of a list endpoint (its first page: ``results`` of a paginated answer)."""
        answer = self.call("GET", path)
        return answer["results"] if isinstance(answer, dict) else answer

    def local_cluster(self) -> int:
        """The id of the cluster "local" (this machine's engine) that setup made."""
        return self.items("/api/v1/clusters")[0]["id"]

    def wait_release(self, release: dict, limit: float = 600) -> dict:
        return self.follow(release, limit=limit)

    def timed_deploy(self, cluster: int, body: dict) -> float:
        """Seconds from the POST until the client is told that the application's release is successful (its
        final live message); then it is deleted. The client's quiet wait after that message (``follow`` listens
        0.3 s more for events of a release that ended before it subscribed) is not the deploy's time."""
        told: list[float] = []

        def line(text: str) -> None:
            if FINAL_LINE.match(text):
                told.append(time.monotonic())

        started = time.monotonic()
        release = self.call("POST", f"/api/v1/clusters/{cluster}/applications", body)
        done = self.follow(release, out=line, limit=600)
        elapsed = (told[0] if told else time.monotonic()) - started
        if done["status"] != "successful":
            raise SystemExit(f"Berth deploy failed: {done['error']}")
        self.wait_release(self.call("DELETE", f"/api/v1/clusters/{cluster}/applications/{body['name']}"))
        return elapsed


def sh(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **ENV}, check=True, capture_output=True, text=True, input=stdin
    ).stdout.strip()


@contextmanager
def berth(*, beat: bool = False, watcher: bool = False) -> Iterator[Api]:
    """A fresh benchmark console (database, tenant, access key), its ASGI server and Celery worker (and, with
    ``beat``, Celery beat: the periodic node checks that join nodes to a cluster network, and the routers' sync;
    with ``watcher``, the watcher process: the engines' events and the log collector). ``api.procs`` names them."""
    import redis

    subprocess.run([str(ROOT / "scripts" / "services.sh")], check=True)
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "bench.sqlite3").unlink(missing_ok=True)
    py = sys.executable
    sh(py, "manage.py", "migrate", "-v0")
    sh(
        py,
        "manage.py",
        "create_tenant",
        "--name",
        "Bench",
        "--alias",
        "bench",
        "--admin",
        "bench",
        "--password-stdin",
        stdin="Bench-pass-123\n",
    )
    key = sh(py, "manage.py", "create_access_key", "--tenant", "bench", "--user", "bench").splitlines()[-1]
    redis.Redis.from_url(ENV["REDIS_URL"]).flushdb()
    log = (DATA / "processes.log").open("w")
    env = {**os.environ, **ENV}
    procs = [
        subprocess.Popen(
            [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(PORT), "console.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        ),
        subprocess.Popen(
            [
                py,
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
                ENV["BERTH_CELERY_QUEUE"],
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        ),
    ]
    if watcher:
        procs.append(subprocess.Popen([py, "manage.py", "watch_docker"], cwd=ROOT, env=env, stdout=log, stderr=log))
    if beat:
        procs.append(
            subprocess.Popen(
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "console",
                    "beat",
                    "--schedule",
                    str(DATA / "beat-schedule"),
                    "-l",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
    api = Api(key)
    api.procs = procs
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                api.call("GET", "/api/v1/clusters")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield api
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
