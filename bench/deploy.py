#!/usr/bin/env python
"""Deploy N containers of the test image through Berth (HTTP API → Celery → engine) and with the raw
docker SDK (best thread pool: 4 workers on 2 cores) in the same run; print both wall times and the ratio.

    .venv/bin/python bench/deploy.py [--containers 50] [--rounds 1]

Berth's time runs from the POST until the release is successful (every container started and
inspected as running); the raw time from creating the network until every container is running.
Both make the same containers: one bridge network per application, init, restart policy, labels.
It starts its own ASGI server and Celery worker on a database and queue of its own (var/bench/).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var" / "bench"
ENV = {
    "BERTH_DATA_DIR": str(DATA),
    "DATABASE_URL": f"sqlite:///{DATA / 'bench.sqlite3'}",
    "BERTH_CELERY_QUEUE": "berth-bench",
    "BERTH_CHANNEL_PREFIX": "berth-bench",
    "BERTH_INSTANCE": "berth-bench",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
    "BERTH_STOP_TIMEOUT": "1",
    "BERTH_LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "console.settings",
}
IMAGE = "local/busybox:1"
PORT = int(os.environ.get("BERTH_BENCH_PORT", "8765"))


def sh(*argv: str, **kw: object) -> str:
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **ENV}, check=True, capture_output=True, text=True, **kw
    ).stdout.strip()


def api(method: str, path: str, key: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - 127.0.0.1 only
        return json.loads(resp.read() or b"{}")


def wait_release(key: str, release_id: int, limit: float = 300) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        release = api("GET", f"/api/v1/releases/{release_id}", key)
        if release["status"] in {"successful", "failed", "canceled"}:
            return release
        time.sleep(0.1)
    raise SystemExit(f"release {release_id} did not finish in {limit}s")


def berth_round(key: str, cluster: int, n: int, round_no: int) -> float:
    name = f"bench{round_no}"
    body = {"name": name, "image": IMAGE, "command": "sleep 3600", "scale": n}
    started = time.monotonic()
    release = api("POST", f"/api/v1/clusters/{cluster}/applications", key, body)
    done = wait_release(key, release["id"])
    elapsed = time.monotonic() - started
    if done["status"] != "successful":
        raise SystemExit(f"Berth deploy failed: {done['error']}")
    wait_release(key, api("DELETE", f"/api/v1/clusters/{cluster}/applications/{name}", key)["id"])
    return elapsed


def raw_round(n: int, round_no: int) -> float:
    """The same containers as Berth makes (own bridge network, init, restart policy, labels), raw SDK."""
    import docker

    client = docker.from_env()
    network = f"rawbench{round_no}_default"
    names = [f"rawbench{round_no}_rawbench{round_no}_{i}" for i in range(1, n + 1)]

    def up(name: str) -> None:
        c = client.containers.create(
            IMAGE,
            ["sleep", "3600"],
            name=name,
            init=True,
            network=network,
            restart_policy={"Name": "unless-stopped"},
            stop_signal="SIGTERM",
            labels={"bench": "raw", "com.docker.compose.project": f"rawbench{round_no}"},
        )
        c.start()

    started = time.monotonic()
    client.networks.create(network, driver="bridge", labels={"bench": "raw"})
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(up, names))
    running = client.containers.list(filters={"label": "bench=raw", "status": "running"})
    elapsed = time.monotonic() - started
    assert len(running) == n, f"only {len(running)} of {n} running"
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: c.remove(force=True), client.containers.list(all=True, filters={"label": "bench=raw"})))
    client.networks.get(network).remove()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    subprocess.run([str(ROOT / "scripts" / "services.sh")], check=True)
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "bench.sqlite3").unlink(missing_ok=True)
    py = sys.executable
    sh(py, "manage.py", "migrate", "-v0")
    subprocess.run(
        [
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
        ],
        input="Bench-pass-123\n",
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **ENV},
        capture_output=True,
    )
    key = sh(py, "manage.py", "create_access_key", "--tenant", "bench", "--user", "bench").splitlines()[-1]
    import redis

    redis.Redis.from_url(ENV["REDIS_URL"]).flushdb()
    log = (DATA / "processes.log").open("w")
    procs = [
        subprocess.Popen(
            [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(PORT), "console.asgi:application"],
            cwd=ROOT,
            env={**os.environ, **ENV},
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
            env={**os.environ, **ENV},
            stdout=log,
            stderr=log,
        ),
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                clusters = api("GET", "/api/v1/clusters", key)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        cluster = clusters[0]["id"]
        berth_times, raw_times = [], []
        for r in range(1, args.rounds + 1):
            raw_times.append(raw_round(args.containers, r))
            berth_times.append(berth_round(key, cluster, args.containers, r))
            print(f"round {r}: berth {berth_times[-1]:.2f}s  raw {raw_times[-1]:.2f}s", flush=True)
        berth, raw = statistics.median(berth_times), statistics.median(raw_times)
        print(f"containers: {args.containers}  rounds: {args.rounds}")
        print(f"berth (API -> Celery -> engine): {berth:.2f}s")
        print(f"raw docker SDK, 4 threads:       {raw:.2f}s")
        print(f"ratio berth/raw: {berth / raw:.2f}  (target <= 1.2)")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


if __name__ == "__main__":
    main()
